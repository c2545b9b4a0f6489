"""Commands that read results: best, runs, export-best, export, refine, report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sweepctl.cli.app import (
    JsonOpt,
    StorageOpt,
    SweepArg,
    api,
    app,
    render,
)


@app.command()
def best(sweep: SweepArg, storage: StorageOpt = None, json_out: JsonOpt = False) -> None:
    """The best run of a sweep and its config."""
    found = api.best(sweep, storage=storage).to_json()
    if json_out:
        render.as_json(found)
    else:
        render.best(found)


@app.command()
def runs(
    sweep: SweepArg,
    storage: StorageOpt = None,
    json_out: JsonOpt = False,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only runs in this state (repeatable).")
    ] = None,
    top: Annotated[
        int | None, typer.Option("--top", help="Only the N best runs by the metric.")
    ] = None,
) -> None:
    """List a sweep's runs. A table ranked best first; --json: in creation order."""
    found = api.runs(sweep, storage=storage, state=state, top=top)
    if json_out:
        render.as_json(found.to_json())
    else:
        render.runs_table(found.sweep, found.runs, found.note, found.savings, where=found.where)


@app.command(name="export-best")
def export_best(
    sweeps: Annotated[
        list[str] | None, typer.Argument(help="Sweep ids; none: every sweep in the store.")
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", "-o", help="Write here (default: stdout).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="json, yaml, env or args (default: from --out)")
    ] = None,
    storage: StorageOpt = None,
) -> None:
    """Write the best config of each sweep. For the final training runs."""
    text = api.export_best(sweeps or [], out=out, fmt=fmt, storage=storage)
    if out is None:
        sys.stdout.write(text)
    else:
        render.info(("wrote ", "green"), str(out))


@app.command(name="export")
def export_runs(
    sweep: SweepArg,
    out: Annotated[str, typer.Option("--out", "-o", help="runs.csv, runs.json or runs.jsonl")],
    storage: StorageOpt = None,
) -> None:
    """Write every run of a sweep to a file. Flattened config.* and summary.* columns."""
    n = api.export_runs(sweep, out=out, storage=storage)
    render.info(("wrote ", "green"), f"{n} run{'s' if n != 1 else ''} to {out}")


@app.command()
def refine(
    sweep: SweepArg,
    out: Annotated[str, typer.Option("--out", "-o", help="The new sweep file to write.")],
    factor: Annotated[
        float, typer.Option("--factor", help="Log ranges: best / f .. best x f.")
    ] = 2.0,
    top: Annotated[int, typer.Option("--top", help="Narrow around the best K runs.")] = 5,
    storage: StorageOpt = None,
) -> None:
    """Write a bayes sweep around the best. Ranges narrowed to the top runs."""
    api.refine(sweep, out=out, factor=factor, top=top, storage=storage)
    render.info(("wrote ", "green"), f"{out}; run it with: sweepctl create {out}")


@app.command()
def report(
    sweeps: Annotated[
        list[str],
        typer.Argument(
            help="Sweep ids (or prefixes, or names); several make one comparison report.",
            metavar="ID...",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder to write (default: reports/ID or reports/compare-IDS)."
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Runs in the table of top runs.")] = 10,
    group_by: Annotated[
        list[str] | None,
        typer.Option(
            "--group-by",
            help="Metric mean, std, count and best per value of this parameter "
            "(repeatable; default: every categorical parameter).",
        ),
    ] = None,
    no_plots: Annotated[
        bool, typer.Option("--no-plots", help="Write only runs.csv and summary.md.")
    ] = False,
    html: Annotated[
        bool, typer.Option("--html", help="Also write report.html, one self-contained page.")
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Write a report of a sweep's runs. Files: runs.csv, summary.md, plots; several compared."""
    written = api.report(
        sweeps,
        out=out,
        top=top,
        group_by=group_by or [],
        plots=not no_plots,
        html=html,
        storage=storage,
    )
    for path in written:
        render.line(str(path))
    render.info(("wrote ", "green"), f"{len(written)} files to {written[0].parent}")
