"""Commands that run runs, or follow them: agent (here, or as a SLURM job array), run-best,
logs, dashboard, sync."""

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
    end_with,
    progress,
    render,
    slurm_types,
)
from sweepctl.duration import parse_duration
from sweepctl.errors import UsageError


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
    end_with(report.exit_code)


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
    end_with(result.report.exit_code)


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
    end_with(result.exit_code)
