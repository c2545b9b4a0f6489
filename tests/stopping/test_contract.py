"""The contract every early-termination rule keeps (see ``sweepctl/stopping/__init__.py``)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepctl.search import RunRecord
from sweepctl.spec import build_spec
from sweepctl.spec.model import SweepSpec
from sweepctl.stopping import RULES, SHOULD_STOP, rule, should_stop

# Each rule's example blocks: a new rule adds its own here and runs through the same checks.
EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "hyperband": [
        {"type": "hyperband", "min_iter": 1, "eta": 2},
        {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3, "strict": False},
        {"type": "hyperband", "min_iter": 2, "eta": 1.5},
    ],
}
CASES = [(name, block) for name, blocks in EXAMPLES.items() for block in blocks]
STATES = ("running", "finished", "failed", "crashed", "stopped", "killed", "preempted")

values = st.one_of(st.integers(-3, 3).map(float), st.floats(-10, 10, allow_nan=False))
runs_strategy = st.lists(
    st.tuples(st.sampled_from(STATES), st.lists(values, max_size=12)), max_size=10
).map(
    lambda items: [
        RunRecord(run_id=f"r{i}", state=state, config={}, history=tuple(history))
        for i, (state, history) in enumerate(items)
    ]
)


def spec_of(block: dict[str, Any], goal: str) -> SweepSpec:
    return build_spec(
        {
            "method": "random",
            "metric": {"name": "loss", "goal": goal},
            "early_terminate": dict(block),
            "parameters": {"a": {"values": [1, 2]}},
        }
    )


def test_every_rule_has_examples() -> None:
    assert set(EXAMPLES) == set(RULES)


def test_unknown_rule_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown early_terminate type 'median'"):
        rule("median")


@pytest.mark.parametrize(
    ("name", "block"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)]
)
@settings(max_examples=60, deadline=None)
@given(runs=runs_strategy, goal=st.sampled_from(["minimize", "maximize"]))
def test_rule_contract(name: str, block: dict[str, Any], runs: list[RunRecord], goal: str) -> None:
    spec = spec_of(block, goal)
    decide = rule(name)
    result = decide(spec, runs)

    running = {r.run_id for r in runs if r.state == "running"}
    assert set(result) <= running  # only running runs are stopped
    for reason in result.values():
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason

    assert should_stop(spec, runs) == result  # the sweep's own rule is this one
    assert decide(spec, list(reversed(runs))) == result  # order of runs does not matter
    assert decide(spec, runs) == result  # no hidden state

    if len([r for r in runs if r.history]) <= 1:
        assert result == {}  # a run is never stopped by comparison with itself alone


def test_no_early_terminate_stops_nothing() -> None:
    spec = build_spec({"method": "random", "parameters": {"a": {"values": [1]}}})
    runs = [RunRecord(run_id="r", state="running", config={}, history=(9.0,) * 30)]
    assert should_stop(spec, runs) == {}


def test_every_rule_the_spec_accepts_has_a_should_stop_function() -> None:
    assert sorted(SHOULD_STOP) == sorted(RULES)
