"""Bayesian search: W&B's parameter forms, history handling, no duplicates, seeds, quality.

Search quality beyond "better than random on a quadratic" is measured in
bench/bayes_quick.py, not asserted here; tests never assert wall-clock times.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search_forms import EVERY_FORM, check_every_form

from sweepctl.search import RunRecord
from sweepctl.search import random as random_search
from sweepctl.search.bayes import DEFAULT, Settings, observations, suggest
from sweepctl.search.grid import value_key
from sweepctl.search.latent import Space
from sweepctl.spec.model import build_spec

MIXED = [None, False, 0, "0", True, 1.5, [1, 2], {"k": 1}]
FAST = Settings(sampler="tpe")  # for tests about history handling, not about the model


def make_spec(parameters: dict[str, Any], goal: str = "minimize", **metric: Any) -> Any:
    return build_spec(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": goal, **metric},
            "parameters": parameters,
        }
    )


def score(config: Any) -> float:
    """Some deterministic number from any config (a stand-in for a training run)."""
    return sum(ord(ch) for ch in repr(config)) % 97 / 97


def sweep(spec: Any, runs: int, objective=score, seed: int = 0, settings=None) -> list[RunRecord]:
    """Run a sequential sweep of ``runs`` runs and return its history."""
    history: list[RunRecord] = []
    for i in range(runs):
        args = (spec, history, random.Random(seed))
        config = suggest(*args, settings) if settings else suggest(*args)
        assert config is not None
        history.append(RunRecord(f"r{i}", "finished", config, objective(config)))
    return history


def test_every_form_gives_wandb_types_within_support() -> None:
    spec = make_spec(EVERY_FORM)
    history = sweep(spec, 10)  # 4 quasi-random, then the model
    for run in history:
        check_every_form(run.config)
    assert len({repr(run.config) for run in history}) == 10


def test_deprecated_log_uniform_takes_exponents() -> None:
    spec = make_spec({"lr": {"distribution": "log_uniform", "min": math.log(1e-4), "max": 0.0}})
    values = [run.config["lr"] for run in sweep(spec, 8, lambda c: c["lr"], settings=FAST)]
    assert all(1e-4 * (1 - 1e-12) <= v <= 1 for v in values)
    assert min(values) < 0.01  # the model heads for the low end of e^[ln 1e-4, 0]


def test_nested_parameters_are_built_like_random_search() -> None:
    parameters = {
        "z": {"values": [1, 2]},
        "optimizer": {
            "parameters": {
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "name": {"value": "adam"},
                "betas": {"parameters": {"b1": {"min": 0.8, "max": 0.99}}},
            }
        },
        "a": {"min": 0, "max": 3},
    }
    spec = make_spec(parameters)
    expected = random_search.suggest(spec, [], random.Random(0))
    for run in sweep(spec, 7, lambda c: c["optimizer"]["lr"], settings=FAST):
        assert list(run.config) == list(expected) == ["a", "z", "optimizer"]
        assert list(run.config["optimizer"]) == list(expected["optimizer"])
        assert run.config["optimizer"]["name"] == "adam"
        assert 0.8 <= run.config["optimizer"]["betas"]["b1"] <= 0.99


def test_mixed_type_categorical_keeps_every_value_apart() -> None:
    """null, false, 0, "0" and true are five choices; each comes back with its own type."""
    spec = make_spec({"c": {"values": MIXED}})
    history = sweep(spec, len(MIXED), settings=FAST)
    got = [run.config["c"] for run in history]
    assert sorted(map(value_key, got)) == sorted(map(value_key, MIXED))
    for value in got:
        original = MIXED[[value_key(v) for v in MIXED].index(value_key(value))]
        assert type(value) is type(original) and value == original
    # Every value has been tried: a purely discrete space is used up.
    assert suggest(spec, history, random.Random(0)) is None


def test_false_and_zero_are_different_points() -> None:
    space = Space.of(make_spec({"c": {"values": MIXED}}))
    points = {space.point({"c": v}) for v in MIXED}
    assert len(points) == len(MIXED) and None not in points
    assert space.point({"c": "not a choice"}) is None


def test_parallel_claims_never_duplicate_and_the_space_runs_out() -> None:
    spec = make_spec({"n": {"min": 1, "max": 3}, "opt": {"values": ["adam", "sgd"]}})
    history = sweep(spec, 2, settings=FAST)
    for _ in range(4):  # four agents claim at once: each sees the previous claims running
        config = suggest(spec, history, random.Random(0))
        assert config is not None
        history.append(RunRecord(f"p{len(history)}", "running", config))
    assert len({(run.config["n"], run.config["opt"]) for run in history}) == 6
    assert suggest(spec, history, random.Random(0)) is None


def test_parallel_claims_with_the_model_get_distinct_configs() -> None:
    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "k": {"min": 1, "max": 6}})
    history = sweep(spec, 8, lambda c: c["x"] ** 2 + (c["k"] - 2) ** 2)
    for _ in range(4):
        config = suggest(spec, history, random.Random(3))
        history.append(RunRecord(f"p{len(history)}", "running", config))
    keys = [(run.config["x"], run.config["k"]) for run in history]
    assert len(set(keys)) == len(keys)


def test_a_proposal_already_taken_is_replaced() -> None:
    """With every value of one parameter but one taken, the model's proposals collide."""
    spec = make_spec({"k": {"min": 1, "max": 12}})
    history = sweep(spec, 11, lambda c: abs(c["k"] - 5))  # the model keeps wanting k = 5
    left = set(range(1, 13)) - {run.config["k"] for run in history}
    assert suggest(spec, history, random.Random(0)) == {"k": left.pop()}


def test_seed_and_history_fix_the_suggestion() -> None:
    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "c": {"values": ["a", "b", "c"]}})
    for runs in (2, 7):  # quasi-random phase, model phase
        history = sweep(spec, runs, lambda c: c["x"] ** 2, seed=11)
        first = suggest(spec, history, random.Random(11))
        assert suggest(spec, history, random.Random(11)) == first
        assert suggest(spec, history, random.Random(12)) != first
        longer = [*history, RunRecord("extra", "running", first)]
        assert suggest(spec, longer, random.Random(11)) != first
    assert suggest(spec, [], random.Random()) is not None  # unseeded sweeps work too


# Measured on 3 seeds: GP 1e-5 to 1e-3, TPE 0.2 to 0.5, random 1 to 3 (bench/bayes_quick.py has
# more); the margins keep this far from flaky.
@pytest.mark.parametrize(("sampler", "margin"), [("gp", 0.05), ("tpe", 0.5)])
def test_improves_over_random_on_a_quadratic(sampler: str, margin: float) -> None:
    if sampler == "gp":
        pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}})

    def quadratic(c: dict[str, float]) -> float:
        return (c["x"] - 1.3) ** 2 + 2 * (c["y"] + 0.7) ** 2

    bayes_best, random_best = [], []
    for seed in range(3):
        history = sweep(spec, 20, quadratic, seed, Settings(sampler=sampler))
        bayes_best.append(min(r.metric for r in history))
        history: list[RunRecord] = []
        for i in range(20):
            config = random_search.suggest(spec, history, random.Random(seed))
            history.append(RunRecord(str(i), "finished", config, quadratic(config)))
        random_best.append(min(r.metric for r in history))
    assert statistics.median(bayes_best) < margin * statistics.median(random_best)


def test_maximize_heads_for_high_values() -> None:
    spec = make_spec({"x": {"min": 0.0, "max": 1.0}}, goal="maximize")
    history = sweep(spec, 15, lambda c: c["x"], settings=FAST)
    assert max(r.metric for r in history) > 0.95


def test_a_long_history_is_fed_whole() -> None:
    spec = make_spec(EVERY_FORM)
    history: list[RunRecord] = []
    for i in range(1000):
        config = random_search.suggest(spec, history, random.Random(5))
        history.append(RunRecord(str(i), "finished", config, score(config)))
    history += [RunRecord("busy", "running", history[0].config)]
    config = suggest(spec, history, random.Random(5))
    check_every_form(config)


# --- what the model learns from each run state -----------------------------------------------


def record(state: str, x: float, metric: float | None = None, logged=()) -> RunRecord:
    return RunRecord(f"{state}-{x}", state, {"x": x}, metric, tuple(logged))


@pytest.mark.parametrize(
    ("goal", "impute", "failed", "no_metric"),
    [
        ("minimize", "worst", 3.0, 3.0),
        ("minimize", "best", 1.0, 1.0),
        ("maximize", "worst", 1.0, 1.0),
        ("minimize", "latest", 7.0, 3.0),  # the last logged value, else the worst
    ],
)
def test_failed_runs_get_the_imputed_value(
    goal: str, impute: str, failed: float, no_metric: float
) -> None:
    spec = make_spec({"x": {"min": 0.0, "max": 10.0}}, goal=goal, impute=impute)
    history = [
        record("finished", 1.0, 1.0),
        record("stopped", 2.0, 3.0),  # early-terminated: its best value is an observation
        record("failed", 3.0, 0.5, logged=[9.0, 7.0]),
        record("finished", 4.0, math.nan),  # no finite metric: imputed like a failure
    ]
    got = observations(Space.of(spec), spec.metric, history)
    assert [o.value for o in got] == [1.0, 3.0, failed, no_metric]


def test_runs_in_flight_are_pending_and_killed_ones_say_nothing() -> None:
    spec = make_spec({"x": {"min": 0.0, "max": 10.0}})
    history = [
        record("failed", 1.0),  # nothing to impute from yet: left out
        record("running", 2.0),
        record("crashed", 3.0),  # offered again: pending
        record("preempted", 4.0),
        record("killed", 5.0, 1.0),
        record("stopped", 6.0),  # stopped before logging anything
        record("finished", 7.0, 2.0),
        RunRecord("other", "finished", {"y": 1.0}, 0.0),  # not a point of this space
    ]
    got = observations(Space.of(spec), spec.metric, history)
    assert [(o.point, o.value) for o in got] == [
        ((0.1,), 2.0),
        ((0.2,), None),
        ((0.3,), None),
        ((0.4,), None),
        ((0.7,), 2.0),
    ]


def test_killed_and_failed_configs_are_still_taken() -> None:
    spec = make_spec({"c": {"values": ["a", "b", "c"]}})
    history = [
        RunRecord("1", "killed", {"c": "a"}),
        RunRecord("2", "failed", {"c": "b"}),
    ]
    assert suggest(spec, history, random.Random(0)) == {"c": "c"}


def test_constants_only_give_one_config() -> None:
    spec = make_spec({"a": {"value": 1}})
    assert suggest(spec, [], random.Random(0)) == {"a": 1}
    assert suggest(spec, [RunRecord("1", "finished", {"a": 1}, 0.0)], random.Random(0)) is None


@settings(max_examples=200, deadline=None)
@given(form=st.sampled_from(sorted(EVERY_FORM)), u=st.floats(0.0, 1.0))
def test_latent_points_map_to_values_and_back(form: str, u: float) -> None:
    """Every prior draw is a valid value whose latent point gives the value again (exactly
    for a discrete form; to rounding for a continuous one, whose CDF and ppf are not exact
    inverses)."""
    space = Space.of(make_spec({form: EVERY_FORM[form]}))
    if not space.dims:
        return
    (dim,) = space.dims
    x = dim.from_unit(u)
    assert dim.low <= x <= dim.high
    value = dim.value(x)
    back = dim.latent(value)
    assert back is not None
    if dim.size is None:
        assert math.isclose(dim.value(back), value, rel_tol=1e-9, abs_tol=1e-12)
    else:
        assert dim.key(dim.value(back)) == dim.key(value)


def test_importing_bayes_imports_no_optimiser() -> None:
    code = (
        "import sys, sweepctl.search.bayes; "
        "print(sorted({'optuna', 'torch', 'scipy', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.mark.parametrize("maximize", [False, True])
def test_the_warp_keeps_the_order_and_squeezes_only_bad_values(maximize: bool) -> None:
    from sweepctl.search.bayes import Observation, _warped

    # Skewed like a loss: a few runs far off, most near the best.
    raw = [0.1, 0.12, 0.15, 0.2, 0.3, 50.0, 1e4, None]
    values = [None if v is None else (-v if maximize else v) for v in raw]
    seen = [Observation((i / 10,), v) for i, v in enumerate(values)]
    warped = _warped(seen, maximize)
    assert [o.point for o in warped] == [o.point for o in seen]
    assert warped[-1].value is None  # in flight stays in flight
    got = [o.value for o in warped[:-1]]
    was = [o.value for o in seen[:-1]]
    order = sorted(range(len(was)), key=lambda i: was[i])
    assert sorted(range(len(got)), key=lambda i: got[i]) == order

    # The far-off run no longer dwarfs the rest: the best are a larger share of the spread.
    def share(xs):  # gap between the two best, over the whole range
        best = sorted(xs, reverse=maximize)
        return abs(best[1] - best[0]) / (max(xs) - min(xs))

    assert share(got) > 2 * share(was)  # 4x here; 1x would mean no squeeze at all
    assert _warped(seen[:2], maximize) == seen[:2]  # too few values: unchanged


def test_first_model_suggestions_stay_near_the_best_run() -> None:
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    from sweepctl.search.latent import Space

    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}})
    space = Space.of(spec)
    corners = [(-4.5, -4.5), (4.5, 4.5), (-4.5, 4.5), (4.5, -4.5), (0.0, 3.0)]
    history = [
        RunRecord(f"r{i}", "finished", {"x": x, "y": y}, (x - 0.5) ** 2 + y**2)
        for i, (x, y) in enumerate([*corners, (0.4, 0.2)])
    ]
    best = space.point({"x": 0.4, "y": 0.2})
    for seed in range(3):
        config = suggest(spec, history, random.Random(seed))
        point = space.point(config)
        # A box of side 0.4 (latent units) around the best run: 0.2 either way.
        assert all(abs(p - b) <= 0.2 + 1e-9 for p, b in zip(point, best, strict=True)), config
    wide = Settings(local_side=0.0, pending_side=0.0)
    far = [space.point(suggest(spec, history, random.Random(s), wide)) for s in range(3)]
    assert any(max(abs(p - b) for p, b in zip(pt, best, strict=True)) > 0.2 for pt in far), (
        "without the box the GP does look elsewhere (so the check above can fail)"
    )


def test_early_suggestions_take_turns_round_the_best_run_and_one_elsewhere() -> None:
    """With an odd number of values (and no run in flight), the early box is centred on the
    best run at least a box's side away from the best: here the corner (4.5, 4.5), whose box
    is moved inside the space, [0.6, 1] in latent units."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    from sweepctl.search.latent import Space

    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}})
    space = Space.of(spec)
    runs = [(-4.5, -4.5), (4.5, 4.5), (-4.5, 4.5), (4.5, -4.5), (0.0, 3.0), (0.4, 0.2)]
    runs.append((0.45, 0.25))  # second best, but inside the best run's box
    history = [
        RunRecord(f"r{i}", "finished", {"x": x, "y": y}, (x - 0.5) ** 2 + y**2)
        for i, (x, y) in enumerate(runs)
    ]
    for seed in range(3):
        point = space.point(suggest(spec, history, random.Random(seed)))
        assert all(0.6 - 1e-9 <= p <= 1.0 for p in point), point
    one_box = Settings(early_boxes=1)
    best = space.point({"x": 0.4, "y": 0.2})
    point = space.point(suggest(spec, history, random.Random(0), one_box))
    assert all(abs(p - b) <= 0.2 + 1e-9 for p, b in zip(point, best, strict=True)), point
    in_flight = [*history, RunRecord("r9", "running", {"x": -2.0, "y": 1.0}, None)]
    point = space.point(suggest(spec, in_flight, random.Random(0)))
    assert all(abs(p - b) <= 0.2 + 1e-9 for p, b in zip(point, best, strict=True)), point


def _fitted_gp(x: Any, loss: Any) -> tuple[list, Any, Any, Any]:
    """Optuna's trials for runs at ``x`` (rows in [0, 1]^d) with values ``loss``, their values as
    Optuna gives them to its GP (standardised, larger is better), the search space and the GP
    fitted to them."""
    import numpy as np
    import optuna
    from optuna._gp import gp
    from optuna._gp import prior as gp_prior
    from optuna._gp.search_space import SearchSpace
    from optuna.distributions import FloatDistribution

    names = [f"x{i}" for i in range(x.shape[1])]
    distributions = {name: FloatDistribution(0, 1) for name in names}
    trials = [
        optuna.trial.create_trial(
            params=dict(zip(names, map(float, row), strict=True)),
            distributions=distributions,
            value=float(v),
        )
        for row, v in zip(x, loss, strict=True)
    ]
    loss = np.asarray(loss, dtype=float)
    y = -(loss - loss.mean()) / loss.std()
    space = SearchSpace(distributions)
    fitted = gp.fit_kernel_params(
        X=x,
        Y=y,
        is_categorical=space.is_categorical,
        log_prior=gp_prior.default_log_prior,
        minimum_noise=gp_prior.DEFAULT_MINIMUM_NOISE_VAR,
        deterministic_objective=False,
    )
    return trials, y, space, fitted


@pytest.mark.parametrize("prior", ["mean", "worst"])
def test_the_gp_prior_mean_far_from_the_runs(prior: str) -> None:
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    import numpy as np
    import torch

    from sweepctl.search.gpsampler import LocalGPSampler

    x = np.random.default_rng(0).uniform(0, 0.25, size=(8, 2))  # runs in one corner
    trials, y, space, fitted = _fitted_gp(x, ((x - 0.1) ** 2).sum(axis=1))
    sampler = LocalGPSampler(seed=0, prior_mean=prior)
    acqf, _ = sampler._get_acqf_and_best_params(trials, [fitted], space, x, None, y[:, None])
    far, _ = acqf._gpr.posterior(torch.tensor([[1.0, 1.0]], dtype=torch.float64))
    below_best = acqf._threshold - far.item()  # how much worse than the best run it expects
    spread = y.max() - y.min()
    expected = spread if prior == "worst" else y.max() - y.mean()  # the worst run, or the mean
    assert abs(below_best - expected) < 0.1 * spread, (below_best, expected)


def test_one_suggestion_in_four_is_greedy_once_the_early_box_is_over() -> None:
    """From 10 values on, the suggestion made when the model sees 4k + 1 runs maximises the
    GP's mean plus a standard deviation; the others are expected improvement's. With the greedy
    turns off, only the turn's suggestion changes."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}})
    history = sweep(spec, 12, objective=lambda c: (c["x"] - 1) ** 2 + c["y"] ** 2)
    off = Settings(greedy_beta=0.0)
    changed = []
    # Runs the model sees; 9 = 4 * 2 + 1 but with fewer than 10 values; 13 = 4 * 3 + 1.
    for n in (9, 11, 12, 13):
        runs = history[:n]
        if n == 13:
            runs = [*history, RunRecord("r12", "running", {"x": 0.5, "y": -0.5}, None)]
        shipped = suggest(spec, runs, random.Random(0))
        changed.append(shipped != suggest(spec, runs, random.Random(0), off))
    assert changed == [False, False, False, True]


@pytest.mark.parametrize("prior", ["mean", "worst"])
def test_the_greedy_acquisition_is_mean_plus_sd_for_one_ask(prior: str) -> None:
    """Built on the GP the sampler uses: with the worst value as prior mean, the one fitted
    to the values shifted by their worst (so its mean at the runs is about y - min y)."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    import numpy as np
    import torch

    from sweepctl.search.gpsampler import LocalGPSampler

    x = np.linspace(0.05, 0.95, 9)[:, None]
    trials, y, space, fitted = _fitted_gp(x, (x[:, 0] - 0.4) ** 2)
    sampler = LocalGPSampler(seed=0, greedy_beta=4.0, prior_mean=prior)
    greedy, _ = sampler._get_acqf_and_best_params(trials, [fitted], space, x, None, y[:, None])
    model = greedy._gpr
    assert (model is fitted) == (prior == "mean")
    at_runs, _ = model.posterior(torch.from_numpy(x))
    shift = y.min() if prior == "worst" else 0.0
    assert np.allclose(at_runs.numpy(), y - shift, atol=0.1 * (y.max() - y.min()))
    at = torch.tensor([[0.3], [0.72]], dtype=torch.float64)
    mean, var = model.posterior(at)
    assert torch.allclose(greedy.eval_acqf(at), mean + 2.0 * var.sqrt())
    # One ask only: asked again (its proposal was taken), the sampler is expected improvement.
    again, _ = sampler._get_acqf_and_best_params(trials, [fitted], space, x, None, y[:, None])
    assert type(again).__name__ == "LogEI"


def test_late_in_a_sweep_every_other_suggestion_stays_near_the_best_run() -> None:
    """One run at a time, from 25 values on, the suggestions made when the model sees an even
    number of runs optimise the acquisition in a box of side 0.1 (of each range) round the best
    run; odd numbers, fewer values and claims with runs in flight are as without the box."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}})

    def bumpy(c: dict[str, Any]) -> float:
        return math.sin(3 * c["x"]) + math.cos(2 * c["y"]) + 0.1 * (c["x"] ** 2 + c["y"] ** 2)

    history = sweep(spec, 30, objective=bumpy)
    off = Settings(late_after=0)

    def distance(runs: list[RunRecord], settings: Settings = DEFAULT) -> float:
        config = suggest(spec, runs, random.Random(0), settings)
        best = min((r for r in runs if r.metric is not None), key=lambda r: r.metric).config
        return max(abs(config["x"] - best["x"]), abs(config["y"] - best["y"]))

    for n in (26, 28):
        assert distance(history[:n]) <= 1.0 + 1e-9  # 0.1 of the range of 10
        assert distance(history[:n], off) > 1.0, "without the box it looks farther off"
    in_flight = [*history[:27], RunRecord("r27", "running", {"x": 0.0, "y": 0.0}, None)]
    for runs in (history[:24], history[:27], history[:29], in_flight):
        assert distance(runs) == distance(runs, off)


def test_one_run_at_a_time_the_acquisition_gets_more_local_searches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """30 local searches of Optuna's acquisition optimiser with no run in flight, Optuna's own
    10 with one; spied on where Optuna's sampler calls the optimiser."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    from optuna._gp import optim_mixed

    searches: list[int] = []
    real = optim_mixed.optimize_acqf_mixed

    def spy(*args: Any, **kwargs: Any) -> Any:
        searches.append(kwargs["n_local_search"])
        return real(*args, **kwargs)

    from optuna.samplers._gp import sampler as gp_sampler

    monkeypatch.setattr(optim_mixed, "optimize_acqf_mixed", spy)
    # Optuna's sampler reaches the module through a lazy proxy, which keeps what it has read.
    monkeypatch.setattr(gp_sampler.optim_mixed, "optimize_acqf_mixed", spy)
    spec = make_spec({"x": {"min": -5.0, "max": 5.0}, "y": {"min": -5.0, "max": 5.0}})
    history = sweep(spec, 12, objective=lambda c: (c["x"] - 1) ** 2 + c["y"] ** 2, settings=FAST)
    suggest(spec, history, random.Random(0))
    alone = list(searches)
    searches.clear()
    suggest(spec, [*history, RunRecord("r12", "running", {"x": 0.5, "y": 0.5})], random.Random(0))
    assert alone and set(alone) == {DEFAULT.acq_starts} and DEFAULT.acq_starts == 30
    assert searches and set(searches) == {10}


def test_the_late_box_skips_the_greedy_and_category_turns() -> None:
    """Which suggestions get the late box (side 0.1), one run at a time; in a space with a
    categorical parameter the category turns (8j + 6 runs) look over the whole range, as they
    look for another category's good region; in one without, there is no such turn."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    from sweepctl.search.bayes import _sampler

    numbers = {"x": FloatDistribution(0.0, 1.0)}
    mixed = {**numbers, "opt": CategoricalDistribution((0, 1, 2))}

    def side(runs: int, space: dict[str, Any]) -> float:
        return _sampler(DEFAULT, runs, runs, False, 0, space)._local_side

    assert [side(n, numbers) for n in (24, 25, 26, 28, 29, 30)] == [0, 0, 0.1, 0.1, 0, 0.1]
    assert [side(n, mixed) for n in (26, 28, 30, 32, 38)] == [0.1, 0.1, 0, 0.1, 0]
    assert _sampler(DEFAULT, 30, 30, False, 0, mixed)._category_turn is not None
    assert _sampler(DEFAULT, 30, 30, False, 0, numbers)._category_turn is None


def _settled_on_a(counts: dict[str, int], slope: float = 1.0) -> list[RunRecord]:
    """Finished runs of a sweep over ``opt`` (a, b, c) and ``x``: ``a`` is far better."""
    offset = {"a": 0.0, "b": 20.0, "c": 30.0}
    history = []
    for opt, count in counts.items():
        for j in range(count):
            x = -4.5 + 9.0 * (j + 0.5) / count
            loss = offset[opt] + slope * (x - 1.0) ** 2
            history.append(RunRecord(f"r{len(history)}", "finished", {"opt": opt, "x": x}, loss))
    return history


CATEGORY_SPEC = {"opt": {"values": ["a", "b", "c"]}, "x": {"min": -5.0, "max": 5.0}}


def test_one_suggestion_in_eight_tries_another_value_of_a_settled_category() -> None:
    """One run at a time, from 10 values on, the suggestion made when the model sees 8k + 6 runs
    keeps off the best run's value of a categorical parameter that more than half of the runs
    have: a sweep settled on one optimizer or kernel still looks at the others."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    spec = make_spec(CATEGORY_SPEC)
    settled = _settled_on_a({"a": 10, "b": 2, "c": 2})  # 14 runs = 8 + 6
    # x barely matters: the GP writes b and c off (log expected improvement about -2e4 there).
    written_off = _settled_on_a({"a": 10, "b": 2, "c": 2}, slope=0.001)
    off = Settings(category_every=0)
    for history in (settled, written_off):
        for seed in range(3):
            assert suggest(spec, history, random.Random(seed))["opt"] != "a"
            assert suggest(spec, history, random.Random(seed), off)["opt"] == "a", (
                "without the turn the model stays with a (so the check above can fail)"
            )
    # Not a turn: 13 or 15 runs; 14 with one in flight; a category held by only half the runs.
    later = [*settled, RunRecord("r14", "finished", {"opt": "a", "x": 1.2}, 0.04)]
    not_turns = [
        settled[:13],
        later,
        [*settled[:13], RunRecord("r13", "running", {"opt": "a", "x": 0.9}, None)],
        _settled_on_a({"a": 7, "b": 4, "c": 3}),
    ]
    for history in not_turns:
        assert suggest(spec, history, random.Random(0))["opt"] == "a"


def test_the_category_turn_acts_on_the_first_ask_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the turn's proposal is a config already taken, bayes asks again, and that ask is
    expected improvement's over every value (as after a greedy turn)."""
    pytest.importorskip("torch", reason="without torch, bayes uses TPE")
    from sweepctl.search import bayes, gpsampler

    wrapped: list[int] = []

    class Counted(gpsampler._OtherCategory):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            wrapped.append(self.column)

    monkeypatch.setattr(gpsampler, "_OtherCategory", Counted)
    spec = make_spec(CATEGORY_SPEC)
    space = Space.of(spec)
    seen = observations(space, spec.metric, _settled_on_a({"a": 10, "b": 2, "c": 2}))
    asks = bayes._model(space, spec.metric, seen, bayes.DEFAULT, seed=0)
    first, second = next(asks), next(asks)
    assert len(wrapped) == 1
    assert first != second


def test_leave_one_out_in_closed_form_matches_refitting_without_each_point() -> None:
    """The closed form gives, for every observation, the density the same GP (kernel parameters
    kept) predicts for it from the others: checked by conditioning on n - 1 points."""
    pytest.importorskip("torch", reason="the GP needs torch")
    import numpy as np
    import torch
    from optuna._gp import gp

    from sweepctl.search.gpsampler import leave_one_out

    rng = np.random.default_rng(0)
    x = rng.random((12, 2))
    y = np.sin(4 * x[:, 0]) + x[:, 1] ** 2
    params = {
        "is_categorical": torch.tensor([False, False]),
        "inverse_squared_lengthscales": torch.tensor([4.0, 2.0], dtype=torch.float64),
        "kernel_scale": torch.tensor(1.5, dtype=torch.float64),
        "noise_var": torch.tensor(1e-3, dtype=torch.float64),
    }
    whole = gp.GPRegressor(X_train=torch.from_numpy(x), y_train=torch.from_numpy(y), **params)
    closed = leave_one_out(whole, y)
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        part = gp.GPRegressor(
            X_train=torch.from_numpy(x[rest]), y_train=torch.from_numpy(y[rest]), **params
        )
        part._cache_matrix()
        mean, var = (v.item() for v in part.posterior(torch.from_numpy(x[i])))
        var += params["noise_var"].item()
        direct = -0.5 * math.log(2 * math.pi * var) - 0.5 * (y[i] - mean) ** 2 / var
        assert closed[i] == pytest.approx(direct, rel=1e-6, abs=1e-6)


def _sweep_seen(objective: Any, bounds: tuple[float, float], dims: int, seed: int) -> Any:
    """The space and observations of a 25-run bayes sweep on the raw values."""
    from sweepctl.search.bayes import observations

    names = [f"x{i}" for i in range(dims)]
    spec = make_spec({n: {"min": bounds[0], "max": bounds[1]} for n in names})
    history = sweep(
        spec,
        25,
        objective=lambda c: objective(*(c[n] for n in names)),
        seed=seed,
        settings=Settings(log_margin=None),
    )
    space = Space.of(spec)
    return space, observations(space, spec.metric, history)


def _rosenbrock(*x: float) -> float:
    return sum(100 * (b - a**2) ** 2 + (1 - a) ** 2 for a, b in itertools.pairwise(x))


def _branin(x: float, y: float) -> float:
    return (
        (y - 5.1 / (4 * math.pi**2) * x**2 + 5 / math.pi * x - 6) ** 2
        + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x)
        + 10
    )


def test_the_gp_fits_log_values_where_they_span_decades_and_not_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """25 runs into a sweep, 4-D Rosenbrock's values (from about 10 to 10^5) are predicted
    better on a log scale, Branin's (0.4 to 300: a plateau and three minima) on their own: the
    choice follows the leave-one-out densities, whatever the values' units. Values that are
    not all positive are never logged, nor scored."""
    pytest.importorskip("torch", reason="the GP needs torch")
    assert DEFAULT.log_margin == 5.0
    from sweepctl.search import gpsampler
    from sweepctl.search.bayes import Observation, _for_gp, _log_fits_better, _warped

    def scaled(seen: list[Any], factor: float) -> list[Any]:
        return [Observation(o.point, o.value * factor) for o in seen]

    space, rosenbrock = _sweep_seen(_rosenbrock, (-5.0, 10.0), 4, seed=1)
    for factor in (1.0, 1e-3, 1e3):  # the densities are compared in the values' own units
        assert _log_fits_better(space, scaled(rosenbrock, factor), False, DEFAULT.log_margin)
    logged = [Observation(o.point, math.log(o.value)) for o in rosenbrock]
    assert _for_gp(space, rosenbrock, False, DEFAULT.log_margin) == _warped(logged, False)
    assert _for_gp(space, rosenbrock, False, None) == _warped(rosenbrock, False)  # None: never

    branin_space, branin = _sweep_seen(_branin, (0.0, 10.0), 2, seed=0)
    for factor in (1.0, 1e-3, 1e3):
        assert not _log_fits_better(branin_space, scaled(branin, factor), False, 5.0)
    assert _for_gp(branin_space, branin, False, DEFAULT.log_margin) == _warped(branin, False)

    scored: list[int] = []
    real = gpsampler.loo_log_density

    def spy(x: Any, categorical: Any, t: Any, *args: Any) -> float:
        scored.append(len(t))
        return real(x, categorical, t, *args)

    monkeypatch.setattr(gpsampler, "loo_log_density", spy)
    assert _log_fits_better(space, rosenbrock, False, DEFAULT.log_margin)
    assert scored == [25, 25]  # the values, then their logs
    lowest = min(o.value for o in rosenbrock)
    for shift in (lowest, lowest + 1.0):  # one value at 0; one below
        shifted = [Observation(o.point, o.value - shift) for o in rosenbrock]
        assert not _log_fits_better(space, shifted, False, -math.inf)
        assert _for_gp(space, shifted, False, -math.inf) == _warped(shifted, False)
    assert scored == [25, 25], "values not all positive are not scored"


def test_the_scale_is_chosen_from_ten_values_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """With fewer than 10 values (the early box's span) the GP sees the values themselves; from
    10 on, the choice is asked for, with the default margin and the sampler's own GP."""
    pytest.importorskip("torch", reason="the GP needs torch")
    from sweepctl.search import bayes

    asked: list[tuple[int, float, dict[str, Any]]] = []
    real = bayes._log_fits_better

    def spy(space: Any, seen: Any, maximize: bool, margin: float, **model: Any) -> bool:
        asked.append((sum(o.value is not None for o in seen), margin, model))
        return real(space, seen, maximize, margin, **model)

    monkeypatch.setattr(bayes, "_log_fits_better", spy)
    spec = make_spec({"x": {"min": -5.0, "max": 10.0}, "y": {"min": -5.0, "max": 10.0}})
    history = sweep(spec, 12, objective=lambda c: _rosenbrock(c["x"], c["y"]), settings=FAST)
    for n in (5, 9):
        suggest(spec, history[:n], random.Random(0))
    assert asked == []
    suggest(spec, history[:10], random.Random(0))
    suggest(spec, history[:12], random.Random(0))
    model = {"prior_mean": "worst", "deterministic": False}  # as the sampler's GP
    assert asked == [(10, DEFAULT.log_margin, model), (12, DEFAULT.log_margin, model)]
    asked.clear()
    suggest(spec, history[:12], random.Random(0), Settings(prior_mean="mean", deterministic=True))
    assert asked == [(12, DEFAULT.log_margin, {"prior_mean": "mean", "deterministic": True})]
