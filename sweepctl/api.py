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

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from sweepctl import campaign, ranking
from sweepctl.agent import slurm
from sweepctl.api_types import (
    Best,
    Controlled,
    Created,
    Deleted,
    EarlySavings,
    Requeued,
    RunList,
    RunLog,
    SeedRuns,
    SlurmSubmitted,
    SweepSummary,
    Synced,
    Updated,
    Validation,
)
from sweepctl.backends import factory
from sweepctl.backends.base import AgentOptions, AgentReport, Backend, EchoFor
from sweepctl.backends.wandb import sync as syncing
from sweepctl.domain import REQUEUE_DEFAULT, REQUEUE_FROM, RUN_STATES
from sweepctl.errors import InvalidSweepError, Problem, UsageError
from sweepctl.lazy import lazy_import
from sweepctl.outfile import write_output
from sweepctl.records import Run, Sweep, search_records
from sweepctl.results import export
from sweepctl.results import refine as refining
from sweepctl.search.grid import grid_configs, grid_points
from sweepctl.spec import FileReport, inspect_config, inspect_file, load_spec
from sweepctl.spec.checks import did_you_mean, label_problem
from sweepctl.spec.program import program_problem
from sweepctl.spec.update import update_problems
from sweepctl.stopping import saved_iterations
from sweepctl.urls import is_shared_storage, redact

serving = lazy_import("sweepctl.dashboard.serve")  # starlette and uvicorn only when it serves

# -- validate ------------------------------------------------------------------------------


def validate(files: Iterable[str | Path], *, strict: bool = False) -> Validation:
    """Check each sweep file; every problem is reported, none raised."""
    return Validation([inspect_file(f) for f in files], strict=strict)


# -- create --------------------------------------------------------------------------------


def create(
    file: str | Path | Mapping[str, Any],
    *,
    name: str | None = None,
    project: str | None = None,
    entity: str | None = None,
    storage: str | None = None,
    dry_run: bool = False,
    preview: int = 5,
    controller: str = "local",
    check_program: bool = True,
    source: str | None = None,
    files: Path | None = None,
) -> Created:
    """Validate a sweep file (or a sweep config dict, W&B's Python form) and store it as a
    new sweep (or, with ``dry_run``, only look).

    ``controller="wandb"`` creates it on W&B's servers instead (the ``sweepctl:`` block
    stripped, with a warning for each option only the local controller honours).
    ``check_program``: a ``program`` missing from the working directory is an error on a
    store only this machine uses, a warning on a shared one (:mod:`sweepctl.spec.program`).
    ``files``: the folder where every agent of the store writes run files (a local store).
    """
    if controller not in factory.CONTROLLERS:
        raise UsageError(f"unknown controller {controller!r}", hint="local or wandb")
    if isinstance(file, Mapping):  # ``source``: the file a dict came from, if any
        report = inspect_config(file, source=source or "<dict>")
    else:
        report = inspect_file(file)
    if report.spec is None:
        raise InvalidSweepError(report.source, report.problems)
    spec = report.spec
    warnings = list(report.warnings)
    if check_program:
        shared = controller == "wandb" or is_shared_storage(storage)
        warnings += _program_warnings(report, shared=shared)
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
        spec=spec, controller=controller, warnings=[*warnings, *local_only], config=config
    )
    if spec.method == "grid":
        result.grid_points = grid_points(spec)
        result.preview = list(islice(grid_configs(spec), preview))
    if dry_run:
        return result
    if files is not None:
        if controller != "local":
            raise UsageError("--files sets where a local store's run files go", hint="leave it out")
        backend.set_files_dir(files)
    created = backend.create(config, source=report.source, lines=lines)
    result.sweep_id = created.sweep_id
    result.url = created.url
    result.server_warnings = created.warnings
    if backend.kind == "local":
        result.storage = backend.where
        result.storage_arg = redact(storage) if storage else None
    return result


def _program_warnings(report: FileReport, *, shared: bool) -> list[Problem]:
    """A missing ``program``: raised as an error for this machine's store, else a warning."""
    assert report.spec is not None
    problem = program_problem(report.spec, report.lines, Path.cwd(), shared=shared)
    if problem is None:
        return []
    if problem.severity == "error":
        raise InvalidSweepError(report.source, [problem])
    return [problem]


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
    function: Callable[[], Any] | str | None = None,
    files: Path | None = None,
) -> AgentReport:
    """Run runs of a sweep until ``count`` is reached or the sweep has nothing more to run.

    ``gpus`` ("0,1,2,3" or "all") runs one worker per group of ``gpus_per_run`` GPUs, each
    child seeing its group in ``CUDA_VISIBLE_DEVICES``; ``count`` is the total. ``echo_for``
    makes the function that shows children's output, given whether lines need run prefixes;
    ``observe(sweep, workers, expected_runs)`` makes the observer that shows progress.
    ``function`` (a callable, or ``"module:function"``) makes each run a call of it instead
    of the sweep's command (see :mod:`sweepctl.agent.function`).
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
        function=function,
        files=files,
    )
    backend.check_agent(options)  # what it cannot do is said before it is asked anything
    return backend.agent(backend.get_sweep(ref), options)


def agent_slurm(
    ref: str,
    *,
    request: slurm.SlurmRequest,
    task: slurm.TaskAgent,
    storage: str | None = None,
    dry_run: bool = False,
) -> SlurmSubmitted:
    """Submit agents of a sweep as one SLURM job array (``request.tasks`` tasks), each task
    running ``sweepctl agent`` with ``task``'s options on the GPUs SLURM gives it. A dry run
    checks everything and returns the batch script and sbatch command, submitting nothing.
    """
    factory.require_local(
        ref,
        "--slurm submits agents of sweeps in sweepctl's store; run a W&B sweep's agents "
        "with `sweepctl agent ID` in your own sbatch script",
    )
    backend = factory.open_local(storage)
    sweep = backend.get_sweep(ref)
    store = backend.store
    batch = slurm.plan(store, sweep, request, task, cwd=Path.cwd())
    result = SlurmSubmitted(
        sweep=sweep,
        tasks=request.tasks,
        script=batch.script,
        sbatch=batch.sbatch,
        output=batch.output,
        store=backend.where,
    )
    if store.is_sqlite:
        result.warnings.append("an SQLite store: every task must run on this node")
    if sweep.state not in ("running", "paused"):
        result.warnings.append(
            f"sweep {sweep.label} is {sweep.state}: its agents will start no run"
        )
    if not dry_run:
        slurm.submit(store, sweep, batch, env=os.environ)
        result.job_id = batch.job_id
        result.sbatch = batch.sbatch
    return result


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
    backend, sweep, every = _read(ref, storage)
    found = [r for r in every if r.state in state] if state else every
    ranked = ranking.rank(sweep.spec.metric, found)
    if top is not None:
        found = ranked.top(top)  # best first
    note = ranked.note() if sweep.spec.metric else None
    agents = {a.id: a for a in backend.agents(sweep.id)}
    return RunList(sweep, found, agents, note=note, savings=_early_savings(every))


def _early_savings(every: list[Run]) -> EarlySavings | None:
    """What early termination saved over all of a sweep's runs (None if it stopped none)."""
    early = [r.id for r in every if (r.reason or "").startswith("early stop")]
    if not early:
        return None
    saved = sum(saved_iterations(search_records(every), early).values())
    return EarlySavings(len(early), saved, sum(len(r.history) for r in every))


def _best_of(sweep: Sweep, every: list[Run]) -> Best:
    metric = sweep.spec.metric
    if metric is None:
        raise UsageError(
            f"sweep {sweep.shown} has no `metric`, so no run is best",
            hint="list its runs with `sweepctl runs ID`",
        )
    found = ranking.rank(metric, every)
    if found.best is None:
        logged = sorted({k for r in every for k in r.summary if not k.startswith("_")})
        if logged and not any(r.metric is not None for r in every):
            # The runs log, but never this name: most likely the sweep file misnames it.
            guess = did_you_mean(metric.name, logged)
            shown = ", ".join(logged[:20]) + (", ..." if len(logged) > 20 else "")
            raise UsageError(
                f"no run of sweep {sweep.shown} has logged its metric {metric.name!r}; "
                f"they logged: {shown}",
                hint=(f"{guess} " if guess else "")
                + "`metric.name` in the sweep file must be a key the program logs",
            )
        note = found.note()
        raise UsageError(
            f"no finished or stopped run of sweep {sweep.shown} has a value of {metric.name!r} yet",
            hint=f"{len(every)} runs so far"
            + (f", {note}" if note else "")
            + f"; see `sweepctl runs {sweep.id}`",
        )
    return Best(sweep, found.best, found.left_out_by_reason)


def best(ref: str, *, storage: str | None = None) -> Best:
    """The best run of a sweep and its config."""
    _, sweep, every = _read(ref, storage)
    return _best_of(sweep, every)


def list_sweeps(*, storage: str | None = None) -> list[SweepSummary]:
    """Every sweep in the local store with its run counts by state."""
    backend = factory.open_local(storage)
    counts = backend.run_counts()
    jobs: dict[str, list[str]] = {}
    for job in backend.store.slurm_jobs():
        jobs.setdefault(job.sweep_id, []).append(job.job_id)
    return [SweepSummary(s, counts.get(s.id, {}), jobs.get(s.id, [])) for s in backend.sweeps()]


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


# -- run logs ------------------------------------------------------------------------------------


def run_log(ref: str, *, storage: str | None = None) -> RunLog:
    """Where a run's output log is, and whether this machine has it (a run id or prefix)."""
    backend = factory.open_local(storage)
    run = backend.store.find_run(ref)
    path = backend.store.run_dir(run.sweep_id, run.id) / "output.log"
    return RunLog(run, path, backend.store.agent_host(run.agent_id))


def follow_log(log: RunLog, *, storage: str | None = None, poll: float = 0.5) -> Iterator[bytes]:
    """The log's bytes from its start, then as they are written, until the run has ended."""
    store = factory.open_local(storage).store
    offset = 0
    while True:
        ended = store.get_run(log.run.id).state != "running"  # read before the file
        chunk = _read_from(log.path, offset)
        offset += len(chunk)
        if chunk:
            yield chunk
        if ended:
            return
        time.sleep(poll)


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


# -- a sweep's life ----------------------------------------------------------------------------


def requeue(
    ref: str, *, states: Sequence[str] = REQUEUE_DEFAULT, storage: str | None = None
) -> Requeued:
    """Offer again the configs of a sweep's runs that ended in ``states`` (killed, failed,
    crashed by default): each such run becomes ``requeued`` (keeping its old state in its
    reason) and its config is handed out before new ones, without using up retries."""
    for state in states:
        if state not in REQUEUE_FROM:
            raise UsageError(
                f"runs in state {state!r} cannot be requeued",
                hint=did_you_mean(state, REQUEUE_FROM) or f"one of: {', '.join(REQUEUE_FROM)}",
            )
    backend, sweep = factory.open_sweep(ref, storage)
    counts = backend.requeue(sweep.id, list(states))
    return Requeued(backend.get_sweep(sweep.id), counts)


def delete(ref: str, *, storage: str | None = None) -> Deleted:
    """Remove a sweep with its runs, their history and their files (not while runs run)."""
    backend, sweep = factory.open_sweep(ref, storage)
    return Deleted(sweep.id, backend.delete(sweep.id))


def update(
    ref: str, file: str | Path, *, storage: str | None = None, check_program: bool = True
) -> Updated:
    """Replace a sweep's config by the file's, validated as ``create`` validates it; the
    method and metric stay (:mod:`sweepctl.spec.update` says what may change)."""
    backend, sweep = factory.open_sweep(ref, storage)
    report = inspect_file(file)
    if report.spec is None:
        raise InvalidSweepError(report.source, report.problems)
    problems = update_problems(sweep.spec, report.spec, report.lines)
    if problems:
        raise InvalidSweepError(report.source, problems)
    warnings = list(report.warnings)
    if check_program:
        shared = backend.kind == "wandb" or is_shared_storage(storage)
        warnings += _program_warnings(report, shared=shared)
    config, _ = backend.prepare(dict(report.spec.config), report.lines)
    changed = backend.update(sweep.id, config, report.lines)
    return Updated(backend.get_sweep(sweep.id), changed, warnings)


# -- dashboard ---------------------------------------------------------------------------------


def dashboard(
    sweeps: Sequence[str] = (),
    *,
    storage: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    read_only: bool = False,
    open_browser: bool = False,
    ready: Callable[[Any], None] | None = None,
) -> None:
    """Serve the live dashboard over every sweep in the store until interrupted.

    ``sweeps`` names W&B sweeps (entity/project/id) to show beside the store's, read-only.
    Any ``host`` but the loopback needs a token: ``token``, else one is made and handed to
    ``ready`` (with the URL) before the first request.
    """
    serving.serve(
        storage,
        sweeps=sweeps,
        host=host,
        port=port,
        token=token,
        read_only=read_only,
        open_browser=open_browser,
        ready=ready,
    )


# -- campaigns -----------------------------------------------------------------------------


def launch_plan(
    files: Sequence[Path],
    *,
    count: int | None = None,
    storage: str | None = None,
    carry_best: bool = False,
):
    """The local backend and what `launch` would do for these files (folders expand, in
    their campaign file's order)."""
    backend = factory.open_local(storage, create=True)
    found = campaign.sweep_files(list(files))
    carry = carry_best or found.carry_best
    return backend, campaign.plan(backend, found.files, count, carry_best=carry)


def launch(
    files: Sequence[Path],
    *,
    agents: int = 1,
    count: int | None = None,
    storage: str | None = None,
    carry_best: bool = False,
    on_step: Callable[[Any, Any], None] | None = None,
    **agent_options: Any,
) -> list[tuple[Any, AgentReport | None]]:
    """Run sweep files one after another: create (or resume) each, run agents, move on.

    With ``carry_best`` (or the campaign file's ``carry_best``), each new phase starts from
    the best config of the phases before it (see :mod:`sweepctl.campaign`). Returns ``(step,
    agent report)`` pairs; stops early when an agent is interrupted.
    """
    backend, steps = launch_plan(files, count=count, storage=storage, carry_best=carry_best)
    done: list[tuple[Any, AgentReport | None]] = []
    best_so_far: dict[str, Any] = {}

    def remember_best(sweep_id: str) -> None:
        # No metric, or no run with a value: nothing to carry from this phase.
        with contextlib.suppress(UsageError):
            best_so_far.update(_best_of(backend.get_sweep(sweep_id), backend.runs(sweep_id)).config)

    for step in steps:
        if step.state == "skip":
            done.append((step, None))
            remember_best(step.sweep_id)
            continue
        if step.sweep_id is None:
            if step.carries and best_so_far:
                spec, _ = load_spec(step.file)
                config, step.fixed = campaign.carried(spec.config, best_so_far)
                made = create(config, source=str(step.file), storage=backend.url)
            else:
                made = create(step.file, storage=backend.url)
            step.sweep_id = made.sweep_id
        if on_step is not None:
            on_step(step, None)
        result = agent(
            step.sweep_id, storage=backend.url, count=step.todo, workers=agents, **agent_options
        )
        done.append((step, result))
        if result.interrupted or result.failed:
            break
        remember_best(step.sweep_id)
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
            f"which W&B project should sweep {sweep.shown}'s runs go to?",
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
