"""Random search and per-distribution sampling against W&B's own engine (make_fidelity.py).

Tolerance: values that W&B computes with numpy's exp/log, scipy's ndtri or scipy's beta
quantile are compared to ``REL_TOL``/``ABS_TOL``. numpy's SIMD exp/log are off by one ulp in
about a quarter of the draws (so W&B's own values depend on the CPU), ndtri and our
``statistics.NormalDist`` differ by up to a few ulps, and our beta quantile is a bisection to
the float. Everything else (categorical, int, uniform, every q_* rounding, key order, types)
is compared bit for bit.
"""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sweepctl.search import RunRecord
from sweepctl.search.random import skip_draws, suggest
from sweepctl.search.space import DISTRIBUTIONS, sample
from sweepctl.spec import build_spec
from sweepctl.spec.model import Param

FIDELITY = json.loads((Path(__file__).parent / "fidelity" / "random.json").read_text())
APPROXIMATE = {
    "log_uniform",
    "log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "log_normal",
    "beta",
}
REL_TOL = 1e-13
ABS_TOL = 1e-14


def same(actual: Any, expected: Any, loose: set[tuple] = frozenset(), path: tuple = ()) -> None:
    """Equal values, types and key order; floats bit for bit unless their path is ``loose``."""
    where = "/".join(map(str, path)) or "config"
    assert type(actual) is type(expected), f"{where}: {actual!r} is not {expected!r}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: key order {list(actual)}"
        for key, value in expected.items():
            same(actual[key], value, loose, (*path, key))
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: {actual!r} is not {expected!r}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, loose, (*path, index))
    elif isinstance(expected, float) and path in loose and math.isfinite(expected):
        assert math.isclose(actual, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL), (
            f"{where}: {actual!r} is not close to {expected!r}"
        )
    elif isinstance(expected, float):
        assert repr(actual) == repr(expected), f"{where}: {actual!r} is not {expected!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} is not {expected!r}"


def spec_of(parameters: dict[str, Any]):
    return build_spec({"method": "random", "parameters": copy.deepcopy(parameters)})


def loose_paths(spec) -> set[tuple]:
    return {p.path for p in spec.params if p.distribution in APPROXIMATE}


def history(n: int) -> list[RunRecord]:
    """Runs whose content random search ignores: only their number moves the stream."""
    return [RunRecord(run_id=f"r{i}", state="finished", config={}) for i in range(n)]


@pytest.mark.parametrize("case", FIDELITY["streams"], ids=lambda c: c["name"])
def test_kth_run_of_seeded_sweep_is_wandbs_kth_config(case: dict[str, Any]) -> None:
    spec = spec_of(case["parameters"])
    for k, expected in enumerate(case["configs"]):
        actual = suggest(spec, history(k), random.Random(case["seed"]))
        where = (f"run {k}",)
        same(actual, expected, {(*where, *p) for p in loose_paths(spec)}, where)


@pytest.mark.parametrize("case", FIDELITY["streams"], ids=lambda c: c["name"])
def test_one_rng_stream_is_wandbs_stream(case: dict[str, Any]) -> None:
    spec = spec_of(case["parameters"])
    rng = random.Random(case["seed"])
    actual = [suggest(spec, [], rng) for _ in case["configs"]]
    same(actual, case["configs"], {(k, *p) for k in range(len(actual)) for p in loose_paths(spec)})


@pytest.mark.parametrize("case", FIDELITY["ppf"], ids=lambda c: c["name"])
def test_sample_matches_wandb_ppf(case: dict[str, Any]) -> None:
    (param,) = spec_of(case["parameters"]).params
    for u, expected in case["points"]:
        where = (f"u={u!r}",)
        loose = {where} if param.distribution in APPROXIMATE else set()
        same(sample(param, u), expected, loose, where)


def test_fixtures_cover_every_distribution() -> None:
    covered = {spec_of(c["parameters"]).params[0].distribution for c in FIDELITY["ppf"]}
    assert covered == set(DISTRIBUTIONS)


def test_seeded_sweeps_reproduce_and_seeds_differ() -> None:
    spec = spec_of({"lr": {"min": 0.0, "max": 1.0}, "n": {"values": list(range(100))}})
    first = [suggest(spec, history(k), random.Random(11)) for k in range(5)]
    again = [suggest(spec, history(k), random.Random(11)) for k in range(5)]
    other = [suggest(spec, history(k), random.Random(12)) for k in range(5)]
    assert first == again
    assert first != other
    assert len({c["lr"] for c in first}) == 5


def test_unseeded_rng_gives_valid_configs() -> None:
    spec = spec_of({"lr": {"min": 0.0, "max": 1.0}})
    config = suggest(spec, history(3), random.Random())
    assert config is not None and 0.0 <= config["lr"] <= 1.0


@pytest.mark.parametrize("count", [0, 1, 7, 65_536, 70_001])
def test_skip_draws_is_count_random_calls(count: int) -> None:
    slow, fast = random.Random(5), random.Random(5)
    for _ in range(count):
        slow.random()
    skip_draws(fast, count)
    assert [fast.random() for _ in range(3)] == [slow.random() for _ in range(3)]


def test_constants_take_a_draw_each() -> None:
    """W&B draws u for constants too, so adding one shifts every later parameter's draw."""
    with_constant = spec_of({"a": {"value": 1}, "b": {"min": 0.0, "max": 1.0}})
    rng = random.Random(3)
    rng.random()
    assert suggest(with_constant, [], random.Random(3)) == {"a": 1, "b": rng.random()}


# --- every value lies in its distribution's support ----------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False)
positive = st.floats(1e-6, 1e6, allow_nan=False)
# What random.random() can return: k / 2**53. u == 0 (one chance in 2**53) is left out: there
# W&B itself leaves the support (int_uniform gives min - 1), as the ppf fixture records.
draw = st.integers(1, 2**53 - 1).map(lambda k: k * 2.0**-53)
q_value = st.one_of(st.integers(1, 100), st.floats(1e-3, 1e3))


@st.composite
def bounds(draw_: st.DrawFn, low: st.SearchStrategy, ints: bool = False) -> tuple:
    a, b = draw_(low), draw_(low)
    if ints:
        a, b = int(a), int(b)
    if a == b:
        b = a + 1
    return (a, b) if a < b else (b, a)


def ulps(x: float, n: int = 4) -> float:
    return n * math.ulp(x)


def check_quantized(value: Any, raw_low: float, raw_high: float, q: Any) -> None:
    """round(x / q) * q for x in [low, high]: a multiple of q within q/2 of the range."""
    assert type(value) is (int if isinstance(q, int) else float)
    slack = q / 2 + ulps(max(abs(raw_low), abs(raw_high), q), 8)
    assert raw_low - slack <= value <= raw_high + slack
    assert math.isclose(value / q, round(value / q), rel_tol=1e-9, abs_tol=1e-6)


def param(distribution: str, **spec: Any) -> Param:
    return Param(path=("x",), distribution=distribution, spec=spec)


@settings(max_examples=200, deadline=None)
@given(u=draw, values=st.lists(st.integers() | st.text(max_size=3), min_size=1, max_size=6))
def test_categorical_in_values(u: float, values: list) -> None:
    assert sample(param("categorical", values=values), u) in values


@settings(max_examples=200, deadline=None)
@given(u=draw, weights=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5))
def test_categorical_with_probabilities_in_values(u: float, weights: list[float]) -> None:
    probabilities = [w / sum(weights) for w in weights]
    values = list(range(len(weights)))
    spec = {"values": values, "probabilities": probabilities}
    assert sample(param("categorical_w_probabilities", **spec), u) in values


@settings(max_examples=300, deadline=None)
@given(u=draw, lo_hi=bounds(st.integers(-(10**6), 10**6), ints=True))
def test_int_uniform_includes_max(u: float, lo_hi: tuple[int, int]) -> None:
    low, high = lo_hi
    value = sample(param("int_uniform", min=low, max=high), u)
    assert type(value) is int and low <= value <= high


@settings(max_examples=300, deadline=None)
@given(u=draw, lo_hi=bounds(finite))
def test_uniform_in_range(u: float, lo_hi: tuple[float, float]) -> None:
    low, high = lo_hi
    value = sample(param("uniform", min=low, max=high), u)
    assert type(value) is float and low <= value <= high


@settings(max_examples=300, deadline=None)
@given(u=draw, lo_hi=bounds(finite), q=q_value)
def test_q_uniform_may_pass_max_by_half_q(u: float, lo_hi: tuple[float, float], q: Any) -> None:
    low, high = lo_hi
    check_quantized(sample(param("q_uniform", min=low, max=high, q=q), u), low, high, q)


@settings(max_examples=300, deadline=None)
@given(u=draw, lo_hi=bounds(positive), q=q_value, quantized=st.booleans())
def test_log_uniform_values_in_range(u: float, lo_hi: tuple, q: Any, quantized: bool) -> None:
    low, high = lo_hi
    # Bounds a few ulps apart can have the same logarithm: scipy's uniform over a zero scale is
    # NaN, in W&B and here alike. Out of scope for this range check (hypothesis found it).
    assume(math.log(low) < math.log(high))
    if quantized:
        value = sample(param("q_log_uniform_values", min=low, max=high, q=q), u)
        check_quantized(value, low, high, q)
    else:
        for dist in ("log_uniform_values", "inv_log_uniform_values"):
            # exp(log(min)) is not min to the last ulp: W&B's values may leave by a hair too.
            value = sample(param(dist, min=low, max=high), u)
            assert low * (1 - 1e-13) <= value <= high * (1 + 1e-13)


@settings(max_examples=300, deadline=None)
# Exponents up to 40: above 2**63 an int-q value is numpy's int64 overflow (-2**63), as in W&B.
@given(u=draw, lo_hi=bounds(st.floats(-40.0, 40.0)), q=q_value, quantized=st.booleans())
def test_log_uniform_exponents_in_range(u: float, lo_hi: tuple, q: Any, quantized: bool) -> None:
    low, high = lo_hi
    value_low, value_high = math.exp(low), math.exp(high)
    if quantized:
        value = sample(param("q_log_uniform", min=low, max=high, q=q), u)
        check_quantized(value, value_low, value_high, q)
        return
    value = sample(param("log_uniform", min=low, max=high), u)
    assert value_low * (1 - 1e-13) <= value <= value_high * (1 + 1e-13)
    value = sample(param("inv_log_uniform", min=low, max=high), u)
    inv_low, inv_high = math.exp(-high), math.exp(-low)
    assert inv_low * (1 - 1e-13) <= value <= inv_high * (1 + 1e-13)


@settings(max_examples=300, deadline=None)
@given(u=draw, mu=st.floats(-100.0, 100.0), sigma=st.floats(1e-3, 100.0), q=q_value)
def test_normal_family(u: float, mu: float, sigma: float, q: Any) -> None:
    z_bound = 9.0  # |z| < 8.3 for u in [2**-53, 1 - 2**-53]
    normal = sample(param("normal", mu=mu, sigma=sigma), u)
    assert type(normal) is float and abs(normal - mu) <= z_bound * sigma
    check_quantized(
        sample(param("q_normal", mu=mu, sigma=sigma, q=q), u),
        mu - z_bound * sigma,
        mu + z_bound * sigma,
        q,
    )
    # Small enough that exp() stays below 2**63: past it an int q gives W&B's int64 wrap-around.
    small_mu, small_sigma = mu / 20, sigma / 40
    log_normal = sample(param("log_normal", mu=small_mu, sigma=small_sigma), u)
    assert type(log_normal) is float and log_normal >= 0.0
    check_quantized(
        sample(param("q_log_normal", mu=small_mu, sigma=small_sigma, q=q), u),
        0.0,
        math.exp(small_mu + z_bound * small_sigma),
        q,
    )


@settings(max_examples=150, deadline=None)
@given(u=draw, a=st.floats(0.05, 50.0), b=st.floats(0.05, 50.0), q=q_value)
def test_beta_in_unit_interval(u: float, a: float, b: float, q: Any) -> None:
    value = sample(param("beta", a=a, b=b), u)
    assert type(value) is float and 0.0 <= value <= 1.0
    check_quantized(sample(param("q_beta", a=a, b=b, q=q), u), 0.0, 1.0, q)


@settings(max_examples=100, deadline=None)
@given(u=st.floats(0.0, 1.0, exclude_max=True), a=st.floats(0.1, 20.0), b=st.floats(0.1, 20.0))
def test_beta_quantile_is_monotone(u: float, a: float, b: float) -> None:
    beta = param("beta", a=a, b=b)
    assert sample(beta, u) <= sample(beta, min(u + 0.01, 1 - 2**-53))
