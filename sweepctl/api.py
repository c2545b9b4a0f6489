"""The library behind every command. The CLI is a thin layer over these functions.

Everything here can be scripted::

    from sweepctl import api
    sweep = api.create("sweeps/quickstart/grid.yaml").sweep
    api.agent(sweep.id, count=4)
    print(api.best(sweep.id))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepctl.errors import InvalidSweepError, Problem, UsageError
from sweepctl.spec import FileReport, SweepSpec, inspect_file

RUN_STATES = (
    "pending",  # W&B sweeps only: handed out, not started yet
    "running",
    "finished",
    "failed",
    "crashed",
    "preempted",
    "stopped",
    "killed",
    "timeout",
)


def validate(files: Iterable[str | Path]) -> list[FileReport]:
    """Check each sweep file; every problem is reported, none raised."""
    return [inspect_file(f) for f in files]


@dataclass
class Created:
    """The result of :func:`create`: the stored sweep (None for a dry run) and what to say."""

    spec: SweepSpec
    warnings: list[Problem]
    sweep: Any = None
    storage: str | None = None
    grid_points: int | None = None
    preview: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None  # what W&B gets, with controller="wandb"
    wandb: Any = None  # controller.wandb.CreatedOnWandb, with controller="wandb"


def _open(storage: str | None, create: bool = False):
    from sweepctl.store import open_store

    return open_store(storage, create=create)


def create(
    file: str | Path,
    *,
    name: str | None = None,
    project: str | None = None,
    entity: str | None = None,
    storage: str | None = None,
    dry_run: bool = False,
    preview: int = 5,
    controller: str = "local",
) -> Created:
    """Validate a sweep file and store it as a new sweep (or, with ``dry_run``, only look).

    ``controller="wandb"`` creates it on W&B's servers instead (the ``sweepctl:`` block
    stripped, with a warning for each option only the local controller honours);
    ``Created.wandb`` then holds its path.
    """
    if controller not in ("local", "wandb"):
        raise UsageError(f"unknown controller {controller!r}", hint="local or wandb")
    report = inspect_file(file)
    if report.spec is None:
        raise InvalidSweepError(report.source, report.problems)
    spec = report.spec
    config = dict(spec.config)
    for key, value in (("name", name), ("project", project), ("entity", entity)):
        if value is not None:
            config[key] = value
    result = Created(spec=spec, warnings=report.warnings)
    if spec.method == "grid":
        from itertools import islice

        from sweepctl.search.grid import grid_configs, grid_points

        result.grid_points = grid_points(spec)
        result.preview = list(islice(grid_configs(spec), preview))
    if controller == "wandb":
        file_config = {**spec.config, **({"name": name} if name else {})}
        return _create_on_wandb(
            file, file_config, result, entity=entity, project=project, dry_run=dry_run
        )
    if dry_run:
        return result
    if "/" in str(config.get("name") or ""):
        raise UsageError(
            f"sweep name {config['name']!r} has a slash; a reference shaped a/b/c names a W&B "
            "sweep (entity/project/id)",
            path=str(file),
            hint="use another separator, e.g. --name " + str(config["name"]).replace("/", "-"),
        )
    store = _open(storage, create=True)
    result.sweep = store.create_sweep(
        config,
        name=config.get("name"),
        project=config.get("project"),
        entity=config.get("entity"),
        source=str(file),
    )
    from sweepctl.store.base import redact

    result.storage = redact(store.url)
    return result


def _create_on_wandb(
    file: str | Path,
    config: dict[str, Any],
    result: Created,
    *,
    entity: str | None,
    project: str | None,
    dry_run: bool,
):
    from sweepctl.backends.wandb import client as on_wandb
    from sweepctl.spec.loader import load_document

    config, local_only = on_wandb.wandb_config(config, load_document(file).lines)
    result.warnings = [*result.warnings, *local_only]
    result.config = config
    if dry_run:
        return result
    try:
        result.wandb = on_wandb.create_sweep(config, entity=entity, project=project)
    except on_wandb.WandbError as exc:
        if exc.refused:  # W&B's answer to this file: say which file
            exc.path = exc.path or str(file)
        raise
    return result


def is_wandb(ref: str) -> bool:
    """Whether ``ref`` names a sweep on W&B (``entity/project/id``) rather than a local one."""
    from sweepctl.backends.wandb.client import is_wandb_path

    return is_wandb_path(ref)


def get_sweep(ref: str, storage: str | None = None):
    """The store and the sweep that ``ref`` (id, id prefix or name) names.

    For a W&B path (``entity/project/id``) the "store" reads from W&B's public API.
    """
    if is_wandb(ref):
        from sweepctl.backends.wandb.client import WandbSweeps

        reader = WandbSweeps()
        return reader, reader.get_sweep(ref)
    store = _open(storage)
    return store, store.get_sweep(ref)


def agent(
    ref: str,
    *,
    storage: str | None = None,
    count: int | None = None,
    workers: int = 1,
    timeout: float | None = None,
    gpus: str | None = None,
    gpus_per_run: int | None = None,
    idle_exit: float | None = None,
    echo_for: Callable[[bool], Callable[[str, bytes], None]] | None = None,
    say: Callable[[str], None] | None = None,
    observe: Callable[[Any, int], Any] | None = None,
):
    """Run runs of a sweep until ``count`` is reached or the sweep has nothing more to run.

    ``gpus`` ("0,1,2,3" or "all") runs one worker per group of ``gpus_per_run`` GPUs, each
    child seeing its group in ``CUDA_VISIBLE_DEVICES``; ``count`` is the total. ``echo_for``
    makes the function that shows children's output, given whether lines need run prefixes;
    ``observe(sweep, workers)`` makes the observer that shows progress.
    """
    from sweepctl.agent.gpus import gpu_groups
    from sweepctl.agent.loop import Agent
    from sweepctl.duration import parse_duration

    if count is not None and count < 1:
        raise UsageError("--count must be at least 1")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if is_wandb(ref):
        return _wandb_agents(
            ref,
            count=count,
            workers=workers,
            gpus=gpus,
            gpus_per_run=gpus_per_run,
            echo_for=echo_for,
            say=say,
            unsupported={"--timeout": timeout, "--idle-exit": idle_exit},
        )
    store, sweep = get_sweep(ref, storage)
    options = sweep.spec.options
    if timeout is None and options.get("timeout") is not None:
        timeout = parse_duration(options["timeout"], what="sweepctl.timeout")
    groups = None
    if gpus is not None:
        groups = gpu_groups(gpus, gpus_per_run or int(options.get("gpus_per_run", 1)))
    elif gpus_per_run is not None:
        raise UsageError("--gpus-per-run needs --gpus", hint="e.g. --gpus 0,1,2,3 --gpus-per-run 2")
    several = len(groups) > 1 if groups else workers > 1
    observer = observe(sweep, len(groups) if groups else workers) if observe else None
    runner = Agent(
        store,
        sweep,
        count=count,
        workers=workers,
        timeout=timeout,
        gpu_groups=groups,
        idle_exit=idle_exit,
        echo=echo_for(several) if echo_for else None,
        say=say,
        observer=observer,
    )
    try:
        return runner.run()
    finally:
        if observer is not None:
            observer.close()


def _wandb_agents(
    ref: str,
    *,
    count: int | None,
    workers: int,
    gpus: str | None,
    gpus_per_run: int | None,
    echo_for: Callable[[bool], Callable[[str, bytes], None]] | None,
    say: Callable[[str], None] | None,
    unsupported: dict[str, Any],
):
    """W&B's own agent, once per GPU group (or ``workers`` times)."""
    from sweepctl.agent.gpus import gpu_groups
    from sweepctl.backends.wandb.client import WandbSweeps, parse_path
    from sweepctl.backends.wandb.fanout import FanOut

    for option, value in unsupported.items():
        if value is not None:
            raise UsageError(
                f"{option} works only with local sweeps",
                hint="W&B's agent has no such option; leave it out for a W&B sweep",
            )
    if gpus is not None:
        groups: list[str | None] = list(gpu_groups(gpus, gpus_per_run or 1))
    elif gpus_per_run is not None:
        raise UsageError("--gpus-per-run needs --gpus", hint="e.g. --gpus 0,1,2,3 --gpus-per-run 2")
    else:
        groups = [None] * workers
    path = parse_path(ref)
    WandbSweeps().get_sweep(str(path))  # a clear error now beats one per agent later
    log_dir = Path(".sweepctl") / "wandb-agents" / f"{path.entity}-{path.project}-{path.sweep_id}"
    fan = FanOut(
        str(path),
        count=count,
        groups=groups,
        log_dir=log_dir,
        echo=echo_for(len(groups) > 1) if echo_for else None,
        say=say,
    )
    return fan.run()


def runs(ref: str, *, storage: str | None = None, state: Sequence[str] | None = None):
    """The sweep and its runs (optionally only those in ``state``), in creation order."""
    for s in state or ():
        if s not in RUN_STATES:
            from sweepctl.spec.checks import did_you_mean

            raise UsageError(
                f"unknown run state {s!r}",
                hint=did_you_mean(s, RUN_STATES) or f"one of: {', '.join(RUN_STATES)}",
            )
    from sweepctl.backends.local.controller import heartbeat_timeout

    store, sweep = get_sweep(ref, storage)
    if not is_wandb(sweep.id):
        store.reap(sweep.id, heartbeat_timeout(sweep.spec))  # whoever looks notices lost runs
    return sweep, store.runs(sweep.id, state)


def best(ref: str, *, storage: str | None = None) -> dict[str, Any]:
    """The best run of a sweep as ``{sweep_id, run_id, state, metric, config}``."""
    from sweepctl.results.export import best_json, best_run

    sweep, every = runs(ref, storage=storage)
    metric = sweep.spec.metric
    if metric is None:
        raise UsageError(
            f"sweep {sweep.label} has no `metric`, so no run is best",
            hint="list its runs with `sweepctl runs ID`",
        )
    run = best_run(metric, every)
    if run is None:
        raise UsageError(
            f"no run of sweep {sweep.label} has logged {metric.name!r} yet",
            hint=f"{len(every)} runs so far; see `sweepctl runs {sweep.id}`",
        )
    return best_json(sweep, run)


def list_sweeps(*, storage: str | None = None) -> list[dict[str, Any]]:
    """Every sweep in the store with its state and run counts by state."""
    from sweepctl.results.export import iso

    store = _open(storage)
    counts = store.run_counts()
    out = []
    for sweep in store.sweeps():
        by_state = counts.get(sweep.id, {})
        out.append(
            {
                "sweep_id": sweep.id,
                "name": sweep.name,
                "method": sweep.method,
                "state": sweep.state,
                "state_reason": sweep.state_reason,
                "runs": sum(by_state.values()),
                "runs_by_state": by_state,
                "created_at": iso(sweep.created_at),
                "source": sweep.source,
            }
        )
    return out


def export_best(
    refs: Sequence[str],
    *,
    out: Path | None,
    fmt: str = "json",
    storage: str | None = None,
) -> str:
    """The best configs of the given sweeps (all when none), as text; written to ``out``."""
    from sweepctl.results.export import format_best, write_text

    sweeps = [get_sweep(r, storage)[1] for r in refs] if refs else _open(storage).sweeps()
    if not sweeps:
        raise UsageError("the store has no sweeps yet", hint="create one with `sweepctl create`")
    configs: dict[str, dict[str, Any]] = {}
    for sweep in sweeps:
        try:
            found = best(sweep.id, storage=storage)
        except UsageError:
            if refs:
                raise
            continue  # with no ids given, sweeps without a best run are left out
        key = sweep.name or sweep.id.replace("/", "-")
        if key in configs:
            key = f"{key}-{sweep.id.replace('/', '-')}"
        configs[key] = found
    if not configs:
        raise UsageError("no sweep in the store has a best run yet")
    text = format_best(configs, fmt, single=len(refs) == 1)
    if out is not None:
        write_text(out, text)
    return text


def export_runs(ref: str, *, out: Path, storage: str | None = None) -> int:
    """Write every run of a sweep to a CSV, JSON or JSON-lines file; returns the count."""
    from sweepctl.results.export import write_runs

    _, every = runs(ref, storage=storage)
    write_runs(every, out)
    return len(every)


def control(ref: str, action: str, *, storage: str | None = None) -> tuple[Any, str]:
    """Stop, cancel, pause or resume a sweep; returns the sweep and what changed."""
    if is_wandb(ref):
        from sweepctl.backends.wandb.client import WandbSweeps

        return WandbSweeps().set_state(ref, action)
    store, sweep = get_sweep(ref, storage)
    allowed = {
        "stop": ("running", "paused"),
        "cancel": ("running", "paused", "stopped", "finished"),
        "pause": ("running",),
        "resume": ("paused", "stopped"),
    }[action]
    target = {"stop": "stopped", "cancel": "canceled", "pause": "paused", "resume": "running"}
    if sweep.state not in allowed:
        raise UsageError(
            f"sweep {sweep.label} is {sweep.state}; it cannot be {target[action]}",
            hint="see its state with `sweepctl ls`",
        )
    store.set_sweep_state(sweep.id, target[action], reason=f"{action} by user")
    message = f"sweep {sweep.label} is now {target[action]}"
    if action == "cancel":
        n = store.request_stop(sweep.id, "cancel")
        message += f"; {n} running run{'s' if n != 1 else ''} will be killed"
    elif action == "stop":
        running = len(store.runs(sweep.id, ["running"]))
        message += f"; {running} running run{'s' if running != 1 else ''} will finish"
    return sweep, message


def refine(
    ref: str,
    *,
    out: Path,
    factor: float = 2.0,
    top: int = 5,
    storage: str | None = None,
) -> str:
    """Write a bayes sweep file narrowed around the best runs of a sweep; returns its text."""
    from sweepctl.results.export import write_text
    from sweepctl.results.refine import refine as refined

    sweep, every = runs(ref, storage=storage)
    text = refined(sweep, every, factor=factor, top=top)
    write_text(out, text)
    return text


def launch_plan(files: Sequence[Path], *, count: int | None = None, storage: str | None = None):
    """The store and what `launch` would do for these files (folders expand to their files)."""
    from sweepctl.campaign import plan, sweep_files

    store = _open(storage, create=True)
    return store, plan(store, sweep_files(list(files)), count)


def launch(
    files: Sequence[Path],
    *,
    agents: int = 1,
    count: int | None = None,
    storage: str | None = None,
    on_step: Callable[[Any, Any], None] | None = None,
    **agent_options: Any,
) -> list[tuple[Any, Any]]:
    """Run sweep files one after another: create (or resume) each, run agents, move on.

    Returns ``(step, agent report)`` pairs; stops early when an agent is interrupted.
    """
    store, steps = launch_plan(files, count=count, storage=storage)
    done = []
    for step in steps:
        if step.state == "skip":
            done.append((step, None))
            continue
        if step.sweep_id is None:
            step.sweep_id = create(step.file, storage=store.url).sweep.id
        if on_step is not None:
            on_step(step, None)
        report = agent(
            step.sweep_id, storage=store.url, count=step.todo, workers=agents, **agent_options
        )
        done.append((step, report))
        if report.interrupted or report.failed_policy:
            break
    return done


def report(
    refs: Sequence[str],
    *,
    out: Path | None = None,
    top: int = 10,
    group_by: Sequence[str] = (),
    plots: bool = True,
    html: bool = False,
    storage: str | None = None,
) -> list[Path]:
    """Write a report of a sweep (several: one comparison) into ``out``; the files written.

    ``out`` defaults to ``reports/<id>``, or ``reports/compare-<id>-<id>...`` for several.
    """
    from sweepctl.backends.local.controller import heartbeat_timeout
    from sweepctl.results.report import default_out_dir, write_report

    if not refs:
        raise UsageError("give at least one sweep id", hint="list them with `sweepctl ls`")
    on_wandb = [is_wandb(ref) for ref in refs]
    if any(on_wandb) and not all(on_wandb):
        raise UsageError(
            "a report compares sweeps from one place: all local or all on W&B",
            hint="export the runs of each (`sweepctl export`) to compare them elsewhere",
        )
    if all(on_wandb):
        from sweepctl.backends.wandb.client import WandbSweeps

        store = WandbSweeps()
    else:
        store = _open(storage)
    sweeps = [store.get_sweep(ref) for ref in refs]
    for sweep in sweeps:
        store.reap(sweep.id, heartbeat_timeout(sweep.spec))  # whoever looks notices lost runs
    return write_report(
        store,
        sweeps,
        out if out is not None else default_out_dir(sweeps),
        top=top,
        group_by=group_by,
        plots=plots,
        html=html,
    )


def run_best(
    ref: str,
    *,
    seeds: Sequence[int],
    seed_param: str = "seed",
    agents: int = 1,
    storage: str | None = None,
    **agent_options: Any,
) -> dict[str, Any]:
    """Run a sweep's best config once per seed, as its own tracked grid sweep over the seeds.

    The sweep-first workflow's last step: is the optimum real, or one lucky seed? Returns
    ``{"sweep_id", "source_run", "metric", "values", "mean", "std", "report"}``.
    """
    import statistics

    from sweepctl.results.refine import _nest

    if not seeds:
        raise UsageError("give the seeds to run, e.g. --seeds 42,1337,2024")
    _, sweep = get_sweep(ref, storage)
    # The seeded runs are a local sweep, also when the best run came from W&B.
    store = _open(storage, create=True)
    found = best(sweep.id, storage=storage)
    spec = sweep.spec
    blocks: dict[tuple[str, ...], dict[str, Any]] = {}
    for param in spec.params:
        value = found["config"]
        for key in param.path:
            value = value.get(key) if isinstance(value, dict) else None
        blocks[param.path] = {"value": value}
    blocks[(seed_param,)] = {"values": list(seeds)}
    config = {
        key: spec.config[key]
        for key in ("program", "command", "project", "entity", "metric")
        if spec.config.get(key) is not None
    }
    config.update(
        name=f"{sweep.name or sweep.id}-best-seeds",
        description=f"best run {found['run_id']} of sweep {sweep.id}, once per seed",
        method="grid",
        parameters=_nest(blocks),
    )
    if spec.options:
        config["sweepctl"] = dict(spec.options)
    created = store.create_sweep(
        config, name=config["name"], project=spec.project, entity=spec.entity, source=sweep.source
    )
    report = agent(created.id, storage=storage, workers=agents, **agent_options)
    _, seeded = runs(created.id, storage=storage)
    values = [r.metric for r in seeded if r.state == "finished" and r.metric is not None]
    return {
        "sweep_id": created.id,
        "source_run": found["run_id"],
        "metric": found["metric"],
        "values": values,
        "mean": statistics.fmean(values) if values else None,
        "std": statistics.stdev(values) if len(values) > 1 else 0.0 if values else None,
        "report": report,
    }


@dataclass
class Synced:
    """What :func:`sync` did: the plan, ``wandb sync``'s exit code, the runs W&B now has."""

    plan: Any
    code: int | None = None
    on_wandb: list[str] = field(default_factory=list)
    not_on_wandb: list[str] = field(default_factory=list)


def sync(
    ref: str,
    *,
    project: str | None = None,
    entity: str | None = None,
    dirs: Sequence[Path] = (),
    again: bool = False,
    dry_run: bool = False,
    storage: str | None = None,
    echo: Callable[[bytes], None] | None = None,
) -> Synced:
    """Upload a local sweep's runs to W&B: their offline run directories, through ``wandb
    sync``, into one project, grouped under the sweep's name; then check W&B has each run."""
    from sweepctl.backends.wandb import client as on_wandb
    from sweepctl.backends.wandb import sync as syncing

    if is_wandb(ref):
        raise UsageError(f"{ref} is on W&B already", hint="sync uploads a local sweep's runs")
    sweep, every = runs(ref, storage=storage)
    project = project or os.environ.get("WANDB_PROJECT") or sweep.project
    if not project:
        raise UsageError(
            f"which W&B project should sweep {sweep.label}'s runs go to?",
            hint="pass --project NAME (or set `project:` in the sweep file)",
        )
    entity = entity or os.environ.get("WANDB_ENTITY") or sweep.entity
    plan = syncing.plan_sync(
        sweep.id,
        [r.id for r in every if r.state != "running"],
        group=sweep.name or sweep.id,
        roots=list(dirs) or syncing.default_roots(),
        project=project,
        entity=entity,
        again=again,
    )
    result = Synced(plan=plan)
    if dry_run or not plan.dirs:
        return result
    api = on_wandb.connect()
    with on_wandb.errors("find your W&B entity"):
        plan.entity = plan.entity or api.default_entity
    result.code = syncing.run_sync(plan, echo=echo)
    for run_id in plan.dirs:
        try:
            api.run(f"{plan.entity}/{plan.project}/{run_id}")
        except Exception:  # not found, or W&B gone: either way it is not confirmed
            result.not_on_wandb.append(run_id)
        else:
            result.on_wandb.append(run_id)
    return result
