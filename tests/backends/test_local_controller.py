"""The local controller's rules on plain Sweep and Run values: which ended runs are offered
again, and when a sweep whose every point was handed out is finished."""

from __future__ import annotations

from typing import Any

from sweepctl.backends.local.controller import DONE, FINISH, RUN, decide, requeued
from sweepctl.records import Run, Sweep
from sweepctl.spec.model import build_spec

CONFIG: dict[str, Any] = {
    "method": "grid",
    "program": "train.py",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2]}},
}


def sweep(config: dict[str, Any] = CONFIG) -> Sweep:
    return Sweep("s1", None, None, None, "grid", "running", None, config, None, 0.0, 0.0)


def run(n: int, a: int, state: str, stop_requested: str | None = None) -> Run:
    return Run(
        id=f"r{n}",
        sweep_id="s1",
        number=n,
        state=state,
        config={"a": a},
        agent_id=None,
        exit_code=None,
        created_at=float(n),
        started_at=float(n),
        ended_at=float(n) + 1,
        heartbeat_at=None,
        summary={},
        metric=0.5 if state == "finished" else None,
        history=[],
        steps=0,
        reason=None,
        stop_requested=stop_requested,
    )


def test_a_run_interrupted_by_ctrl_c_is_offered_again_however_often() -> None:
    spec = build_spec(CONFIG)
    runs = [run(0, 1, "finished"), *(run(n, 2, "killed") for n in range(1, 6))]
    assert requeued(spec, runs) == {"a": 2}
    assert decide(sweep(), runs) == (RUN, {"a": 2})


def test_a_run_killed_by_a_cancel_is_not_offered_again() -> None:
    spec = build_spec(CONFIG)
    runs = [run(0, 1, "finished"), run(1, 2, "killed", stop_requested="cancel")]
    assert requeued(spec, runs) is None
    assert decide(sweep(), runs)[0] == FINISH


def test_a_point_crashed_past_its_retries_keeps_the_sweep_from_finishing() -> None:
    runs = [run(0, 1, "finished"), run(1, 2, "crashed"), run(2, 2, "crashed")]
    assert requeued(build_spec(CONFIG), runs) is None  # retries: 1 (the default) is spent
    action, why = decide(sweep(), runs)
    assert action == DONE and "1 has no result" in why
    retried = {**CONFIG, "sweepctl": {"retries": 2}}
    assert decide(sweep(retried), runs) == (RUN, {"a": 2})
