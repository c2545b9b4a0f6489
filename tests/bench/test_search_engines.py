"""bench/searchbench/engines.py: how the peers' 4 workers are simulated.

The parallel figures of every peer depend on what each of its suggestions knows: these tests
pin the order of asks and tells (4 asked one after another, then one told and one asked with 3
in flight) and run Optuna's GP through it for real.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from problems import evaluate  # noqa: E402
from searchbench import engines  # noqa: E402


class Recorder:
    """An engine that numbers its configs and notes, at each ask, how many are in flight."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.told: list[dict[str, Any]] = []
        self.in_flight_at_ask: list[int] = []

    def ask(self, n: int) -> list[dict[str, Any]]:
        self.in_flight_at_ask.append(len(self.asked) - len(self.told))
        made = [{"x1": 0.1 * len(self.asked) + 0.01 * i, "x2": 1.0} for i in range(n)]
        self.asked += made
        return made

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None:
        assert len(configs) == len(values)
        self.told += configs


def test_asynchronous_workers_tell_the_oldest_and_ask_with_three_in_flight() -> None:
    engine = Recorder()
    trace = engines.run_parallel(engine, "branin", budget=10, workers=4)
    # 4 asked one after another, then always 3 in flight when the next is asked
    assert engine.in_flight_at_ask == [0, 1, 2, 3, 3, 3, 3, 3, 3, 3]
    assert engine.told == engine.asked == trace.configs  # told oldest first, every one once
    assert trace.values == [evaluate("branin", c) for c in trace.configs]


def test_rounds_ask_a_whole_batch_after_the_last_is_told() -> None:
    engine = Recorder()
    trace = engines.run_rounds(engine, "branin", budget=10, batch=4)
    assert engine.in_flight_at_ask == [0, 0, 0]  # asks of 4, 4 and 2, nothing in flight
    assert len(trace.configs) == 10 and engine.told == engine.asked


def test_fewer_runs_than_workers_are_all_asked_then_told() -> None:
    engine = Recorder()
    trace = engines.run_parallel(engine, "branin", budget=2, workers=4)
    assert engine.in_flight_at_ask == [0, 1] and engine.told == engine.asked == trace.configs


class WatchedStudy(engines.OptunaEngine):
    """Optuna's engine, noting how many of its study's trials run when it is asked."""

    def __init__(self, problem: str, seed: int, sampler: str) -> None:
        super().__init__(problem, seed, sampler)
        self.running_at_ask: list[int] = []

    def ask(self, n: int) -> list[dict[str, Any]]:
        states = [t.state.name for t in self.study.trials]
        self.running_at_ask.append(states.count("RUNNING"))
        return super().ask(n)


def test_optunas_gp_runs_asynchronously_with_its_trials_in_flight() -> None:
    engine = WatchedStudy("branin", seed=0, sampler="gp")
    trace = engines.run_parallel(engine, "branin", budget=14, workers=4)
    assert engine.running_at_ask == [0, 1, 2] + [3] * 11  # the GP sees them as running
    trials = engine.study.trials
    assert len(trials) == 14 and all(t.state.name == "COMPLETE" for t in trials)
    assert [t.params for t in trials] == trace.configs
    assert [t.value for t in trials] == trace.values
    assert len({tuple(sorted(c.items())) for c in trace.configs}) == 14


def test_hebo_alone_runs_in_rounds_in_parallel_mode(monkeypatch, tmp_path) -> None:
    made: dict[str, Recorder] = {}

    def recorder(engine: str, problem: str, seed: int) -> Recorder:
        made[engine] = Recorder()
        return made[engine]

    monkeypatch.setattr(engines, "make_engine", recorder)
    for name in ("hebo", "ax-botorch", "wandb-bayes"):
        engines.run(name, "branin", seed=0, budget=8, workers=4, work=tmp_path)
    assert made["hebo"].in_flight_at_ask == [0, 0]  # two batches of 4
    assert made["ax-botorch"].in_flight_at_ask == made["wandb-bayes"].in_flight_at_ask
    assert made["ax-botorch"].in_flight_at_ask == [0, 1, 2, 3, 3, 3, 3, 3]
    engines.run("ax-botorch", "branin", seed=0, budget=3, workers=1, work=tmp_path)
    assert made["ax-botorch"].in_flight_at_ask == [0, 0, 0]  # one at a time
