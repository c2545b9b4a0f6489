"""The local controller: decides, under the sweep's lock, whether and what to run next.

It joins the store (history), the search method (next config) and the sweep's own rules
(state, ``run_cap``, ``metric.target``). W&B's cloud server applies ``run_cap`` and
``metric.target``; the local controller applies them the same way.
"""

from __future__ import annotations

import math
import random
from typing import Any

from sweepctl.search import RunRecord, method
from sweepctl.spec.model import Metric, SweepSpec
from sweepctl.store import Run, Store, Sweep

# What `decide` can answer: start a run, wait (paused), stop (nothing more will come).
RUN, WAIT, DONE, FINISH = "run", "wait", "done", "finish"


def target_reached(metric: Metric | None, runs: list[Run]) -> Run | None:
    """The first finished run whose metric reaches ``metric.target``, if any."""
    if metric is None or metric.target is None:
        return None
    for run in runs:
        if run.state != "finished" or run.metric is None or not math.isfinite(run.metric):
            continue
        if (run.metric >= metric.target) if metric.maximize else (run.metric <= metric.target):
            return run
    return None


def records(runs: list[Run]) -> list[RunRecord]:
    """What the search methods see of the store's runs."""
    return [
        RunRecord(
            run_id=r.id, state=r.state, config=r.config, metric=r.metric, history=tuple(r.history)
        )
        for r in runs
    ]


def decide(sweep: Sweep, runs: list[Run], spec: SweepSpec | None = None) -> tuple[str, Any]:
    """The next step for a sweep with these runs: ``(RUN, config)``, ``(WAIT, why)``, ..."""
    if sweep.state == "paused":
        return WAIT, "the sweep is paused"
    if sweep.state != "running":
        return DONE, f"the sweep is {sweep.state}" + (
            f" ({sweep.state_reason})" if sweep.state_reason else ""
        )
    spec = spec or sweep.spec
    if spec.run_cap is not None and len(runs) >= spec.run_cap:
        return FINISH, f"run_cap {spec.run_cap} reached"
    winner = target_reached(spec.metric, runs)
    if winner is not None:
        return FINISH, (
            f"run {winner.id} reached the target {spec.metric.name} = {spec.metric.target:g}"
        )
    seed = spec.options.get("seed")
    rng = random.Random(seed) if seed is not None else random.Random()
    config = method(spec.method)(spec, records(runs), rng)
    if config is None:
        return FINISH, f"all {len(runs)} grid points have been handed out"
    return RUN, config


def next_run(store: Store, sweep_id: str, agent_id: str, spec: SweepSpec) -> tuple[str, Any]:
    """Claim the next run of a sweep for an agent, atomically across agents and machines."""
    return store.claim(sweep_id, agent_id, lambda sweep, runs: decide(sweep, runs, spec))


def early_stops(store: Store, sweep_id: str, spec: SweepSpec) -> dict[str, str]:
    """Apply the sweep's early-termination rule to all its runs; ask the losers to stop.

    Called whenever an agent records new metric values, so a run is judged the moment the
    data that condemns it exists, whichever agent runs it. Returns ``{run_id: reason}``.
    """
    if spec.early_terminate is None:
        return {}
    from sweepctl.stopping import should_stop

    decisions = should_stop(spec, records(store.runs(sweep_id)))
    if decisions:
        store.request_run_stops({run_id: f"early stop: {why}" for run_id, why in decisions.items()})
    return decisions
