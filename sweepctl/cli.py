"""The command line: parse options, call :mod:`sweepctl.api`, render. No behaviour lives here."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from sweepctl import __version__
from sweepctl.domain import REQUEUE_DEFAULT
from sweepctl.duration import parse_duration
from sweepctl.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNEXPECTED,
    InvalidSweepError,
    SweepctlError,
    UsageError,
    crash_log,
)
from sweepctl.lazy import lazy_import

api = lazy_import("sweepctl.api")  # loaded on first use: `--help` prints before it
render = lazy_import("sweepctl.render")
progress = lazy_import("sweepctl.progress")
slurm_types = lazy_import("sweepctl.agent.slurm")

app = typer.Typer(
    name="sweepctl",
    no_args_is_help=True,
    add_completion=False,
    suggest_commands=False,  # click itself says "Did you mean ...?"; typer would say it again
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: quick, and clean in a pipe or a narrow terminal
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
    """Check sweep files against W&B's rules. Every problem is reported with file:line."""
    result = api.validate(files, strict=strict)
    if json_out:
        render.as_json(result.to_json())
    else:
        render.validation(result)
    _exit(result.exit_code)


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
FilesOpt = Annotated[
    Path | None,
    typer.Option("--files", help="Folder for run files (logs, metrics); shared by every agent."),
]
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
def agent(
    sweep: SweepArg,
    count: Annotated[
        int | None,
        typer.Option(
            "--count", "-n", help="Stop after this many runs (in total; per task with --slurm)."
        ),
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
    files: FilesOpt = None,
    storage: StorageOpt = None,
    slurm: Annotated[
        bool, typer.Option("--slurm", help="Submit agents as a SLURM job array instead.")
    ] = False,
    array: Annotated[
        int | None, typer.Option("--array", help="With --slurm: tasks in the array (default 1).")
    ] = None,
    gpus_per_task: Annotated[
        int | None,
        typer.Option("--gpus-per-task", help="With --slurm: GPUs per task, one run on each."),
    ] = None,
    partition: Annotated[
        str | None, typer.Option("--partition", help="With --slurm: the partition.")
    ] = None,
    time_limit: Annotated[
        str | None, typer.Option("--time", help="With --slurm: each task's time limit (4:00:00).")
    ] = None,
    mem: Annotated[
        str | None, typer.Option("--mem", help="With --slurm: memory per task (16G).")
    ] = None,
    cpus_per_task: Annotated[
        int | None, typer.Option("--cpus-per-task", help="With --slurm: CPUs per task.")
    ] = None,
    slurm_opt: Annotated[
        list[str] | None,
        typer.Option(
            "--slurm-opt", help="With --slurm: any sbatch option, KEY=VALUE (repeatable)."
        ),
    ] = None,
    run_time: Annotated[
        str | None,
        typer.Option(
            "--run-time",
            help="With --slurm: a run's expected length (45m); a task claims no run it "
            "cannot finish before its time limit.",
        ),
    ] = None,
    slurm_allow_sqlite: Annotated[
        bool,
        typer.Option(
            "--slurm-allow-sqlite",
            help="With --slurm: accept an SQLite store (every task on this one node).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="With --slurm: print the batch script, submit nothing."),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="With --slurm: print the submission as JSON.")
    ] = False,
) -> None:
    """Run a sweep's runs. Until --count runs have run, or the sweep is finished."""
    seconds = parse_duration(timeout, what="--timeout") if timeout is not None else None
    idle = parse_duration(idle_exit, what="--idle-exit") if idle_exit is not None else None
    slurm_only = {
        "--array": array,
        "--gpus-per-task": gpus_per_task,
        "--partition": partition,
        "--time": time_limit,
        "--mem": mem,
        "--cpus-per-task": cpus_per_task,
        "--slurm-opt": slurm_opt,
        "--run-time": run_time,
        "--slurm-allow-sqlite": slurm_allow_sqlite or None,
        "--dry-run": dry_run or None,
        "--json": json_out or None,
    }
    if not slurm and any(v is not None for v in slurm_only.values()):
        given = next(k for k, v in slurm_only.items() if v is not None)
        raise UsageError(f"{given} goes with --slurm", hint="sweepctl agent ID --slurm ...")
    if slurm:
        submitted = api.agent_slurm(
            sweep,
            storage=storage,
            dry_run=dry_run,
            request=slurm_types.SlurmRequest(
                tasks=1 if array is None else array,
                gpus_per_task=gpus_per_task,
                partition=partition,
                time=time_limit,
                mem=mem,
                cpus_per_task=cpus_per_task,
                options=tuple(slurm_opt or ()),
                allow_sqlite=slurm_allow_sqlite,
            ),
            task=slurm_types.TaskAgent(
                count=count,
                workers=workers,
                timeout=seconds,
                gpus=gpus,
                gpus_per_run=gpus_per_run,
                idle_exit=idle,
                run_time=parse_duration(run_time, what="--run-time") if run_time else None,
            ),
        )
        if json_out:
            render.as_json(submitted.to_json())
        else:
            render.slurm_submitted(submitted)
        return
    # On a terminal a live view replaces the children's output (it is in each run's log
    # file); in a pipe or a file, plain lines and the children's output.
    live = sys.stderr.isatty() and not show_output
    report = api.agent(
        sweep,
        storage=storage,
        count=count,
        workers=workers,
        timeout=seconds,
        gpus=gpus,
        gpus_per_run=gpus_per_run,
        idle_exit=idle,
        echo_for=progress.write_echo,
        say=render.say,
        observe=progress.live_view if live else progress.log_lines,
        files=files,
    )
    render.agent_summary(report, show_tails=report.workers > 1 and not live)
    _exit(report.exit_code)


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


@app.command(name="ls")
def list_sweeps(storage: StorageOpt = None, json_out: JsonOpt = False) -> None:
    """The sweeps in the store. With their state and run counts."""
    found = [s.to_json() for s in api.list_sweeps(storage=storage)]
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
def stop(
    sweep: SweepArg,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Also kill the runs that are running.")
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Start no new runs. Running runs finish (with --cancel, they are killed)."""
    _control(sweep, "cancel" if cancel else "stop", storage)


@app.command()
def pause(sweep: SweepArg, storage: StorageOpt = None) -> None:
    """Start no new runs until `resume`. Agents wait."""
    _control(sweep, "pause", storage)


@app.command()
def resume(sweep: SweepArg, storage: StorageOpt = None) -> None:
    """Let a sweep start runs again. After `pause`, `stop` or `stop --cancel`."""
    _control(sweep, "resume", storage)


@app.command()
def logs(
    run: Annotated[str, typer.Argument(help="A run id (or a unique prefix).")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")
    ] = False,
    storage: StorageOpt = None,
) -> None:
    """Print a run's output. With --follow, as it comes, until the run ends."""
    found = api.run_log(run, storage=storage)
    if not found.here and not (follow and found.run.state == "running"):
        where = f"its agent ran on {found.host}; " if found.host else ""
        raise UsageError(
            f"run {found.run.id} has no log at {found.path} on this machine",
            hint=where + "give every agent one folder: SWEEPCTL_FILES or `create --files DIR`",
        )
    out = sys.stdout.buffer
    for chunk in api.follow_log(found, storage=storage) if follow else [found.path.read_bytes()]:
        out.write(chunk)
        out.flush()


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
    render.line(api.delete(sweep, storage=storage).message)


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
        _exit(report.exit_code)


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


@app.command(name="run-best")
def run_best(
    sweep: SweepArg,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds: 42,1337,2024.")],
    agents: Annotated[
        int, typer.Option("--workers", "-w", "--agents", help="Runs at the same time.")
    ] = 1,
    seed_param: Annotated[
        str, typer.Option("--seed-param", help="The parameter that takes the seed.")
    ] = "seed",
    storage: StorageOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Rerun the best config once per seed. As its own sweep; prints the metric's mean ± std."""
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
        echo_for=progress.write_echo,
        say=render.say,
        observe=lambda found, workers, total: progress.LogLines(found, len(seed_list)),
    )
    if json_out:
        render.as_json(result.to_json())
    else:
        render.seed_runs(result)
    _exit(result.report.exit_code)


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
    """Upload a sweep's runs to W&B. Through `wandb sync` of their offline run directories."""
    result = api.sync(
        sweep,
        project=project,
        entity=entity,
        dirs=dirs or [],
        again=again,
        dry_run=dry_run,
        storage=storage,
        echo=None if json_out else progress.echo_stderr,
    )
    if json_out:
        render.as_json(result.to_json())
    else:
        render.sync_summary(result, dry_run=dry_run)
    _exit(result.exit_code)


@app.command()
def dashboard(
    sweeps: Annotated[
        list[str] | None,
        typer.Argument(
            help="W&B sweeps (entity/project/id) to show too, read-only.",
            metavar="[W&B-SWEEP...]",
            show_default=False,
        ),
    ] = None,
    storage: StorageOpt = None,
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to listen on; any but 127.0.0.1/localhost needs a token."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).")] = 8080,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the dashboard in a browser.")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="Require this token on every request (made and printed for another --host).",
            envvar="SWEEPCTL_DASHBOARD_TOKEN",
        ),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Show no stop/pause/resume/cancel controls.")
    ] = False,
) -> None:
    """Serve a live web dashboard. Every sweep in the store; needs sweepctl[dashboard]."""
    api.dashboard(
        sweeps or (),
        storage=storage,
        host=host,
        port=port,
        token=token,
        read_only=read_only,
        open_browser=open_browser,
        ready=render.dashboard_ready,
    )


def _control(sweep: str, action: str, storage: str | None) -> None:
    render.line(api.control(sweep, action, storage=storage).message)


def _exit(code: int) -> None:
    """End with a result's exit code (errors and Ctrl-C are mapped in :func:`main`)."""
    if code != EXIT_OK:
        raise typer.Exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turns every failure into a message and an exit code."""
    command = typer.main.get_command(app)
    try:
        # Without standalone mode, click returns the exit code of `typer.Exit` instead of raising.
        code = command.main(args=argv, prog_name="sweepctl", standalone_mode=False)
    except InvalidSweepError as exc:
        render.invalid_sweep(exc)
        sys.exit(exc.exit_code)
    except SweepctlError as exc:
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
    except Exception as exc:  # the last line of defence: a log file, not a traceback
        render.crash(exc, crash_log())
        sys.exit(EXIT_UNEXPECTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
