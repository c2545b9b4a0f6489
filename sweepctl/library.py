"""The calls a script or notebook makes, shaped like wandb's: ``sweepctl.sweep(config)``, then
``sweepctl.agent(sweep_id, function=train, count=10)``, then the results.

Changing ``wandb.sweep``/``wandb.agent`` to ``sweepctl.sweep``/``sweepctl.agent`` runs the
same script on sweepctl's embedded store (or PostgreSQL with ``storage=``, or W&B with
``controller="wandb"``). The functions here are a skin over :mod:`sweepctl.api`, as the CLI
is: they take Python values, return the API's typed results (with ``to_json()``, the shapes
``--json`` prints), raise :class:`~sweepctl.errors.SweepctlError` for bad input, and report an
agent's progress on stderr as wandb's agent does.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepctl import api
from sweepctl.api_types import Best, Controlled, RunList
from sweepctl.backends import factory
from sweepctl.backends.base import AgentReport
from sweepctl.errors import UsageError
from sweepctl.progress import log_lines
from sweepctl.records import Run, Sweep
from sweepctl.results.export import best_run


class SweepctlWarning(UserWarning):
    """Something about a sweep that works but deserves a look (a YAML number read as text,
    an option W&B would ignore)."""


def sweep(
    sweep: Mapping[str, Any] | str | Path,
    *,
    project: str | None = None,
    entity: str | None = None,
    name: str | None = None,
    storage: str | None = None,
    controller: str = "local",
    check_program: bool = True,
) -> str:
    """Create a sweep from a config dict (W&B's Python form) or a sweep file; its id.

    Validated as ``sweepctl create`` validates files: a bad config raises
    :class:`~sweepctl.errors.SweepctlError` naming each key path (``parameters.lr.min``), with
    did-you-mean hints, and nothing is stored. ``controller="wandb"`` creates it on W&B and
    returns its ``entity/project/id`` path. A ``program`` missing from the working
    directory is an error on a local store (``check_program=False`` skips the check).
    """
    if not isinstance(sweep, (Mapping, str, Path)):
        raise UsageError(
            f"a sweep config must be a dict (or a path to a sweep file), not "
            f"{type(sweep).__name__}",
            hint="e.g. {'method': 'grid', 'parameters': {'lr': {'values': [0.1, 0.01]}}}",
        )
    created = api.create(
        sweep if isinstance(sweep, Mapping) else Path(sweep),
        name=name,
        project=project,
        entity=entity,
        storage=storage,
        controller=controller,
        check_program=check_program,
    )
    for problem in created.warnings:
        where = problem.path or created.spec.source or "sweep"
        warnings.warn(f"{where}: {problem.message}", SweepctlWarning, stacklevel=2)
    assert created.sweep_id is not None  # set whenever not a dry run
    return created.sweep_id


def _say(message: str) -> None:
    sys.stderr.write(f"sweepctl: {message}\n")


def _echo_for(prefix_runs: bool) -> Callable[[str, bytes], None]:
    """Show worker processes' output on this process's stdout (a notebook's too)."""

    def echo(run_id: str, chunk: bytes) -> None:
        text = chunk.decode("utf-8", errors="replace")
        if prefix_runs:
            text = "".join(f"[{run_id}] {line}" for line in text.splitlines(keepends=True))
        sys.stdout.write(text)

    return echo


def agent(
    sweep_id: str,
    function: Callable[[], Any] | str | None = None,
    *,
    count: int | None = None,
    storage: str | None = None,
    workers: int = 1,
    gpus: str | Sequence[int] | None = None,
    gpus_per_run: int | None = None,
    timeout: float | None = None,
    entity: str | None = None,
    project: str | None = None,
) -> AgentReport:
    """Run a sweep's runs: ``function()`` per run in this process (as ``wandb.agent`` does),
    or, without a function, the sweep's ``command`` as the CLI agent does.

    Inside a function run, ``wandb.init()`` gets the run's config (offline without W&B
    credentials), and ``wandb.log``/``sweepctl.log`` steps are the run's metrics. A run ends
    ``finished`` when the function returns, ``failed`` (traceback in its log) when it raises,
    ``killed`` on Ctrl-C, which also ends the agent; a run that must stop early (hyperband,
    a canceled sweep, ``timeout`` seconds) is ended at its next logged step, where the log
    call raises :class:`~sweepctl.agent.function.RunStopped`.

    ``workers``/``gpus`` ("0,1,2,3", [0, 1] or "all") run calls in worker processes, one GPU
    group each in ``CUDA_VISIBLE_DEVICES``; the function must then be importable by name:
    pass ``"module:function"`` or a module-level function. ``entity`` and ``project`` are
    accepted as ``wandb.agent`` accepts them; sweep ids from :func:`sweep` are complete, so
    they change nothing.
    """
    del entity, project  # ids from sweepctl.sweep already say where the sweep is
    if gpus is not None and not isinstance(gpus, str):
        gpus = ",".join(str(g) for g in gpus)
    return api.agent(
        sweep_id,
        function=function,
        storage=storage,
        count=count,
        workers=workers,
        timeout=timeout,
        gpus=gpus,
        gpus_per_run=gpus_per_run,
        echo_for=_echo_for,
        say=_say,
        observe=log_lines,
    )


# -- results ----------------------------------------------------------------------------------


def best(sweep_id: str, *, storage: str | None = None) -> Best:
    """The best run of a sweep by its metric (``.config``, ``.value``, ``.run``,
    ``.to_json()`` as ``sweepctl best --json`` prints it)."""
    return api.best(sweep_id, storage=storage)


def runs(
    sweep_id: str, *, state: str | Sequence[str] | None = None, storage: str | None = None
) -> RunList:
    """A sweep's runs in creation order, only those in ``state`` when given."""
    states = [state] if isinstance(state, str) else state
    return api.runs(sweep_id, state=states, storage=storage)


def export_best(
    sweep_id: str, path: str | Path, *, format: str | None = None, storage: str | None = None
) -> str:
    """Write the best config of a sweep to ``path`` (YAML, JSON or env by its extension, or
    ``format``); returns the text written."""
    return api.export_best([sweep_id], out=Path(path), fmt=format, storage=storage)


def refine(
    sweep_id: str,
    path: str | Path,
    *,
    factor: float = 2.0,
    top: int = 5,
    storage: str | None = None,
) -> str:
    """Write a bayes sweep file narrowed around the best runs of a sweep (``sweepctl refine``)
    to ``path``; returns its text. ``sweepctl.sweep(path)`` starts the refined sweep."""
    return api.refine(sweep_id, out=Path(path), factor=factor, top=top, storage=storage)


def stop(sweep_id: str, *, storage: str | None = None) -> Controlled:
    """No new runs; running ones finish."""
    return api.control(sweep_id, "stop", storage=storage)


def cancel(sweep_id: str, *, storage: str | None = None) -> Controlled:
    """No new runs; running ones are killed."""
    return api.control(sweep_id, "cancel", storage=storage)


def pause(sweep_id: str, *, storage: str | None = None) -> Controlled:
    """No new runs until :func:`resume`; running ones go on."""
    return api.control(sweep_id, "pause", storage=storage)


def resume(sweep_id: str, *, storage: str | None = None) -> Controlled:
    """Hand out runs again after :func:`pause` or :func:`stop`."""
    return api.control(sweep_id, "resume", storage=storage)


# -- wandb.Api()-style reading ---------------------------------------------------------------


@dataclass(frozen=True)
class _View:
    """What a run and a sweep view share: the record read, and the Api that read it."""

    record: Any
    _api: Api

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.record.config)


@dataclass(frozen=True)
class RunView(_View):
    """A run as ``wandb.Api().run(...)`` users read one."""

    record: Run

    @property
    def name(self) -> str:
        return self.record.id

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.record.summary)

    def history(self) -> list[dict[str, Any]]:
        """Every logged row, in order (``_step`` and ``_timestamp`` included)."""
        return self._api.backend_for(self.record.sweep_id).history(self.record.id)


@dataclass(frozen=True)
class SweepView(_View):
    """A sweep as ``wandb.Api().sweep(path)`` users read one."""

    record: Sweep

    @property
    def name(self) -> str | None:
        return self.record.name

    @property
    def runs(self) -> list[RunView]:
        backend = self._api.backend_for(self.record.id)
        return [RunView(r, self._api) for r in backend.runs(self.record.id)]

    def best_run(self) -> RunView | None:
        """The run with the best value of the sweep's metric; None before one has logged it
        (or for a sweep without a metric)."""
        metric = self.record.spec.metric
        if metric is None:
            return None
        found = best_run(metric, [view.record for view in self.runs])
        return None if found is None else RunView(found, self._api)


class Api:
    """Read sweeps and runs as ``wandb.Api()`` does: ``Api().sweep(id).best_run().config``.

    Local ids and W&B paths (``entity/project/id``) both work; ``storage`` names the local
    store (else ``SWEEPCTL_STORAGE``, else the one found from the working directory).
    """

    def __init__(self, storage: str | None = None) -> None:
        self.storage = storage
        self._backends: dict[str, Any] = {}

    def backend_for(self, sweep_id: str) -> Any:
        ref = factory.parse_ref(sweep_id)
        key = ref.controller
        if key not in self._backends:
            self._backends[key] = factory.open_backend(ref, self.storage)
        return self._backends[key]

    def sweep(self, path: str) -> SweepView:
        """The sweep that ``path`` (an id, unique prefix, name, or W&B path) names."""
        return SweepView(self.backend_for(path).get_sweep(path), self)

    def sweeps(self) -> list[SweepView]:
        """Every sweep in the local store, oldest first."""
        if "local" not in self._backends:
            self._backends["local"] = factory.open_local(self.storage)
        backend = self._backends["local"]
        return [SweepView(s, self) for s in backend.sweeps()]

    def run(self, sweep_id: str, run_id: str) -> RunView:
        """One run of a sweep, by its id."""
        for view in self.sweep(sweep_id).runs:
            if view.id == run_id:
                return view
        raise UsageError(f"sweep {sweep_id} has no run {run_id!r}")
