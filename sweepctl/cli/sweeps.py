"""Commands that make and change sweeps: validate, create, update, delete, ls, stop, pause,
resume, requeue, launch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sweepctl.cli.app import (
    FilesOpt,
    JsonOpt,
    StorageOpt,
    SweepArg,
    api,
    app,
    control,
    end_with,
    progress,
    render,
)
from sweepctl.domain import REQUEUE_DEFAULT
from sweepctl.errors import UsageError


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
    """Check sweep files against W&B's rules. Every problem is reported with file:line."""
    result = api.validate(files, strict=strict)
    if json_out:
        render.as_json(result.to_json())
    else:
        render.validation(result)
    end_with(result.exit_code)


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
    no_check_program: Annotated[
        bool, typer.Option("--no-check-program", help="Store it although `program` is missing.")
    ] = False,
    files: FilesOpt = None,
) -> None:
    """Validate a sweep file and store it. Prints the new sweep's id."""
    result = api.create(
        file,
        name=name,
        project=project,
        entity=entity,
        storage=storage,
        dry_run=dry_run,
        controller=controller,
        check_program=not no_check_program,
        files=files,
    )
    render.problems(str(file), result.warnings)
    for warning in result.server_warnings:  # W&B's own "Malformed sweep config detected"
        render.warning(f"W&B: {warning}")
    if quiet and not result.dry_run:
        print(result.sweep_id)
    elif json_out:
        render.as_json(result.to_json())
    else:
        render.created(result)


@app.command()
def update(
    sweep: SweepArg,
    file: Annotated[Path, typer.Argument(help="The sweep file with the new config.")],
    storage: StorageOpt = None,
    no_check_program: Annotated[
        bool, typer.Option("--no-check-program", help="Update although `program` is missing.")
    ] = False,
) -> None:
    """Change a running sweep's config. W&B's `sweep --update`: method and metric stay."""
    result = api.update(sweep, file, storage=storage, check_program=not no_check_program)
    render.problems(str(file), result.warnings)
    changed = ", ".join(result.changed) or "nothing"
    render.line(f"updated sweep {result.sweep.shown} ({result.sweep.state}): changed {changed}")


@app.command()
def delete(
    sweep: SweepArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
    storage: StorageOpt = None,
) -> None:
    """Delete a sweep. With its runs, their history and their files."""
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"delete sweep {sweep}? Nothing asked in a pipe", hint="add --yes")
        found = api.runs(sweep, storage=storage)
        typer.confirm(f"delete sweep {found.sweep.shown} and its {len(found)} runs?", abort=True)
        sweep = found.sweep.id  # the sweep the answer was about, whatever the name means now
    render.line(api.delete(sweep, storage=storage).message)


@app.command(name="ls")
def list_sweeps(storage: StorageOpt = None, json_out: JsonOpt = False) -> None:
    """The sweeps in the store. With their state and run counts."""
    found = [s.to_json() for s in api.list_sweeps(storage=storage)]
    if json_out:
        render.as_json(found)
    else:
        render.sweeps_table(found)


@app.command()
def stop(
    sweep: SweepArg,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Also kill the runs that are running.")
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Start no new runs. Running runs finish (with --cancel, they are killed)."""
    control(sweep, "cancel" if cancel else "stop", storage)


@app.command()
def pause(sweep: SweepArg, storage: StorageOpt = None) -> None:
    """Start no new runs until `resume`. Agents wait."""
    control(sweep, "pause", storage)


@app.command()
def resume(sweep: SweepArg, storage: StorageOpt = None) -> None:
    """Let a sweep start runs again. After `pause`, `stop` or `stop --cancel`."""
    control(sweep, "resume", storage)


@app.command()
def requeue(
    sweep: SweepArg,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            help="Runs in these states (repeatable or comma-separated).",
            show_default=False,
        ),
    ] = None,
    storage: StorageOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run ended runs' configs again. Killed, failed and crashed ones by default."""
    states = [s.strip() for given in state or [] for s in given.split(",") if s.strip()]
    result = api.requeue(sweep, states=states or REQUEUE_DEFAULT, storage=storage)
    if json_out:
        render.as_json(result.to_json())
        return
    done = ", ".join(f"{n} {s}" for s, n in result.counts.items()) or "none"
    render.line(f"requeued {result.total} runs of sweep {result.sweep.shown} ({done})")
    if result.total:
        render.info(f"run them with `sweepctl agent {result.sweep.id}`")


@app.command()
def launch(
    files: Annotated[
        list[Path], typer.Argument(help="Sweep files or folders, run in order.", metavar="PATH...")
    ],
    agents: Annotated[
        int, typer.Option("--workers", "-w", "--agents", help="Runs at the same time, per sweep.")
    ] = 1,
    count: Annotated[
        int | None, typer.Option("--count", "-n", help="Runs per sweep (default: until done).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
    carry_best: Annotated[
        bool, typer.Option("--carry-best", help="Start each phase from the best config so far.")
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Run sweep files one after another. Run it again to resume."""
    if dry_run:
        _, steps = api.launch_plan(files, count=count, storage=storage, carry_best=carry_best)
        for step in steps:
            render.line(step.describe())
        return
    done = api.launch(
        files,
        agents=agents,
        count=count,
        storage=storage,
        carry_best=carry_best,
        on_step=lambda step, _: render.info(("launch: ", "bold"), step.describe()),
        echo_for=progress.write_echo,
        say=render.say,
    )
    for step, report in done:
        if report is None:
            render.line(f"skipped {step.file}: sweep {step.sweep_id} is done")
            continue
        render.line(f"{step.file}: sweep {step.sweep_id}, {len(report.outcomes)} runs")
        end_with(report.exit_code)
