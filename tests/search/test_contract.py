"""The contract every search method keeps, checked the same way for grid, random and bayes.

* every value lies inside its distribution, with the type W&B gives it;
* the goal is respected: a method that reads the metric suggests the same config for
  (minimize, v) as for (maximize, -v), and heads for good values; one that does not read it
  (grid, random) suggests the same config whatever the values and the goal;
* a seed and a history fix the suggestion (grid is the same for every seed, as in W&B);
* agents claiming at once never get a config that a finished, running or pending run holds,
  and a used-up discrete space ends the sweep (None). Random search keeps W&B's semantics
  instead: independent draws, where every claim (in flight or not) moves the stream on, so
  it never repeats a continuous config but may repeat a discrete one, exactly as W&B does.

A new method is added to METHODS and runs through all of it.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from search_forms import EVERY_FORM, check_every_form

from sweepctl.domain import METHODS
from sweepctl.search import RunRecord, bayes
from sweepctl.search import random as random_search
from sweepctl.search.bayes import Settings
from sweepctl.search.grid import value_key
from sweepctl.search.methods import SUGGEST, method
from sweepctl.spec.model import build_spec

READS_METRIC = {"grid": False, "random": False, "bayes": True}

# A discrete space every method can search (grid needs one): values of mixed types that a
# careless key would merge (None, False, 0, "0"), a constant, a nested parameter. 54 points.
DISCRETE: dict[str, Any] = {
    "opt": {"values": ["adam", "sgd", None]},
    "flag": {"values": [False, 0, "0"]},
    "layers": {"values": [1, 2, 4]},
    "seed": {"value": 7},
    "head": {"parameters": {"dropout": {"values": [0.1, 0.5]}}},
}
# A smaller one to use up, with the same traps: 18 points.
SMALL = {key: value for key, value in DISCRETE.items() if key != "layers"}
SMALL_SIZE = 3 * 3 * 2
CONTINUOUS: dict[str, Any] = {
    "x": {"min": -5.0, "max": 5.0},
    "lr": EVERY_FORM["log_uniform_values"],
}


def spec_of(name: str, parameters: dict[str, Any], goal: str = "minimize") -> Any:
    return build_spec(
        {
            "method": name,
            "metric": {"name": "loss", "goal": goal},
            "parameters": parameters,
            "sweepctl": {"seed": 3},
        }
    )


def suggest(name: str, spec: Any, history: list[RunRecord], seed: int = 3) -> Any:
    return method(name)(spec, history, random.Random(seed))


def loss(config: dict[str, Any]) -> float:
    """A deterministic stand-in for a training run, defined on every space used here."""
    if "x" in config:
        return (config["x"] - 1.0) ** 2
    if "layers" in config:
        return float(config["layers"]) + (0.3 if config["opt"] == "sgd" else 0.0)
    return sum(ord(ch) for ch in repr(config)) % 97 / 97


def in_values(value: Any, choices: list[Any]) -> bool:
    """``value`` is one of ``choices``, with its type: False is not 0, 0 is not "0"."""
    return any(value_key(value) == value_key(choice) for choice in choices)


def check_discrete(config: dict[str, Any]) -> None:
    assert list(config) == ["flag", "layers", "opt", "seed", "head"]  # W&B's order: nested last
    for key in ("opt", "flag", "layers"):
        assert in_values(config[key], DISCRETE[key]["values"]), (key, config[key])
    assert config["seed"] == 7 and type(config["seed"]) is int
    assert in_values(config["head"]["dropout"], [0.1, 0.5])


def sweep(name: str, spec: Any, runs: int, states=("finished",)) -> list[RunRecord]:
    """``runs`` claims, the k-th run ending in ``states[k % len(states)]``."""
    history: list[RunRecord] = []
    for i in range(runs):
        config = suggest(name, spec, history)
        assert config is not None
        state = states[i % len(states)]
        value = loss(config) if state == "finished" else None
        history.append(RunRecord(f"r{i}", state, config, value))
    return history


@pytest.mark.parametrize("name", METHODS)
def test_values_lie_inside_their_distributions_with_wandb_types(name: str) -> None:
    states = ("finished", "failed", "finished", "running")
    for run in sweep(name, spec_of(name, DISCRETE), 14, states):
        check_discrete(run.config)
    if name == "grid":
        return  # grid takes discrete parameters only (validation rejects the rest)
    # random search draws from the whole normal distribution; bayes clips it at 3.8 sigma
    within = None if name == "random" else 3.8
    for run in sweep(name, spec_of(name, EVERY_FORM), 8, states):  # bayes: 4 + 4 model
        check_every_form(run.config, normals_within=within)


# grid takes discrete parameters only (validation rejects the rest)
SPACES = [
    (n, sp)
    for n in METHODS
    for sp in ("discrete", "continuous")
    if (n, sp) != ("grid", "continuous")
]


@pytest.mark.parametrize(("name", "space"), SPACES)
def test_the_goal_is_respected(name: str, space: str) -> None:
    parameters = DISCRETE if space == "discrete" else CONTINUOUS
    runs = sweep(name, spec_of(name, parameters), 9)
    flipped = [RunRecord(r.run_id, r.state, r.config, -r.metric) for r in runs]
    minimize = suggest(name, spec_of(name, parameters, "minimize"), runs)
    assert suggest(name, spec_of(name, parameters, "maximize"), flipped) == minimize
    if not READS_METRIC[name]:
        scrambled = [RunRecord(r.run_id, r.state, r.config, 0.0) for r in runs]
        assert suggest(name, spec_of(name, parameters, "maximize"), scrambled) == minimize


def test_methods_that_read_the_metric_head_for_good_values() -> None:
    for name in (n for n in METHODS if READS_METRIC[n]):
        for goal in ("minimize", "maximize"):
            spec = spec_of(name, {"x": {"min": 0.0, "max": 1.0}}, goal)
            history: list[RunRecord] = []
            for i in range(14):
                config = suggest(name, spec, history)
                history.append(RunRecord(f"r{i}", "finished", config, config["x"]))
            best = (min if goal == "minimize" else max)(r.metric for r in history)
            assert (best < 0.05) if goal == "minimize" else (best > 0.95), (name, goal, best)


@pytest.mark.parametrize("name", METHODS)
def test_a_seed_and_a_history_fix_the_suggestion(name: str) -> None:
    spec = spec_of(name, DISCRETE)
    for runs in (0, 3, 7):  # bayes: quasi-random phase, then the model
        history = sweep(name, spec, runs, ("finished", "running"))
        first = suggest(name, spec, history, seed=5)
        assert suggest(name, spec, history, seed=5) == first
        others = {value_key(suggest(name, spec, history, seed=s)) for s in range(6, 12)}
        if name == "grid":
            assert others == {value_key(first)}  # W&B's grid order does not depend on a seed
        elif name == "random" or runs < 4:
            # random draws and bayes' first (quasi-random) configs follow the seed; a model's
            # choice need not (a confident GP picks the same point for any seed)
            assert others - {value_key(first)}, "other seeds give other configs"


def claims(name: str, spec: Any, total: int, agents: int = 4) -> list[Any]:
    """``agents`` agents claiming at once: each claim sees the earlier ones, the oldest of
    them finishing whenever ``agents`` are in flight (or failing, every third)."""
    history: list[RunRecord] = []
    out = []
    for i in range(total):
        config = suggest(name, spec, history)
        out.append(config)
        if config is None:
            break
        history.append(RunRecord(f"r{i}", "running", config))
        in_flight = [k for k, r in enumerate(history) if r.state == "running"]
        if len(in_flight) >= agents:
            k = in_flight[0]
            done = history[k]
            state = "failed" if k % 3 == 2 else "finished"
            value = loss(done.config) if state == "finished" else None
            history[k] = RunRecord(done.run_id, state, done.config, value)
    return out


@pytest.mark.parametrize("name", ["grid", "bayes"])
def test_agents_claiming_at_once_never_share_a_config_and_the_space_runs_out(name: str) -> None:
    got = claims(name, spec_of(name, SMALL), SMALL_SIZE + 1)
    configs, last = got[:-1], got[-1]
    assert None not in configs
    assert len({value_key(c) for c in configs}) == SMALL_SIZE  # every point exactly once
    assert last is None  # then the sweep is over


def test_bayes_with_the_model_never_duplicates_runs_in_flight() -> None:
    """The GP phase (the test above is mostly the quasi-random and enumeration phases of a
    small space): 4 agents over a continuous-by-integer space, all claims distinct."""
    spec = spec_of("bayes", {"x": {"min": -5.0, "max": 5.0}, "k": {"min": 1, "max": 3}})
    configs = claims("bayes", spec, 24)
    assert len({value_key(c) for c in configs}) == len(configs)


def test_bayes_tpe_never_duplicates_runs_in_flight() -> None:
    spec = spec_of("bayes", {"k": {"min": 1, "max": 6}, "o": {"values": ["a", "b", "c"]}})
    history: list[RunRecord] = []
    tpe = Settings(sampler="tpe")
    for i in range(18):  # 18 points in all: the last claims find the few left
        config = bayes.suggest(spec, history, random.Random(1), tpe)
        assert config is not None and value_key(config) not in {
            value_key(r.config) for r in history
        }
        history.append(RunRecord(f"r{i}", "running" if i % 2 else "finished", config, 1.0))
    assert bayes.suggest(spec, history, random.Random(1), tpe) is None


def test_random_claims_in_flight_move_the_stream_on() -> None:
    """Random search never hands two agents the same continuous config: a claim in flight
    counts like a finished one. On a discrete space it repeats points, as W&B does."""
    spec = spec_of("random", CONTINUOUS)
    configs = claims("random", spec, 20)
    assert len({value_key(c) for c in configs}) == 20
    seeded = [
        random_search.suggest(spec, [RunRecord("x", "finished", {})] * k, random.Random(3))
        for k in range(20)
    ]
    assert configs == seeded  # the k-th claim is the k-th config of W&B's stream, whatever ran
    # On a discrete space too the claims are W&B's stream, repeats and all (not de-duplicated)
    small = spec_of("random", {"k": {"values": [1, 2, 3]}})
    stream = [
        random_search.suggest(small, [RunRecord("x", "finished", {})] * k, random.Random(3))
        for k in range(8)
    ]
    assert claims("random", small, 8) == stream


def test_every_method_the_spec_accepts_has_a_suggest_function() -> None:
    assert sorted(SUGGEST) == sorted(METHODS)
    assert all(method(name) is SUGGEST[name] for name in METHODS)
    with pytest.raises(ValueError, match="unknown search method"):
        method("hyperopt")
