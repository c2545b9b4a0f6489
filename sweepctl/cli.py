"""The command line: parse options, call :mod:`sweepctl.api`, render. No behaviour lives here."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import typer

from sweepctl import __version__
from sweepctl.errors import (
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
    InvalidSweepError,
    SweepctlError,
)

app = typer.Typer(
    name="sweepctl",
    help="Run W&B sweep files anywhere: validate, create, run agents, read results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: quick to print, and clean in a pipe or a narrow terminal.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"sweepctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Run W&B sweep files anywhere: validate, create, run agents, read results."""


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Sweep files (YAML or JSON).", metavar="FILE...", show_default=False),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per file.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    """Check sweep files against W&B's rules; report every problem with file:line."""
    from sweepctl import api, render

    reports = api.validate(files)
    failed = [r for r in reports if not r.valid or (strict and r.warnings)]
    if json_out:
        render.as_json(
            [
                {
                    "file": r.source,
                    "valid": r.valid and not (strict and r.warnings),
                    "errors": [p.to_json() for p in r.errors],
                    "warnings": [p.to_json() for p in r.warnings],
                }
                for r in reports
            ]
        )
    else:
        for report in reports:
            render.problems(report.source, report.problems)
        for report in reports:
            render.line(*_verdict(report, strict))
        if len(reports) > 1:
            render.line(
                f"{len(reports)} files: {len(reports) - len(failed)} valid, {len(failed)} invalid"
            )
    if failed:
        raise typer.Exit(EXIT_USAGE)


def _verdict(report, strict: bool) -> list:
    counts = []
    for what, items in (("error", report.errors), ("warning", report.warnings)):
        if items:
            counts.append(f"{len(items)} {what}{'s' if len(items) != 1 else ''}")
    if report.valid and not (strict and report.warnings):
        spec = report.spec
        detail = (
            f"{spec.method}, {len(spec.params)} parameter{'s' if len(spec.params) != 1 else ''}"
        )
        if counts:
            detail += ", " + ", ".join(counts)
        return [("valid ", "bold green"), report.source, (f"  ({detail})", "dim")]
    return [("invalid ", "bold red"), report.source, (f"  ({', '.join(counts)})", "dim")]


StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Store URL: sqlite:///path.db, postgresql://user@host/db, or a file path. "
        "Default: $SWEEPCTL_STORAGE, else the nearest .sweepctl/sweepctl.db.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]
SweepArg = Annotated[
    str,
    typer.Argument(
        help="Sweep id (or a unique prefix, or its name); entity/project/id for a W&B sweep."
    ),
]


@app.command()
def create(
    file: Annotated[Path, typer.Argument(help="The sweep file (YAML or JSON).")],
    name: Annotated[
        str | None, typer.Option(help="Name for the sweep (default: the file's).")
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project (overrides the file's).")] = None,
    entity: Annotated[str | None, typer.Option(help="Entity (overrides the file's).")] = None,
    storage: StorageOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the sweep id.")] = False,
    json_out: JsonOpt = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Store nothing; show the normalised sweep.")
    ] = False,
    controller: Annotated[
        str,
        typer.Option(
            "--controller",
            help="local (the default: sweepctl's store and search) or wandb (W&B's servers).",
        ),
    ] = "local",
) -> None:
    """Validate a sweep file and store it as a new sweep; prints its id."""
    from sweepctl import api, render

    result = api.create(
        file,
        name=name,
        project=project,
        entity=entity,
        storage=storage,
        dry_run=dry_run,
        controller=controller,
    )
    render.problems(str(file), result.warnings)
    spec = result.spec
    if controller == "wandb":
        _created_on_wandb(result, quiet=quiet, json_out=json_out, dry_run=dry_run)
        return
    if dry_run:
        data = {
            "method": spec.method,
            "parameters": spec.config.get("parameters", {}),
            "config": spec.config,
        }
        if result.grid_points is not None:
            data["grid_points"] = result.grid_points
            data["first_configs"] = result.preview
        if json_out:
            render.as_json(data)
        else:
            render.dry_run(data)
        return
    sweep = result.sweep
    from sweepctl.store.base import redact

    command = f"sweepctl agent {sweep.id}" + (f" --storage {redact(storage)}" if storage else "")
    if quiet:
        print(sweep.id)
    elif json_out:
        render.as_json(
            {
                "sweep_id": sweep.id,
                "name": sweep.name,
                "method": sweep.method,
                "grid_points": result.grid_points,
                "storage": result.storage,
                "agent_command": command,
            }
        )
    else:
        size = f", {result.grid_points} grid points" if result.grid_points is not None else ""
        render.line(("created sweep ", "green"), (sweep.id, "bold"), f"  ({sweep.method}{size})")
        render.line("run it with:  ", (command, "bold"))


def _created_on_wandb(result, *, quiet: bool, json_out: bool, dry_run: bool) -> None:
    from sweepctl import render

    if dry_run:
        if json_out:
            render.as_json({"controller": "wandb", "config": result.config})
        else:
            import yaml

            render.line("W&B would get this config:")
            sys.stdout.write(yaml.safe_dump(result.config, sort_keys=False))
        return
    created = result.wandb
    for warning in created.warnings:  # W&B's own "Malformed sweep config detected" notes
        render.warning(f"W&B: {warning}")
    path = str(created.path)
    if quiet:
        print(path)
    elif json_out:
        render.as_json(
            {
                "controller": "wandb",
                "sweep_path": path,
                "sweep_id": created.path.sweep_id,
                "entity": created.path.entity,
                "project": created.path.project,
                "url": created.url,
                "warnings": created.warnings,
                "agent_command": f"sweepctl agent {path}",
            }
        )
    else:
        render.line(("created W&B sweep ", "green"), (path, "bold"), f"  ({result.spec.method})")
        if created.url:
            render.line("view it at:   ", created.url)
        render.line("run it with:  ", (f"sweepctl agent {path}", "bold"))


@app.command()
def agent(
    sweep: SweepArg,
    count: Annotated[
        int | None, typer.Option("--count", "-n", help="Stop after this many runs (in total).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Runs at the same time.")] = 1,
    timeout: Annotated[
        str | None, typer.Option("--timeout", help="End a run after this long (90s, 5m, 2h).")
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option("--gpus", help="GPUs to fan out over: 0,1,2,3 or all (one worker each)."),
    ] = None,
    gpus_per_run: Annotated[
        int | None, typer.Option("--gpus-per-run", help="GPUs per run with --gpus (default 1).")
    ] = None,
    idle_exit: Annotated[
        str | None,
        typer.Option("--idle-exit", help="Exit after waiting this long (paused sweep): 10m."),
    ] = None,
    show_output: Annotated[
        bool,
        typer.Option(
            "--show-output", help="On a terminal, show the runs' output instead of a live view."
        ),
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Run the sweep's runs until --count is reached or the sweep is finished."""
    import signal

    from sweepctl import api, render
    from sweepctl.agent.loop import write_echo
    from sweepctl.duration import parse_duration

    seconds = parse_duration(timeout, what="--timeout") if timeout is not None else None
    idle = parse_duration(idle_exit, what="--idle-exit") if idle_exit is not None else None
    if api.is_wandb(sweep):
        fanout = api.agent(
            sweep,
            count=count,
            workers=workers,
            timeout=seconds,
            gpus=gpus,
            gpus_per_run=gpus_per_run,
            idle_exit=idle,
            echo_for=write_echo,
            say=_say,
        )
        render.wandb_agents_summary(fanout)
        if fanout.interrupted:
            raise typer.Exit(143 if fanout.signal == signal.SIGTERM else EXIT_INTERRUPTED)
        if fanout.failed:
            raise typer.Exit(1)
        return
    # On a terminal a live view replaces the children's output (it is in each run's log
    # file); in a pipe or a file, plain lines and the children's output.
    live = sys.stderr.isatty() and not show_output

    def observe(found_sweep, n_workers):
        from sweepctl.progress import LiveView, LogLines

        total = count or found_sweep.spec.run_cap
        if total is None and found_sweep.method == "grid":
            from sweepctl.search.grid import grid_points

            _, existing = api.runs(found_sweep.id, storage=storage)
            total = max(0, grid_points(found_sweep.spec) - len(existing))
        if live:
            return LiveView(found_sweep, total, n_workers)
        return LogLines(found_sweep, total)

    report = api.agent(
        sweep,
        storage=storage,
        count=count,
        workers=workers,
        timeout=seconds,
        gpus=gpus,
        gpus_per_run=gpus_per_run,
        idle_exit=idle,
        echo_for=None if live else write_echo,
        say=_say,
        observe=observe,
    )
    render.agent_summary(report, show_tails=report.workers > 1 and not live)
    if report.interrupted:
        raise typer.Exit(143 if report.signal == signal.SIGTERM else EXIT_INTERRUPTED)
    if report.failed_policy:
        raise typer.Exit(1)


@app.command()
def best(sweep: SweepArg, storage: StorageOpt = None, json_out: JsonOpt = False) -> None:
    """The best run of a sweep and its config."""
    from sweepctl import api, render

    found = api.best(sweep, storage=storage)
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
    """The runs of a sweep: a table sorted by the metric, or JSON in creation order."""
    from sweepctl import api, render
    from sweepctl.results.export import rank, run_json

    found_sweep, found = api.runs(sweep, storage=storage, state=state)
    if top is not None:
        best = {r.id for r in rank(found_sweep.spec.metric, found)[: max(0, top)]}
        found = [r for r in found if r.id in best]
    if json_out:
        render.as_json([run_json(r) for r in found])
    else:
        render.runs_table(found_sweep, found)


@app.command(name="ls")
def list_sweeps(storage: StorageOpt = None, json_out: JsonOpt = False) -> None:
    """The sweeps in the store, with their state and run counts."""
    from sweepctl import api, render

    found = api.list_sweeps(storage=storage)
    if json_out:
        render.as_json(found)
    else:
        render.sweeps_table(found)


@app.command(name="export-best")
def export_best(
    sweeps: Annotated[
        list[str] | None, typer.Argument(help="Sweep ids; none: every sweep in the store.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: stdout).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, yaml, env or args.")] = "json",
    storage: StorageOpt = None,
) -> None:
    """The best config of each sweep, to use for the final training runs."""
    from sweepctl import api, render

    text = api.export_best(sweeps or [], out=out, fmt=fmt, storage=storage)
    if out is None:
        sys.stdout.write(text)
    else:
        render.info(("wrote ", "green"), str(out))


@app.command(name="export")
def export_runs(
    sweep: SweepArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="runs.csv, runs.json or runs.jsonl")],
    storage: StorageOpt = None,
) -> None:
    """Every run of a sweep, with flattened config.* and summary.* columns."""
    from sweepctl import api, render

    n = api.export_runs(sweep, out=out, storage=storage)
    render.info(("wrote ", "green"), f"{n} run{'s' if n != 1 else ''} to {out}")


@app.command()
def stop(
    sweep: SweepArg,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Also kill the runs that are running.")
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Start no new runs; running runs finish (or, with --cancel, are killed)."""
    _control(sweep, "cancel" if cancel else "stop", storage)


@app.command()
def pause(sweep: SweepArg, storage: StorageOpt = None) -> None:
    """Start no new runs until `resume`; agents wait."""
    _control(sweep, "pause", storage)


@app.command()
def resume(sweep: SweepArg, storage: StorageOpt = None) -> None:
    """Let a paused or stopped sweep start runs again."""
    _control(sweep, "resume", storage)


@app.command()
def refine(
    sweep: SweepArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="The new sweep file to write.")],
    factor: Annotated[
        float, typer.Option("--factor", help="Log ranges: best / f .. best x f.")
    ] = 2.0,
    top: Annotated[int, typer.Option("--top", help="Narrow around the best K runs.")] = 5,
    storage: StorageOpt = None,
) -> None:
    """Write a bayes sweep file narrowed around the best runs of a sweep."""
    from sweepctl import api, render

    api.refine(sweep, out=out, factor=factor, top=top, storage=storage)
    render.info(("wrote ", "green"), f"{out}; run it with: sweepctl create {out}")


@app.command()
def launch(
    files: Annotated[
        list[Path], typer.Argument(help="Sweep files or folders, run in order.", metavar="PATH...")
    ],
    agents: Annotated[int, typer.Option("--agents", help="Workers for each sweep.")] = 1,
    count: Annotated[
        int | None, typer.Option("--count", "-n", help="Runs per sweep (default: until done).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
    storage: StorageOpt = None,
) -> None:
    """Run several sweep files one after another; run it again to resume."""
    import signal

    from sweepctl import api, render
    from sweepctl.agent.loop import write_echo

    if dry_run:
        _, steps = api.launch_plan(files, count=count, storage=storage)
        for step in steps:
            render.line(step.describe())
        return
    done = api.launch(
        files,
        agents=agents,
        count=count,
        storage=storage,
        on_step=lambda step, _: render.info(("launch: ", "bold"), step.describe()),
        echo_for=write_echo,
        say=_say,
    )
    for step, report in done:
        if report is None:
            render.line(f"skipped {step.file}: sweep {step.sweep_id} is done")
            continue
        render.line(f"{step.file}: sweep {step.sweep_id}, {len(report.outcomes)} runs")
        if report.interrupted:
            raise typer.Exit(143 if report.signal == signal.SIGTERM else EXIT_INTERRUPTED)
        if report.failed_policy:
            raise typer.Exit(1)


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
    """Write runs.csv, summary.md and plots of a sweep's runs (or compare several sweeps)."""
    from sweepctl import api, render

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


@app.command(name="run-best")
def run_best(
    sweep: SweepArg,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds: 42,1337,2024.")],
    agents: Annotated[int, typer.Option("--agents", help="Runs at the same time.")] = 1,
    seed_param: Annotated[
        str, typer.Option("--seed-param", help="The parameter that takes the seed.")
    ] = "seed",
    storage: StorageOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run the best config once per seed as its own sweep; print mean ± std of the metric."""
    from sweepctl import api, render
    from sweepctl.agent.loop import write_echo
    from sweepctl.progress import LogLines

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"{seeds!r}: seeds are whole numbers, e.g. 42,1337,2024") from None
    result = api.run_best(
        sweep,
        seeds=seed_list,
        seed_param=seed_param,
        agents=agents,
        storage=storage,
        echo_for=write_echo,
        say=_say,
        observe=lambda found, n: LogLines(found, len(seed_list)),
    )
    report = result.pop("report")
    if json_out:
        render.as_json(result)
    else:
        metric = result["metric"]
        spread = (
            f"{result['mean']:.6g} ± {result['std']:.2g}" if result["mean"] is not None else "-"
        )
        render.line(
            f"{metric['name']} over {len(result['values'])} seeds: ",
            (spread, "bold"),
            f"  (best run {result['source_run']} had {metric['value']:.6g}; "
            f"sweep {result['sweep_id']})",
        )
    if report.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def sync(
    sweep: Annotated[str, typer.Argument(help="The local sweep whose runs to upload.")],
    project: Annotated[
        str | None, typer.Option(help="W&B project (default: the sweep file's).")
    ] = None,
    entity: Annotated[
        str | None, typer.Option(help="W&B entity (default: your default entity).")
    ] = None,
    dirs: Annotated[
        list[Path] | None,
        typer.Option(
            "--dir",
            help="Where the runs' wandb/ folders are (repeatable; default: $WANDB_DIR and .).",
        ),
    ] = None,
    again: Annotated[
        bool, typer.Option("--again", help="Also upload runs that were synced before.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be uploaded; upload nothing.")
    ] = False,
    storage: StorageOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Upload a local sweep's runs to W&B (wandb sync of their offline run directories)."""
    from sweepctl import api, render

    def echo(line: bytes) -> None:
        sys.stderr.buffer.write(line)
        sys.stderr.flush()

    result = api.sync(
        sweep,
        project=project,
        entity=entity,
        dirs=dirs or [],
        again=again,
        dry_run=dry_run,
        storage=storage,
        echo=None if json_out else echo,
    )
    plan = result.plan
    if json_out:
        render.as_json(
            {
                "sweep_id": plan.sweep_id,
                "project": plan.project,
                "entity": plan.entity,
                "dirs": {run_id: str(path) for run_id, path in plan.dirs.items()},
                "synced_before": plan.synced,
                "missing": plan.missing,
                "wandb_sync_exit_code": result.code,
                "on_wandb": result.on_wandb,
                "not_on_wandb": result.not_on_wandb,
            }
        )
    else:
        render.sync_summary(result, dry_run=dry_run)
    nothing_found = not plan.dirs and not plan.synced and bool(plan.missing)
    if result.code or result.not_on_wandb or nothing_found:
        if nothing_found and not json_out:
            render.warning(
                "no run of this sweep has an offline wandb run directory here",
                hint="run sync where the agent ran, or point --dir at it (WANDB_DIR if set)",
            )
        raise typer.Exit(1)


def _say(message: str) -> None:
    """An agent's messages about itself, on stderr beside the runs' output."""
    from sweepctl import render

    render.info(("sweepctl: ", "dim"), message)


def _control(sweep: str, action: str, storage: str | None) -> None:
    from sweepctl import api, render

    _, message = api.control(sweep, action, storage=storage)
    render.line(message)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turns every failure into a message and an exit code."""
    import click

    command = typer.main.get_command(app)
    try:
        # Without standalone mode, click returns the exit code of `typer.Exit` instead of raising.
        code = command.main(args=argv, prog_name="sweepctl", standalone_mode=False)
    except InvalidSweepError as exc:
        from sweepctl import render

        # The same report `validate` gives, then one line saying nothing was stored.
        render.problems(exc.path, exc.problems)
        render.error(SweepctlError(f"{exc.message}; nothing was stored", path=exc.path))
        sys.exit(exc.exit_code)
    except SweepctlError as exc:
        from sweepctl import render

        render.error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `sweepctl runs ID | head`: the reader went away; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception:  # the last line of defence: a log file, not a traceback
        fd, log_path = tempfile.mkstemp(prefix="sweepctl-crash-", suffix=".log")
        with os.fdopen(fd, "w") as log:
            traceback.print_exc(file=log)
        sys.stderr.write(
            f"error: sweepctl failed unexpectedly ({sys.exc_info()[1]!r}).\n"
            f"  The traceback is in {log_path}; please include it in a bug report.\n"
        )
        sys.exit(EXIT_UNEXPECTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
