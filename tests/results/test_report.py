"""`write_report`: runs.csv, summary.md, the PNGs and report.html from a store with known runs.

The store is a real SQLite file filled through the Store API the agent uses (claim, record
metrics, finish), so every number in the report can be worked out by hand here.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweepctl.errors import UsageError
from sweepctl.store import Store, open_store

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")
pytest.importorskip("plotly")

from sweepctl.results.report import (
    PLOTS,
    default_out_dir,
    write_report,
)

CHROMIUM = Path("/usr/bin/chromium")
SWEEP = {
    "name": "known",
    "method": "random",
    "program": "train.py",
    "metric": {"name": "val/acc", "goal": "maximize"},
    "parameters": {
        "model": {"values": ["cnn", "mlp", "rnn"]},
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
        "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
        "seed": {"value": 0},
    },
}
# (config, val/acc as logged step by step, final state). A run's metric is the best value it
# logged (W&B's rule), so the history below is not always rising.
RUNS: list[tuple[dict[str, Any], list[float], str]] = [
    (
        {"model": "cnn", "lr": 0.01, "layers": 2, "opt": {"name": "adam"}},
        [0.5, 0.9, 0.88],
        "finished",
    ),
    ({"model": "cnn", "lr": 0.001, "layers": 4, "opt": {"name": "sgd"}}, [0.6, 0.85], "finished"),
    ({"model": "cnn", "lr": 0.0003, "layers": 4, "opt": {"name": "adam"}}, [0.8, 0.7], "finished"),
    ({"model": "mlp", "lr": 0.05, "layers": 1, "opt": {"name": "sgd"}}, [0.75], "finished"),
    ({"model": "mlp", "lr": 0.002, "layers": 8, "opt": {"name": "adam"}}, [0.4, 0.7], "finished"),
    ({"model": "rnn", "lr": 0.0001, "layers": 2, "opt": {"name": "sgd"}}, [0.3, 0.6], "finished"),
    # Failed and crashed runs: not in the statistics (finished runs have values), nor best.
    ({"model": "cnn", "lr": 0.09, "layers": 3, "opt": {"name": "sgd"}}, [0.99], "failed"),
    ({"model": "rnn", "lr": 0.02, "layers": 5, "opt": {"name": "adam"}}, [], "crashed"),
]


def fill(store: Store, config: dict[str, Any], runs=RUNS, name: str = "known") -> str:
    """Create a sweep and record ``runs`` as an agent would; returns the sweep id."""
    sweep = store.create_sweep(config, name=name, project=None, entity=None, source=None)
    agent = store.register_agent(sweep.id, "test-host", 1)
    metric = config.get("metric", {}).get("name")
    for run_config, values, state in runs:
        _, run = store.claim(sweep.id, agent, lambda _sweep, _runs, c=run_config: ("run", c))
        rows = [{metric or "loss": v, "epoch": i, "_step": i} for i, v in enumerate(values)]
        if rows:
            store.record_metrics(
                run.id,
                0,
                rows,
                summary=rows[-1],
                metric=max(values) if metric else None,
                metric_history=values if metric else None,
            )
        store.finish_run(run.id, state, exit_code=0 if state == "finished" else 1)
    return sweep.id


def run_ids(store: Store, sweep_id: str) -> list[str]:
    return [r.id for r in store.runs(sweep_id)]


@pytest.fixture(scope="module")
def known(tmp_path_factory) -> dict[str, Any]:
    """One full report (plots and page) of the known sweep, shared by the checks below."""
    folder = tmp_path_factory.mktemp("report")
    store = open_store(f"sqlite:///{folder / 's.db'}", create=True)
    sweep_id = fill(store, SWEEP)
    out = folder / "out"
    written = write_report(
        store, [store.get_sweep(sweep_id)], out, top=3, group_by=(), plots=True, html=True
    )
    return {
        "store": store,
        "sweep": sweep_id,
        "ids": run_ids(store, sweep_id),
        "out": out,
        "written": written,
        "summary": (out / "summary.md").read_text(),
    }


def section(markdown: str, title: str) -> str:
    """The text of the ``## title`` section."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    assert match, f"no section {title!r} in:\n{markdown}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``text``."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def colours(pixels) -> int:
    """How many distinct colours an RGB image array has."""
    import numpy as np

    packed = pixels.astype(np.uint32)
    return len(np.unique((packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2]))


def test_the_report_writes_every_file(known) -> None:
    out: Path = known["out"]
    names = ["runs.csv", "summary.md", *PLOTS, "report.html"]
    assert [p.name for p in known["written"]] == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_runs_csv_has_every_run_with_config_summary_state_and_duration(known) -> None:
    with (known["out"] / "runs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["run_id"] for r in rows] == known["ids"]
    assert [r["state"] for r in rows] == [state for _, _, state in RUNS]
    assert [r["config.opt.name"] for r in rows] == [c["opt"]["name"] for c, _, _ in RUNS]
    assert rows[0]["summary.val/acc"] == "0.88"  # the last value logged
    assert rows[0]["metric"] == "0.9"  # the best value logged
    assert rows[-1]["metric"] == ""
    assert all(float(r["duration"]) >= 0 for r in rows)
    assert {r["sweep_id"] for r in rows} == {known["sweep"]}


def test_summary_names_the_best_finished_run_and_its_config(known) -> None:
    best = section(known["summary"], "Best run")
    # The failed run logged 0.99, but a finished run is best when there is one (as `best`).
    assert best.splitlines()[1] == (
        f"Run {known['ids'][0]} (run #1): val/acc = 0.9, finished in "
        + best.split("finished in ")[1].splitlines()[0]
    )
    assert table_rows(best) == [
        ["model", "cnn"],
        ["lr", "0.01"],
        ["layers", "2"],
        ["opt.name", "adam"],
    ]
    assert known["ids"][6] not in best


def test_summary_overview_top_runs_and_states(known) -> None:
    summary = known["summary"]
    assert summary.startswith(f"# Sweep report: known ({known['sweep']})\n")
    overview = dict(table_rows(section(summary, "Overview")))
    assert overview["Metric"] == "val/acc (maximize)"
    assert overview["Runs"] == "8 (6 finished, 1 failed, 1 crashed)"
    ids = known["ids"]
    top = table_rows(section(summary, "Top 3 runs by val/acc"))
    assert [(r[1], r[2]) for r in top] == [(ids[0], "0.9"), (ids[1], "0.85"), (ids[2], "0.8")]
    assert top[0][5:] == ["2", "0.01", "cnn", "adam"]  # layers, lr, model, opt.name
    states = table_rows(section(summary, "Runs by state"))
    assert states == [["finished", "6"], ["failed", "1"], ["crashed", "1"]]


def test_summary_group_statistics_by_each_categorical_parameter(known) -> None:
    ids = known["ids"]
    # By hand, over the six finished runs: cnn 0.9, 0.85, 0.8 -> mean 0.85, sample std 0.05;
    # mlp 0.75, 0.7 -> 0.725 ± 0.035355; rnn 0.6 alone (no std). Best mean first.
    by_model = section(known["summary"], "val/acc by model")
    assert table_rows(by_model) == [
        ["cnn", "0.85 ± 0.05", "3", "0.9", ids[0]],
        ["mlp", "0.725 ± 0.035", "2", "0.75", ids[3]],
        ["rnn", "0.6", "1", "0.6", ids[5]],
    ]
    assert (
        "Over the 6 finished or early-stopped runs that logged val/acc (left out of the "
        "ranking: 1 failed (ended early: partial values); 1 without a value)" in by_model
    )
    # adam: 0.9, 0.8, 0.7 -> 0.8 ± 0.1; sgd: 0.85, 0.75, 0.6 -> 0.7333 ± 0.1258.
    assert table_rows(section(known["summary"], "val/acc by opt.name")) == [
        ["adam", "0.8 ± 0.1", "3", "0.9", ids[0]],
        ["sgd", "0.7333 ± 0.13", "3", "0.85", ids[1]],
    ]


def test_summary_parameter_statistics(known) -> None:
    text = section(known["summary"], "Parameters")
    numeric = table_rows(text[text.index("| Parameter | Distribution") :])
    # Among all eight runs: layers 2, 4, 4, 1, 8, 2, 3, 5.
    assert numeric[0] == ["layers", "int_uniform", "1", "8", "3.625", "8"]
    assert numeric[1][:4] == ["lr", "log_uniform_values", "0.0001", "0.09"]
    assert table_rows(text[text.index("| Parameter | Runs per value") :]) == [
        ["model", "cnn: 4, mlp: 2, rnn: 2"],
        ["opt.name", "adam: 4, sgd: 4"],
    ]


def test_summary_parameter_importance_lists_each_feature(known) -> None:
    rows = table_rows(section(known["summary"], "Parameter importance for val/acc"))
    names = {r[0] for r in rows}
    # Numbers stay numbers, three-valued categoricals are one-hot, two-valued ones one column.
    assert names == {"layers", "lr", "model=cnn", "model=mlp", "model=rnn", "opt.name=adam"}
    assert abs(sum(float(r[1]) for r in rows) - 1) < 0.01
    correlations = {r[0]: float(r[2]) for r in rows}
    assert correlations["model=cnn"] > 0 > correlations["model=rnn"]


def test_summary_links_the_plots(known) -> None:
    for name, caption in PLOTS.items():
        assert f"![{caption}]({name})" in known["summary"]


def test_every_png_opens_and_is_not_blank(known) -> None:
    import numpy as np
    from PIL import Image

    for name in PLOTS:
        path = known["out"] / name
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert pixels.shape[0] > 200 and pixels.shape[1] > 400, name
        assert pixels.var() > 0, name
        assert colours(pixels) > 2, name
        assert path.stat().st_size < 200_000, name


def test_the_page_is_self_contained_and_holds_every_plot(known) -> None:
    page = (known["out"] / "report.html").read_text()
    assert "plotly.js v" in page[:2000]  # the library itself, inlined
    # The markup outside the inline scripts loads nothing from elsewhere.
    markup = re.sub(r"<script>.*?</script>", "<script></script>", page, flags=re.S)
    assert markup.count("<script></script>") == 2
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", markup)
    assert not re.search(r"(https?:)?//[a-z]", markup)
    ids = re.findall(r'<div class="plot" id="([^"]+)"', page)
    assert ids == [
        "plot-parallel",
        "plot-importance",
        "plot-metric-vs-layers",
        "plot-metric-vs-lr",
        "plot-metric-vs-model",
        "plot-metric-vs-opt-name",
        "plot-best-so-far",
        "plot-history",
        "plot-states",
    ]
    assert f"<td>{known['ids'][0]}</td>" in page  # the tables are there too
    assert "<h2>val/acc by model</h2>" in page


def test_group_by_a_numeric_parameter(known, tmp_path: Path) -> None:
    store, sweep = known["store"], store_sweep(known)
    write_report(store, [sweep], tmp_path, top=3, group_by=["layers"], plots=False, html=False)
    summary = (tmp_path / "summary.md").read_text()
    assert "## val/acc by model" not in summary  # --group-by replaces the default groups
    # layers 2: 0.9, 0.6; 4: 0.85, 0.8; 1: 0.75; 8: 0.7 (3 and 5 are not finished runs).
    rows = table_rows(section(summary, "val/acc by layers"))
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("4", "0.825 ± 0.035", "2"),
        ("1", "0.75", "1"),  # a tie of means keeps the values' order
        ("2", "0.75 ± 0.21", "2"),
        ("8", "0.7", "1"),
        ("3", "-", "0"),
        ("5", "-", "0"),
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv", "summary.md"]


def store_sweep(known):
    return known["store"].get_sweep(known["sweep"])


def test_group_by_an_unknown_parameter_says_what_there_is(known, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        write_report(
            known["store"],
            [store_sweep(known)],
            tmp_path,
            top=3,
            group_by=["modle"],
            plots=False,
            html=False,
        )
    assert "modle" in caught.value.message
    assert caught.value.hint == "did you mean 'model'?"


def test_several_sweeps_make_one_comparison(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", create=True)
    first = fill(store, SWEEP, RUNS[:3], name="baseline")
    second = fill(
        store, SWEEP, [(c, [v + 0.01 for v in h], s) for c, h, s in RUNS[3:6]], name="tuned"
    )
    sweeps = [store.get_sweep(first), store.get_sweep(second)]
    assert default_out_dir(sweeps) == Path("reports") / f"compare-{first}-{second}"
    out = tmp_path / "out"
    write_report(store, sweeps, out, top=5, group_by=(), plots=False, html=False)
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Sweep comparison: baseline, tuned\n")
    # baseline: 0.9, 0.85, 0.8 -> 0.85 ± 0.05; tuned: 0.76, 0.71, 0.61 -> 0.6933 ± 0.076.
    rows = table_rows(section(summary, "val/acc by sweep"))
    assert [r[:4] for r in rows] == [
        ["baseline", "0.85 ± 0.05", "3", "0.9"],
        ["tuned", "0.6933 ± 0.076", "3", "0.76"],
    ]
    top = table_rows(section(summary, "Top 5 runs by val/acc"))
    assert [r[2] for r in top] == ["baseline", "baseline", "baseline", "tuned", "tuned"]
    states = table_rows(section(summary, "Runs by state"))
    assert states == [["finished", "3", "3", "6"]]
    with (out / "runs.csv").open() as fh:
        tags = [r["sweep"] for r in csv.DictReader(fh)]
    assert tags == ["baseline"] * 3 + ["tuned"] * 3


def test_sweeps_with_different_metrics_are_not_compared(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", create=True)
    other = {**SWEEP, "metric": {"name": "val/loss", "goal": "minimize"}}
    sweeps = [store.get_sweep(fill(store, SWEEP, [])), store.get_sweep(fill(store, other, []))]
    with pytest.raises(UsageError, match="do not share a metric"):
        write_report(store, sweeps, tmp_path, top=5, group_by=(), plots=False, html=False)


def test_a_sweep_without_metric_still_gets_its_runs_and_states(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", create=True)
    config = {k: v for k, v in SWEEP.items() if k != "metric"}
    sweep = store.get_sweep(fill(store, config, RUNS[:2]))
    written = write_report(
        store, [sweep], tmp_path / "out", top=5, group_by=(), plots=True, html=False
    )
    assert [p.name for p in written] == ["runs.csv", "summary.md", "states.png"]
    summary = written[1].read_text()
    assert "The sweep has no metric, so no run is best." in summary


def test_the_report_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, sweepctl.results.report; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'numpy', 'sklearn', 'matplotlib', 'plotly', 'PIL'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# -- in a real browser ------------------------------------------------------------------------

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No network at all: any request for a script or font elsewhere fails.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
]


@pytest.mark.slow
def test_the_page_renders_in_a_browser_without_network(known, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium)")
    page = known["out"] / "report.html"
    shot = tmp_path / "report-html.png"
    done = subprocess.run(
        [
            str(CHROMIUM),
            *BROWSER_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = done.stdout
    assert "Uncaught" not in done.stderr, done.stderr[-3000:]
    assert "data-errors" not in dom, re.search(r'data-errors="[^"]*"', dom)
    # The page marks itself once Plotly has drawn every figure.
    figures = len(re.findall(r'<div class="plot"', page.read_text()))
    assert f'data-rendered="{figures}"' in dom, done.stderr[-3000:]
    assert dom.count("js-plotly-plot") >= figures
    assert dom.count('class="main-svg"') >= figures
    assert "parcoords" in dom and "boxlayer" in dom and "scatterlayer" in dom

    import numpy as np
    from PIL import Image

    assert shot.exists(), done.stderr[-3000:]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.var() > 0 and colours(pixels) > 50
    saved = Path(__file__).resolve().parents[2] / ".pytest_cache" / "report-html.png"
    saved.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, saved)  # to look at after a run


def test_json_literal_in_page_cannot_close_its_script(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", create=True)
    config = json.loads(json.dumps(SWEEP))
    config["parameters"]["model"]["values"].append("</script><b>x")
    runs = [*RUNS[:3], ({**RUNS[3][0], "model": "</script><b>x"}, [0.7], "finished")]
    sweep = store.get_sweep(fill(store, config, runs))
    written = write_report(
        store, [sweep], tmp_path / "o", top=3, group_by=(), plots=False, html=True
    )
    page = written[-1].read_text()
    assert page.count("</script>") == 2  # the library's and the figures'
    assert "&lt;/script&gt;&lt;b&gt;x" in page


def test_runs_by_state_over_time_counts_each_moment() -> None:
    from sweepctl.records import Run
    from sweepctl.results.report import state_timeline

    def run(start: float, end: float | None, state: str) -> Run:
        return Run(
            id=f"r{start}",
            sweep_id="s",
            number=0,
            state=state,
            config={},
            agent_id=None,
            exit_code=None,
            created_at=start,
            started_at=start,
            ended_at=end,
            heartbeat_at=None,
            summary={},
            metric=None,
            history=[],
            steps=0,
            reason=None,
            stop_requested=None,
        )

    runs = [run(100, 110, "finished"), run(105, 107, "failed"), run(108, None, "running")]
    times, series = state_timeline(runs, now=120)
    assert times == [0, 5, 7, 8, 10, 20]
    assert series == {
        "finished": [0, 0, 0, 0, 1, 1],
        "running": [1, 2, 1, 2, 1, 1],
        "failed": [0, 0, 1, 1, 1, 1],
    }


def test_plots_without_matplotlib_say_how_to_get_it(known, tmp_path, monkeypatch) -> None:
    from sweepctl.results.report import write

    monkeypatch.setattr(write, "has_module", lambda name: name != "matplotlib")
    with pytest.raises(UsageError) as caught:
        write_report(known["store"], [store_sweep(known)], tmp_path, plots=True)
    assert caught.value.message == "the plots need matplotlib, and it is not installed"
    assert caught.value.hint == "pip install 'sweepctl[report]', or pass --no-plots"
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_the_report_command_prints_the_files_it_wrote(known, tmp_path, capsys) -> None:
    from sweepctl.cli import app, main

    if "report" not in {c.name or c.callback.__name__ for c in app.registered_commands}:
        pytest.skip("`sweepctl report` is not wired into cli.py yet")
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "report",
                known["sweep"],
                "--storage",
                known["store"].url,
                "--out",
                str(out),
                "--no-plots",
                "--top",
                "2",
                "--group-by",
                "layers",
            ]
        )
    stdout, stderr = capsys.readouterr()
    assert exit_info.value.code == 0
    assert stdout.splitlines() == [str(out / "runs.csv"), str(out / "summary.md")]
    assert "wrote 2 files" in stderr
    assert "## Top 2 runs by val/acc" in (out / "summary.md").read_text()


# -- the figure descriptions ------------------------------------------------------------------


def test_each_figure_is_described_once_as_plain_data(known) -> None:
    from sweepctl.results.report import collect, figures, parameter_importance

    store = known["store"]
    data = collect(store, [store_sweep(known)], curves=3)
    described = figures(data, parameter_importance(data))
    assert [f.file for f in described] == list(PLOTS)
    for figure in described:
        json.dumps(figure.to_json())  # plain data, as the dashboard will send it
    by_id = {f.id: f for f in described}
    best = known["ids"][0]  # val/acc 0.9
    parallel = by_id["parallel"].parallel
    assert [d.label for d in parallel.dimensions] == [
        "layers",
        "lr (log)",
        "model",
        "opt.name",
        "val/acc",
    ]
    assert parallel.highlight_label == f"best run {best}"
    assert parallel.colour[parallel.highlight] == 0.9
    panels = {p.key: p for p in by_id["metric-vs"].panels}
    assert list(panels) == ["layers", "lr", "model", "opt-name"]
    assert panels["lr"].x.log and not panels["layers"].x.log
    assert panels["model"].x.categories == ("cnn", "mlp", "rnn")
    star = panels["model"].traces[-1]
    assert (star.name, star.x, star.y, star.front) == ("best run", ("cnn",), (0.9,), True)
    history = by_id["history"].panels[0].traces
    assert [t.name.split()[1] for t in history] == known["ids"][:3]
    assert history[0].x == (0.0, 1.0, 2.0) and history[0].y == (0.5, 0.9, 0.88)
    states = {t.name: t.y[-1] for t in by_id["states"].panels[0].traces}
    assert states == {"finished": 6, "running": 0, "failed": 1, "crashed": 1}  # at the end


def test_the_page_figures_are_valid_plotly(known) -> None:
    import plotly.graph_objects as go

    page = (known["out"] / "report.html").read_text()
    literal = re.search(r"const FIGURES = (.*?);\n", page, re.S).group(1)
    plots = json.loads(literal.replace("<\\/", "</"))
    assert len(plots) == 9
    for plot in plots:
        go.Figure(data=plot["data"], layout=plot["layout"])  # raises on any unknown property
