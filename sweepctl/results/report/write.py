"""Writing a report: runs.csv, summary.md, the PNGs and the page, from one gathering of data.

matplotlib, plotly, numpy and scikit-learn are imported by the functions that use them, only
when a report needs them, never when ``sweepctl`` starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sweepctl.errors import UsageError
from sweepctl.outfile import write_output
from sweepctl.results.report.data import RunSource, collect
from sweepctl.results.report.figures import figures
from sweepctl.results.report.html import write_page
from sweepctl.results.report.markdown import markdown, runs_csv, sections, title
from sweepctl.results.report.png import write_pngs
from sweepctl.results.report.stats import has_module, parameter_importance
from sweepctl.results.report.theme import HISTORY_RUNS, REPORT_EXTRA

if TYPE_CHECKING:
    from sweepctl.records import Sweep


def _require(modules: dict[str, str], what: str, instead: str) -> None:
    missing = [package for module, package in modules.items() if not has_module(module)]
    if missing:
        which = "it is" if len(missing) == 1 else "they are"
        raise UsageError(
            f"{what} need {' and '.join(missing)}, and {which} not installed",
            hint=f"{REPORT_EXTRA}, or {instead}",
        )


def write_report(
    source: RunSource,
    sweeps: Sequence[Sweep],
    out_dir: Path,
    *,
    top: int = 10,
    group_by: Sequence[str] = (),
    plots: bool = True,
    html: bool = False,
) -> list[Path]:
    """Write runs.csv, summary.md, the PNG plots and (with ``html``) report.html to ``out_dir``.

    ``source`` is a backend (anything with ``runs`` and ``history``). Several sweeps make one
    comparison report. Returns the files written, in that order.
    """
    if top < 1:
        raise UsageError("--top must be at least 1")
    if plots:
        _require(
            {"matplotlib": "matplotlib", "sklearn": "scikit-learn"},
            "the plots",
            "pass --no-plots",
        )
    if html:
        _require(
            {"plotly": "plotly", "sklearn": "scikit-learn"},
            "the HTML page",
            "leave out --html",
        )
    curves = min(top, HISTORY_RUNS) if plots or html else 0
    data = collect(source, sweeps, group_by=group_by, curves=curves)
    out_dir = Path(out_dir)
    written = []
    path = out_dir / "runs.csv"
    write_output(path, runs_csv(data))
    written.append(path)
    importance = parameter_importance(data)
    content = sections(data, top=top, importance=importance)
    described = figures(data, importance) if plots or html else []
    pictures: list[Path] = []
    if plots:
        pictures = write_pngs(described, out_dir)
    path = out_dir / "summary.md"
    write_output(path, markdown(title(data), content, pictures))
    written.append(path)
    written.extend(pictures)
    if html:
        written.append(write_page(title(data), content, described, out_dir / "report.html"))
    return written
