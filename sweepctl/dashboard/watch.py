"""What the dashboard's pages show, read through a backend and turned into plain JSON data.

Everything is read with the backend's own methods; where the local backend offers a cheaper,
read-only way for a view that asks every second (``read_runs``, ``live_agents``,
``log_tail``), it is used, so a page left open never writes to the store nor holds it
locked. Figures are the report's own descriptions (:mod:`sweepctl.results.report.figures`)
drawn by the report's Plotly renderer: the static page and the live one show one thing.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import yaml

from sweepctl.backends import factory
from sweepctl.domain import CONTROL_FROM, RUN_STATES
from sweepctl.errors import UsageError
from sweepctl.ranking import counts
from sweepctl.records import search_records
from sweepctl.results.export import best_run
from sweepctl.results.report.data import MISSING, ReportData, collect, format_value
from sweepctl.results.report.figures import (
    best_so_far_plot,
    importance_bars,
    parallel_coordinates,
    run_curves,
)
from sweepctl.results.report.html import plotly_figures
from sweepctl.results.report.stats import parameter_importance
from sweepctl.run_metric import metric_history
from sweepctl.search.grid import grid_points
from sweepctl.stopping import saved_iterations

if TYPE_CHECKING:
    from sweepctl.backends.base import Backend
    from sweepctl.records import Run, Sweep

ACTIONS = ("stop", "pause", "resume", "cancel")
LOG_LINES = 40


class ReadOnly(UsageError):
    """A control asked of a sweep shown read-only."""


@dataclass
class _Importance:
    key: tuple[Any, ...]  # what the scored runs were
    payload: dict[str, Any]
    at: float  # time.monotonic() when computed


# A forest on thousands of runs takes seconds: while a large sweep runs, importance is
# computed again only when the scored runs grew by a tenth or a minute has passed.
IMPORTANCE_EVERY = 60.0


def _fresh(cached: _Importance, scored: int) -> bool:
    grown = scored - cached.key[0]
    young = time.monotonic() - cached.at < IMPORTANCE_EVERY
    return young and 0 <= grown < max(1, cached.key[0] // 10)


class Watch:
    """The dashboard's reads: every sweep of the local store (``backend``), and the W&B
    sweeps named by path (``remote``, read-only); one sweep in full; a run's log."""

    def __init__(
        self,
        backend: Backend | None,
        *,
        read_only: bool = False,
        remote: Backend | None = None,
        remote_refs: Sequence[str] = (),
    ) -> None:
        self.backend = backend
        self.read_only = read_only
        self.remote = remote
        self.remote_refs = tuple(remote_refs)
        self._importance: dict[str, _Importance] = {}
        self._histories: dict[str, tuple[int, list[float]]] = {}  # W&B runs: steps, values
        self._lock = threading.Lock()  # the importance cache, across request threads

    # -- reads ---------------------------------------------------------------------------------
    def _for(self, ref: str) -> Backend:
        """The backend that holds the sweep ``ref`` names (the factory tells them apart)."""
        if factory.parse_ref(ref).controller == "wandb":
            if self.remote is None or ref not in self.remote_refs:
                raise UsageError(
                    f"{ref} is not shown here",
                    hint=f"name it when starting the dashboard: sweepctl dashboard {ref}",
                )
            return self.remote
        if self.backend is None:
            raise UsageError(f"no sweep {ref!r}: this dashboard shows W&B sweeps only")
        return self.backend

    def _runs(self, backend: Backend, sweep_id: str, *, notice_lost: bool = False) -> list[Run]:
        """The runs; read-only where the backend can (``notice_lost`` marks lost runs, a
        write, as every other command does when it looks)."""
        reader = getattr(backend, "read_runs", None)
        if notice_lost or reader is None:
            runs = backend.runs(sweep_id)
        else:
            runs = reader(sweep_id)
        if backend is self.remote:
            runs = self._with_history(backend, sweep_id, runs)
        return runs

    def _with_history(self, backend: Backend, sweep_id: str, runs: list[Run]) -> list[Run]:
        """W&B's runs come without their metric's history (one request a run): read it for
        the curves, again only for runs that logged more since."""
        metric = backend.get_sweep(sweep_id).spec.metric
        if metric is None:
            return runs
        out = []
        for run in runs:
            if not run.history and run.steps:
                with self._lock:
                    known = self._histories.get(run.id)
                if known is None or known[0] != run.steps:
                    values = metric_history(backend.history(run.id), metric.name)
                    known = (run.steps, values)
                    with self._lock:
                        self._histories[run.id] = known
                run = replace(run, history=known[1])
            out.append(run)
        return out

    @staticmethod
    def _agents(backend: Backend) -> dict[str, int] | None:
        live = getattr(backend, "live_agents", None)
        return live() if live is not None else None

    def _open(self, ref: str) -> tuple[Backend, Sweep]:
        backend = self._for(ref)
        return backend, backend.get_sweep(ref)

    def sweep(self, ref: str) -> Sweep:
        """The sweep ``ref`` names (a UsageError, said as 404, when there is none)."""
        return self._open(ref)[1]

    def open(self, ref: str) -> Sweep:
        """The sweep a person opens the page of; runs of silent agents are marked crashed
        then (a short write), as every command does when it looks."""
        backend, sweep = self._open(ref)
        self._runs(backend, sweep.id, notice_lost=True)
        return sweep

    # -- the sweeps page -----------------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        """Every sweep: state, method, progress, best value, agents alive."""
        rows = []
        if self.backend is not None:
            counts = self.backend.run_counts()
            agents = self._agents(self.backend)
            for sweep in reversed(self.backend.sweeps()):  # newest first
                rows.append(self._row(self.backend, sweep, counts.get(sweep.id, {}), agents))
        for ref in self.remote_refs:
            backend, sweep = self._open(ref)
            by_state: dict[str, int] = {}
            for run in backend.runs(sweep.id):
                by_state[run.state] = by_state.get(run.state, 0) + 1
            rows.append(self._row(backend, sweep, by_state, None))
        return {"sweeps": rows, "now": time.time()}

    def _row(
        self,
        backend: Backend,
        sweep: Sweep,
        by_state: dict[str, int],
        agents: dict[str, int] | None,
    ) -> dict[str, Any]:
        metric = sweep.spec.metric
        best = None
        if metric is not None and by_state:
            found = best_run(metric, self._runs(backend, sweep.id))
            best = None if found is None else {"run": found.id, "value": found.metric}
        return {
            "id": sweep.id,
            "name": sweep.name,
            "label": sweep.label,
            "where": backend.kind,
            "state": sweep.state,
            "state_reason": sweep.state_reason,
            "method": sweep.method,
            "metric": _metric_json(sweep),
            "runs_by_state": by_state,
            "progress": _progress(sweep, sum(by_state.values())),
            "best": best,
            "agents": None if agents is None else agents.get(sweep.id, 0),
            "created_at": sweep.created_at,
        }

    # -- one sweep -----------------------------------------------------------------------------
    def detail(self, ref: str, since: str | None = None) -> dict[str, Any]:
        """One sweep in full: its runs table, best run, figures; or, when nothing changed
        since the version ``since``, only that."""
        backend, sweep = self._open(ref)
        runs = self._runs(backend, sweep.id)
        version = _version(sweep, runs)
        if since == version:
            return {"version": version, "changed": False}
        data = report_data(sweep, runs)
        agents = self._agents(backend)
        by_state: dict[str, int] = {}
        for run in runs:
            by_state[run.state] = by_state.get(run.state, 0) + 1
        best = data.best
        return {
            "version": version,
            "changed": True,
            "now": time.time(),
            "sweep": {
                "id": sweep.id,
                "label": sweep.label,
                "name": sweep.name,
                "state": sweep.state,
                "state_reason": sweep.state_reason,
                "method": sweep.method,
                "metric": _metric_json(sweep),
                "source": sweep.source,
                "created_at": sweep.created_at,
            },
            "runs_by_state": by_state,
            "progress": _progress(sweep, len(runs)),
            "agents": None if agents is None else agents.get(sweep.id, 0),
            "early": _early(runs),
            "columns": [c.name for c in data.params],
            "runs": [_run_json(data, r) for r in runs],
            "best": None if best is None else _best_json(best),
            "figures": self._figures(data),
            "actions": self.actions(sweep) if backend is self.backend else [],
            "states": list(RUN_STATES),
            "where": backend.kind,
            "poll_ms": _poll_ms(backend, sweep, by_state),
        }

    def actions(self, sweep: Sweep) -> list[str]:
        """The controls that apply to the sweep in its state (none when read-only)."""
        if self.read_only:
            return []
        return [a for a in ACTIONS if sweep.state in CONTROL_FROM[a]]

    def _figures(self, data: ReportData) -> list[dict[str, Any]]:
        described = [run_curves(data), best_so_far_plot(data), parallel_coordinates(data)]
        return [plot for f in described if f is not None for plot in plotly_figures(f)]

    def importance(self, ref: str) -> dict[str, Any]:
        """Parameter importance (a random forest, as the report's), recomputed only when
        the scored runs change."""
        backend, sweep = self._open(ref)
        runs = self._runs(backend, sweep.id)
        scored = [r for r in runs if counts(r.state, r.metric)]  # what the ranking counts
        key = (len(scored), tuple(r.id for r in scored[-3:]), sum(r.metric for r in scored))
        with self._lock:
            cached = self._importance.get(sweep.id)
            if cached is not None and (cached.key == key or _fresh(cached, len(scored))):
                return cached.payload
        data = report_data(sweep, runs)
        found = parameter_importance(data)
        figure = importance_bars(data, found)
        payload = {
            "figures": plotly_figures(figure) if figure is not None else [],
            "reason": found.reason,
        }
        with self._lock:
            self._importance[sweep.id] = _Importance(key, payload, time.monotonic())
        return payload

    def log(self, ref: str, run_id: str, lines: int = LOG_LINES) -> dict[str, Any]:
        """The last lines of a run's output, where the backend keeps them."""
        backend, sweep = self._open(ref)
        run = next((r for r in self._runs(backend, sweep.id) if r.id == run_id), None)
        if run is None:
            return {"run": run_id, "found": False, "lines": []}
        reader = getattr(backend, "log_tail", None)
        if reader is None:
            return {"run": run_id, "found": True, "lines": [], "note": "logs are kept by W&B"}
        return {"run": run_id, "found": True, "state": run.state, "lines": reader(run, lines)}

    def control(self, ref: str, action: str) -> str:
        """Stop, pause, resume or cancel the sweep; what changed."""
        backend, sweep = self._open(ref)
        if backend is not self.backend:
            raise ReadOnly(
                f"sweep {sweep.label} is shown read-only here",
                hint=f"control it on W&B, or with `sweepctl stop {sweep.id}`",
            )
        return backend.control(sweep.id, action)


# -- helpers -----------------------------------------------------------------------------------


class _Given:
    """The runs already read, as a report's run source."""

    def __init__(self, runs: list[Run]) -> None:
        self._runs = runs

    def runs(self, sweep_id: str) -> list[Run]:
        return self._runs

    def history(self, run_id: str) -> list[dict[str, Any]]:
        return []


def report_data(sweep: Sweep, runs: list[Run]) -> ReportData:
    """What the report would gather for one sweep, from runs already read."""
    return collect(_Given(runs), [sweep])


def _poll_ms(backend: Backend, sweep: Sweep, by_state: dict[str, int]) -> int:
    """How often the page asks again: every second while a local sweep can change, every
    5 s once it has ended with nothing running; W&B's servers every 10 s."""
    if backend.kind != "local":
        return 10_000
    live = sweep.state in ("running", "paused") or by_state.get("running", 0) > 0
    return 1000 if live else 5000


def _early(runs: list[Run]) -> dict[str, Any]:
    """Runs early termination stopped, and the metric values they did not log (an estimate
    of the compute saved, as `sweepctl runs` gives it)."""
    stopped = [r.id for r in runs if r.stopped_early]
    saved = sum(saved_iterations(search_records(runs), stopped).values()) if stopped else 0
    done = sum(len(r.history) for r in runs)
    return {"runs": len(stopped), "saved": saved, "share": saved / max(1, saved + done)}


def _version(sweep: Sweep, runs: list[Run]) -> str:
    """A token that changes whenever anything the page shows changes."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{sweep.state}|{sweep.state_reason}|{sweep.updated_at}".encode())
    for r in runs:
        digest.update(f"{r.id}|{r.state}|{r.steps}|{r.metric}|{len(r.history)}|".encode())
    return digest.hexdigest()


def _metric_json(sweep: Sweep) -> dict[str, Any] | None:
    metric = sweep.spec.metric
    return None if metric is None else {"name": metric.name, "goal": metric.goal}


def _progress(sweep: Sweep, runs: int) -> dict[str, Any]:
    """Runs so far against what bounds the sweep: the grid's size, else its run_cap."""
    spec = sweep.spec
    total, bound = None, None
    if spec.method == "grid":
        total, bound = grid_points(spec), "grid"
    if spec.run_cap is not None and (total is None or spec.run_cap < total):
        total, bound = spec.run_cap, "run_cap"
    return {"runs": runs, "total": total, "bound": bound}


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _run_json(data: ReportData, run: Run) -> dict[str, Any]:
    config = {}
    for column in data.params:
        value = column.get(run)
        config[column.name] = None if value is MISSING else format_value(value)
    return {
        "id": run.id,
        "number": run.number,
        "state": run.state,
        "metric": _number(run.metric),
        "steps": run.steps,
        "started_at": run.started_at,
        "duration": run.duration,
        "reason": run.reason,
        "config": config,
        "best": data.is_best(run),
    }


def _best_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "number": run.number,
        "metric": _number(run.metric),
        "state": run.state,
        "config": run.config,
        "json": json.dumps(run.config, indent=2, default=str),
        "yaml": yaml.safe_dump(run.config, sort_keys=False, default_flow_style=False),
    }
