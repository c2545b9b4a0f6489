"""The local controller: decides, under the sweep's lock, whether and what to run next.

It joins the store (history), the search method (next config) and the sweep's own rules
(state, ``run_cap``, ``metric.target``). W&B's cloud server applies ``run_cap`` and
``metric.target``; the local controller applies them the same way.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

from sweepctl.domain import REQUEUED_STATES, config_key
from sweepctl.duration import parse_duration
from sweepctl.records import Run, Sweep, search_records
from sweepctl.search.methods import method
from sweepctl.spec.model import Metric, SweepSpec
from sweepctl.stopping import should_stop
from sweepctl.store import Store

# What `decide` can answer: start a run, wait (paused), stop (nothing more will come).
RUN, WAIT, DONE, FINISH = "run", "wait", "done", "finish"
HEARTBEAT_TIMEOUT = 60.0  # default `sweepctl: {heartbeat_timeout}`
RETRIES = 1  # default `sweepctl: {retries}`: a crashed or preempted config runs once more


def heartbeat_timeout(spec: SweepSpec) -> float:
    """Seconds after which a running run whose agent is silent counts as crashed."""
    value = spec.options.get("heartbeat_timeout")
    return parse_duration(value) if value is not None else HEARTBEAT_TIMEOUT


def requeued(spec: SweepSpec, runs: list[Run]) -> dict[str, Any] | None:
    """The config of the oldest run that ended through no fault of its own, to run again.

    Crashed (agent lost) and preempted (agent sent SIGTERM) runs are retried, and failed
    ones with ``retry_failed``, while the config has had at most ``retries`` retries and no
    attempt of it is running or has ended any other way.
    """
    again = set(REQUEUED_STATES) | ({"failed"} if spec.options.get("retry_failed") else set())
    if not any(r.state in again for r in runs):
        return None  # the common case, without a config key for every run at every claim
    retries = int(spec.options.get("retries", RETRIES))
    attempts = Counter(config_key(r.config) for r in runs)
    settled = {config_key(r.config) for r in runs if r.state not in again}
    for run in runs:
        key = config_key(run.config)
        if run.state in again and key not in settled and attempts[key] <= retries:
            return run.config
    return None


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


def end_reached(spec: SweepSpec, runs: list[Run]) -> str | None:
    """Why the sweep is over by its own rules (``run_cap``, ``metric.target``), or None."""
    if spec.run_cap is not None and len(runs) >= spec.run_cap:
        return f"run_cap {spec.run_cap} reached"
    winner = target_reached(spec.metric, runs)
    if winner is not None and spec.metric is not None:
        return f"run {winner.id} reached the target {spec.metric.name} = {spec.metric.target:g}"
    return None


def decide(sweep: Sweep, runs: list[Run], spec: SweepSpec | None = None) -> tuple[str, Any]:
    """The next step for a sweep with these runs: ``(RUN, config)``, ``(WAIT, why)``, ..."""
    if sweep.state == "paused":
        return WAIT, "the sweep is paused"
    if sweep.state != "running":
        return DONE, f"the sweep is {sweep.state}" + (
            f" ({sweep.state_reason})" if sweep.state_reason else ""
        )
    spec = spec or sweep.spec
    done = end_reached(spec, runs)
    if done is not None:
        return FINISH, done
    retry = requeued(spec, runs)
    if retry is not None:
        return RUN, retry
    seed = spec.options.get("seed")
    rng = random.Random(seed) if seed is not None else random.Random()
    config = method(spec.method)(spec, search_records(runs), rng)
    if config is None:
        running = sum(r.state == "running" for r in runs)
        if running:
            # Not finished yet: a running run that crashes would be offered again.
            return DONE, f"every configuration is handed out; {running} still running"
        if spec.method == "grid":
            return FINISH, f"all grid points have been handed out ({len(runs)} runs)"
        return FINISH, f"the search space is used up: all {len(runs)} configurations have run"
    return RUN, config


def next_run(store: Store, sweep_id: str, agent_id: str, spec: SweepSpec) -> tuple[str, Any]:
    """Claim the next run of a sweep for an agent, atomically across agents and machines."""
    return store.claim(
        sweep_id,
        agent_id,
        lambda sweep, runs: decide(sweep, runs, spec),
        stale_after=heartbeat_timeout(spec),
    )


def early_stops(store: Store, sweep_id: str, spec: SweepSpec) -> dict[str, str]:
    """Apply the sweep's early-termination rule to all its runs; ask the losers to stop.

    Called whenever an agent records new metric values, so a run is judged the moment the
    data that condemns it exists, whichever agent runs it. Returns ``{run_id: reason}``.
    """
    if spec.early_terminate is None:
        return {}
    decisions = should_stop(spec, search_records(store.runs(sweep_id)))
    if decisions:
        store.request_run_stops({run_id: f"early stop: {why}" for run_id, why in decisions.items()})
    return decisions


def settle(store: Store, sweep_id: str, spec: SweepSpec) -> None:
    """Mark a sweep finished when its cap or target is reached and nothing is running.

    An agent that stops at its ``--count`` asks for no next run, so without this a sweep
    whose last runs reached ``run_cap`` would stay "running" until someone asked.
    """

    def check(sweep: Sweep, runs: list[Run]) -> tuple[str, Any]:
        if sweep.state != "running" or any(r.state == "running" for r in runs):
            return WAIT, None
        done = end_reached(spec, runs)
        return (WAIT, None) if done is None else (FINISH, done)

    store.claim(sweep_id, "", check, stale_after=heartbeat_timeout(spec))
