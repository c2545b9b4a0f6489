"""The library behind every command: each function does one command's work and returns a
typed result with ``to_json()``. The CLI (and any script or notebook) is a skin over these::

    from sweepctl import api
    sweep_id = api.create("sweeps/quickstart/grid.yaml").sweep_id
    api.agent(sweep_id, count=4)
    print(api.best(sweep_id).to_json())

Every sweep is reached through a backend (:mod:`sweepctl.backends`), whichever controller
holds it. Nothing here prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from sweepctl import campaign
from sweepctl.api_types import (
    Best,
    Controlled,
    Created,
    RunList,
    SeedRuns,
    SweepSummary,
    Synced,
    Validation,
)
from sweepctl.backends import factory
from sweepctl.backends.base import AgentOptions, AgentReport, Backend, EchoFor
from sweepctl.backends.wandb import sync as syncing
from sweepctl.domain import RUN_STATES
from sweepctl.errors import InvalidSweepError, UsageError
from sweepctl.outfile import write_output
from sweepctl.records import Run, Sweep
from sweepctl.results import export
from sweepctl.results import refine as refining
from sweepctl.search.grid import grid_configs, grid_points
from sweepctl.spec import inspect_file
from sweepctl.spec.checks import did_you_mean, label_problem
from sweepctl.urls import redact

# -- validate ------------------------------------------------------------------------------


def validate(files: Iterable[str | Path], *, strict: bool = False) -> Validation:
    """Check each sweep file; every problem is reported, none raised."""
    return Validation([inspect_file(f) for f in files], strict=strict)


# -- create --------------------------------------------------------------------------------


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
    stripped, with a warning for each option only the local controller honours).
    """
    if controller not in factory.CONTROLLERS:
        raise UsageError(f"unknown controller {controller!r}", hint="local or wandb")
    report = inspect_file(file)
    if report.spec is None:
        raise InvalidSweepError(report.source, report.problems)
    spec = report.spec
    config = dict(spec.config)
    if controller == "wandb":  # W&B takes entity and project apart from the config
        config.update({"name": name} if name else {})
    else:
        for key, value in (("name", name), ("project", project), ("entity", entity)):
            if value is not None:
                problem = label_problem(value)
                if problem:
                    raise UsageError(f"--{key} {problem}")
                config[key] = value
    backend = factory.for_controller(
        controller, storage=storage, create=True, entity=entity, project=project
    )
    lines = report.lines
    config, local_only = backend.prepare(config, lines)
    result = Created(
        spec=spec, controller=controller, warnings=[*report.warnings, *local_only], config=config
    )
    if spec.method == "grid":
        result.grid_points = grid_points(spec)
        result.preview = list(islice(grid_configs(spec), preview))
    if dry_run:
        return result
    created = backend.create(config, source=str(file), lines=lines)
    result.sweep_id = created.sweep_id
    result.url = created.url
    result.server_warnings = created.warnings
    if backend.kind == "local":
        result.storage = backend.where
        result.storage_arg = redact(storage) if storage else None
    return result


# -- agent ---------------------------------------------------------------------------------

# Each worker is a thread and a child process; more than this is a typo, not a machine.
MAX_WORKERS = 1024


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
    echo_for: EchoFor | None = None,
    say: Callable[[str], None] | None = None,
    observe: Callable[[Sweep, int, int | None], Any] | None = None,
) -> AgentReport:
    """Run runs of a sweep until ``count`` is reached or the sweep has nothing more to run.

    ``gpus`` ("0,1,2,3" or "all") runs one worker per group of ``gpus_per_run`` GPUs, each
    child seeing its group in ``CUDA_VISIBLE_DEVICES``; ``count`` is the total. ``echo_for``
    makes the function that shows children's output, given whether lines need run prefixes;
    ``observe(sweep, workers, expected_runs)`` makes the observer that shows progress.
    """
    if count is not None and count < 1:
        raise UsageError("--count must be at least 1")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if workers > MAX_WORKERS:
        raise UsageError(f"--workers is at most {MAX_WORKERS}, found {workers}")
    backend = factory.open_backend(ref, storage)
    options = AgentOptions(
        count=count,
        workers=workers,
        timeout=timeout,
        gpus=gpus,
        gpus_per_run=gpus_per_run,
        idle_exit=idle_exit,
        echo_for=echo_for,
        say=say,
        observe=observe,
    )
    backend.check_agent(options)  # what it cannot do is said before it is asked anything
    return backend.agent(backend.get_sweep(ref), options)


# -- reading -------------------------------------------------------------------------------


def _check_states(states: Sequence[str]) -> None:
    for s in states:
        if s not in RUN_STATES:
            raise UsageError(
                f"unknown run state {s!r}",
                hint=did_you_mean(s, RUN_STATES) or f"one of: {', '.join(RUN_STATES)}",
            )


def _read(ref: str, storage: str | None) -> tuple[Backend, Sweep, list[Run]]:
    backend, sweep = factory.open_sweep(ref, storage)
    return backend, sweep, backend.runs(sweep.id)


def runs(
    ref: str,
    *,
    storage: str | None = None,
    state: Sequence[str] | None = None,
    top: int | None = None,
) -> RunList:
    """The sweep and its runs (only those in ``state``; only the ``top`` best by the metric)."""
    _check_states(state or ())
    backend, sweep = factory.open_sweep(ref, storage)
    found = backend.runs(sweep.id, state)
    if top is not None:
        best_ids = {r.id for r in export.rank(sweep.spec.metric, found)[: max(0, top)]}
        found = [r for r in found if r.id in best_ids]
    return RunList(sweep, found)


def _best_of(sweep: Sweep, every: list[Run]) -> Best:
    metric = sweep.spec.metric
    if metric is None:
        raise UsageError(
            f"sweep {sweep.label} has no `metric`, so no run is best",
            hint="list its runs with `sweepctl runs ID`",
        )
    run = export.best_run(metric, every)
    if run is None:
        raise UsageError(
            f"no run of sweep {sweep.label} has logged {metric.name!r} yet",
            hint=f"{len(every)} runs so far; see `sweepctl runs {sweep.id}`",
        )
    return Best(sweep, run)


def best(ref: str, *, storage: str | None = None) -> Best:
    """The best run of a sweep and its config."""
    _, sweep, every = _read(ref, storage)
    return _best_of(sweep, every)


def list_sweeps(*, storage: str | None = None) -> list[SweepSummary]:
    """Every sweep in the local store with its run counts by state."""
    backend = factory.open_local(storage)
    counts = backend.run_counts()
    return [SweepSummary(s, counts.get(s.id, {})) for s in backend.sweeps()]


# -- results out ---------------------------------------------------------------------------


def export_best(
    refs: Sequence[str],
    *,
    out: str | os.PathLike[str] | None,
    fmt: str | None = None,
    storage: str | None = None,
) -> str:
    """The best configs of the given sweeps (all in the store when none), as text; written to
    ``out`` when given."""
    if refs:
        opened = [factory.open_sweep(r, storage) for r in refs]  # every id known, first
        found = [_best_of(sweep, backend.runs(sweep.id)) for backend, sweep in opened]
    else:
        backend = factory.open_local(storage)
        sweeps = backend.sweeps()
        if not sweeps:
            raise UsageError(
                "the store has no sweeps yet", hint="create one with `sweepctl create`"
            )
        found = []
        for sweep in sweeps:
            try:
                found.append(_best_of(sweep, backend.runs(sweep.id)))
            except UsageError:
                continue  # with no ids given, sweeps without a best run are left out
    configs: dict[str, dict[str, Any]] = {}
    for one in found:
        sweep = one.sweep
        key = sweep.name or sweep.id.replace("/", "-")
        if key in configs:
            key = f"{key}-{sweep.id.replace('/', '-')}"
        configs[key] = one.to_json()
    if not configs:
        raise UsageError("no sweep in the store has a best run yet")
    fmt = fmt or export.best_format(Path(out) if out is not None else None)
    text = export.format_best(configs, fmt, single=len(refs) == 1)
    if out is not None:
        write_output(out, text)
    return text


def export_runs(ref: str, *, out: str | os.PathLike[str], storage: str | None = None) -> int:
    """Write every run of a sweep to a CSV, JSON or JSON-lines file; returns the count."""
    _, _, every = _read(ref, storage)
    export.write_runs(every, out)
    return len(every)


def refine(
    ref: str,
    *,
    out: str | os.PathLike[str],
    factor: float = 2.0,
    top: int = 5,
    storage: str | None = None,
) -> str:
    """Write a bayes sweep file narrowed around the best runs of a sweep; returns its text."""
    _, sweep, every = _read(ref, storage)
    text = refining.refine(sweep, every, factor=factor, top=top)
    write_output(out, text)
    return text


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
    if not refs:
        raise UsageError("give at least one sweep id", hint="list them with `sweepctl ls`")
    parsed = [factory.parse_ref(r) for r in refs]
    if len({p.controller for p in parsed}) > 1:
        raise UsageError(
            "a report compares sweeps from one place: all local or all on W&B",
            hint="export the runs of each (`sweepctl export`) to compare them elsewhere",
        )
    backend = factory.open_backend(parsed[0], storage)
    sweeps = [backend.get_sweep(str(p)) for p in parsed]
    # Imported here: its figures and renderers would slow every other command's start.
    from sweepctl.results.report import default_out_dir, write_report

    return write_report(
        backend,
        sweeps,
        out if out is not None else default_out_dir(sweeps),
        top=top,
        group_by=group_by,
        plots=plots,
        html=html,
    )


# -- control -------------------------------------------------------------------------------


def control(ref: str, action: str, *, storage: str | None = None) -> Controlled:
    """Stop, cancel, pause or resume a sweep."""
    backend, sweep = factory.open_sweep(ref, storage)
    return Controlled(sweep, action, backend.control(sweep.id, action))


# -- campaigns -----------------------------------------------------------------------------


def launch_plan(files: Sequence[Path], *, count: int | None = None, storage: str | None = None):
    """The local backend and what `launch` would do for these files (folders expand)."""
    backend = factory.open_local(storage, create=True)
    return backend, campaign.plan(backend, campaign.sweep_files(list(files)), count)


def launch(
    files: Sequence[Path],
    *,
    agents: int = 1,
    count: int | None = None,
    storage: str | None = None,
    on_step: Callable[[Any, Any], None] | None = None,
    **agent_options: Any,
) -> list[tuple[Any, AgentReport | None]]:
    """Run sweep files one after another: create (or resume) each, run agents, move on.

    Returns ``(step, agent report)`` pairs; stops early when an agent is interrupted.
    """
    backend, steps = launch_plan(files, count=count, storage=storage)
    done: list[tuple[Any, AgentReport | None]] = []
    for step in steps:
        if step.state == "skip":
            done.append((step, None))
            continue
        if step.sweep_id is None:
            step.sweep_id = create(step.file, storage=backend.url).sweep_id
        if on_step is not None:
            on_step(step, None)
        result = agent(
            step.sweep_id, storage=backend.url, count=step.todo, workers=agents, **agent_options
        )
        done.append((step, result))
        if result.interrupted or result.failed:
            break
    return done


def run_best(
    ref: str,
    *,
    seeds: Sequence[int],
    seed_param: str = "seed",
    agents: int = 1,
    storage: str | None = None,
    **agent_options: Any,
) -> SeedRuns:
    """Run a sweep's best config once per seed, as its own tracked grid sweep over the seeds.

    The sweep-first workflow's last step: is the optimum real, or one lucky seed? The seeded
    runs are a local sweep, also when the best run came from W&B.
    """
    if not seeds:
        raise UsageError("give the seeds to run, e.g. --seeds 42,1337,2024")
    found = best(ref, storage=storage)
    local = factory.open_local(storage, create=True)
    config = refining.seeded_config(found.sweep, found.run, seeds, seed_param)
    created = local.create(config, source=found.sweep.source)
    result = agent(created.sweep_id, storage=local.url, workers=agents, **agent_options)
    seeded = local.runs(created.sweep_id)
    values = [r.metric for r in seeded if r.state == "finished" and r.metric is not None]
    return SeedRuns(
        sweep_id=created.sweep_id,
        source_run=found.run.id,
        metric=found.to_json()["metric"],
        values=values,
        report=result,
    )


# -- sync ----------------------------------------------------------------------------------


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
    factory.require_local(ref, "sync uploads a local sweep's runs")
    _, sweep, every = _read(ref, storage)
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
    result.code, result.on_wandb, result.not_on_wandb = factory.open_wandb().upload(plan, echo=echo)
    return result
