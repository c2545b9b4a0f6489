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

from sweepctl.domain import REQUEUED_STATES, RunState, config_key
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


def interrupted(run: Run) -> bool:
    """Whether a run was ended by its agent's interrupt (Ctrl-C), not by anyone's decision:
    `stop --cancel` and early termination ask for the stop first (``stop_requested``)."""
    return run.state == RunState.KILLED and run.stop_requested is None


def offered_again(run: Run) -> bool:
    """Whether a run's config is always offered again, without using up retries: an
    interrupted run, or one the user requeued (`sweepctl requeue`)."""
    return interrupted(run) or run.state == RunState.REQUEUED


def _unresolved(spec: SweepSpec, runs: list[Run]) -> tuple[set[str], Counter[str]]:
    """The configs (by key) with no attempt that counts, and each config's retried attempts.

    An attempt counts when it is running or ended by the program or a decision: finished,
    failed (unless ``retry_failed``), stopped, timeout, killed by a cancel. Crashed and
    preempted attempts use up ``retries``; interrupted ones (Ctrl-C) do not: the person who
    pressed it did not judge the config.
    """
    again = set(REQUEUED_STATES) | ({"failed"} if spec.options.get("retry_failed") else set())
    attempts: Counter[str] = Counter()
    settled: set[str] = set()
    keys: dict[str, None] = {}
    for run in runs:
        key = config_key(run.config)
        keys[key] = None
        if offered_again(run):
            continue
        if run.state in again:
            attempts[key] += 1
        else:
            settled.add(key)
    return {k for k in keys if k not in settled}, attempts


def requeued(spec: SweepSpec, runs: list[Run]) -> dict[str, Any] | None:
    """The config of the oldest run that ended through no fault of its own, to run again.

    Interrupted runs (Ctrl-C on their agent) and requeued ones are always offered again;
    crashed (agent lost) and preempted (agent sent SIGTERM) runs, and failed ones with
    ``retry_failed``, while
    the config has had at most ``retries`` such attempts beyond the first. Never while an
    attempt of the config is running or has ended any other way.
    """
    again = set(REQUEUED_STATES) | ({"failed"} if spec.options.get("retry_failed") else set())
    if not any(r.state in again or offered_again(r) for r in runs):
        return None  # the common case, without a config key for every run at every claim
    retries = int(spec.options.get("retries", RETRIES))
    open_keys, attempts = _unresolved(spec, runs)
    for run in runs:
        key = config_key(run.config)
        if key in open_keys and attempts[key] <= retries:
            return run.config
    return None


def unresolved(spec: SweepSpec, runs: list[Run]) -> int:
    """How many configs have runs but no attempt that counts (past their retries)."""
    return len(_unresolved(spec, runs)[0])


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
        lost = unresolved(spec, runs)
        if lost:
            # Not finished: those points have no result. The sweep stays running.
            return DONE, (
                f"every configuration is handed out, but {lost} ha{'ve' if lost != 1 else 's'} "
                "no result: crashed or preempted more often than `sweepctl.retries` allows"
            )
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
