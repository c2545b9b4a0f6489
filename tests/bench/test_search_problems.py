"""bench/problems and the peer drivers' value mapping: every engine must see the same space.

The mixed problems use every W&B form the benchmark has (log-scaled, integer, quantised,
categorical); the drivers of HEBO and Ax (bench/searchbench/driver_loop.py) carry categorical
values as positions and quantised ones as step indices, and must map them back exactly.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "searchbench"))

import driver_loop  # noqa: E402
from problems import PROBLEMS, SPLITS, parse_value, wandb_parameters  # noqa: E402
from searchbench.engines import sample  # noqa: E402

MIXED = ("svc_digits", "sgd_digits", "krr_diabetes")
ERROR_RATES = ("svc_digits", "sgd_digits")


@pytest.mark.parametrize("name", MIXED)
def test_mixed_problems_have_every_form(name):
    kinds = {p.kind for p in PROBLEMS[name].params}
    assert kinds == {"categorical", "log_uniform_values", "int_uniform", "q_uniform"}


def test_q_uniform_is_a_wandb_quantised_form_on_its_lattice():
    params = wandb_parameters("sgd_digits")
    assert params["l1_ratio"] == {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.05}
    l1 = next(p for p in PROBLEMS["sgd_digits"].params if p.name == "l1_ratio")
    rng = random.Random(0)
    drawn = {sample(l1, rng) for _ in range(500)}
    assert drawn <= {round(k * 0.05, 10) for k in range(21)}
    assert len(drawn) == 21  # every step, the ends included
    assert parse_value(l1, "0.35") == 0.35


@pytest.mark.parametrize("name", [*MIXED, "surrogate"])
def test_driver_mapping_round_trips_every_value(name):
    rng = random.Random(1)
    for param in PROBLEMS[name].params:
        wire = {
            "name": param.name,
            "kind": param.kind,
            "low": param.low,
            "high": param.high,
            "values": list(param.values),
            "q": param.q,
        }
        for _ in range(50):
            value = sample(param, rng)
            assert driver_loop.from_engine(wire, driver_loop.to_engine(wire, value)) == value
    # categorical values travel as positions: 16 and "16" stay apart
    wire = {"name": "b", "kind": "categorical", "values": [16, "16"], "low": 0, "high": 1, "q": 0}
    assert [driver_loop.to_engine(wire, v) for v in (16, "16")] == ["0", "1"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ERROR_RATES)
def test_mixed_problems_evaluate_to_an_error_rate(name):
    rng = random.Random(2)
    for _ in range(3):
        config = {p.name: sample(p, rng) for p in PROBLEMS[name].params}
        value = PROBLEMS[name].objective(config)
        assert 0.0 <= value <= 1.0
        assert value == PROBLEMS[name].objective(config)  # fixed split and seeds: repeatable


def test_kernel_ridge_is_continuous_capped_and_its_kernel_matters():
    problem = PROBLEMS["krr_diabetes"]
    base = {"alpha": 0.5, "gamma": 0.01, "degree": 3, "coef0": 1.0}
    by_kernel = {k: problem.objective({**base, "kernel": k}) for k in problem.params[0].values}
    assert all(0.0 < v < 1.0 for v in by_kernel.values()), by_kernel  # the mean scores ~1
    assert len(set(by_kernel.values())) == 4
    # a polynomial kernel of degree 5 with a huge gamma and no ridge diverges: the cap
    wild = {"kernel": "polynomial", "alpha": 1e-6, "gamma": 10.0, "degree": 5, "coef0": 3.0}
    assert problem.objective(wild) == 10.0


def test_the_split_halves_share_no_problem_and_no_seed():
    (tune, tune_seeds), (held, held_seeds) = SPLITS["tuning"], SPLITS["held-back"]
    assert set(tune).isdisjoint(held) and set(tune_seeds).isdisjoint(held_seeds)
    assert set(tune) | set(held) <= set(PROBLEMS)
    mixed = {p for p in held if any(q.kind == "categorical" for q in PROBLEMS[p].params)}
    assert len(mixed) >= 2  # the held-back half judges mixed spaces too
