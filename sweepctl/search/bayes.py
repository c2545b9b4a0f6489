"""Bayesian search on Optuna: each call rebuilds an in-memory study from the sweep's history.

How the history is read (W&B's run metric is already in ``RunRecord.metric``):

* ``finished`` runs are observations of their metric. One without a finite metric gets the
  imputed value (below), as W&B replaces non-finite values by the worst.
* ``stopped`` runs (early-terminated, or stopped by hand) are observations of the best value
  they logged, a pessimistic but real one; without a metric they are left out of the model.
* ``failed`` and ``timeout`` runs are the config's own outcome: they get ``metric.impute``
  (``worst``, the default: the worst observed value; ``best``; ``latest``: the run's last
  logged value), so the model learns to avoid the region, as W&B's ``impute`` does. While no
  run has a value to impute from, they are left out of the model (W&B would use 0.0, which is
  the best value a loss can take).
* ``killed`` runs (agent interrupted, sweep canceled) say nothing about their config and are
  left out of the model.
* ``running`` runs, ``crashed`` and ``preempted`` ones (which are offered again) and any other
  state are in flight: RUNNING trials, which the sampler treats as pending (GP: q-batch
  expected improvement over them; TPE: constant liar), so parallel agents spread out.

Every run's config, whatever its state, is *taken*: a suggestion is never a config that a run
already holds. If the sampler proposes one, it is asked again (the proposal stays pending in
the study, which pushes the next one away), then random points are drawn. A space of discrete
parameters only can be used up: then suggest returns None and the sweep finishes, as an
exhausted grid does (W&B's bayes would repeat configs forever instead).

Until ``n_startup`` (4) runs have values, configs are quasi-random: a scrambled Sobol
sequence in the unit cube, mapped through each parameter's W&B distribution (so the first runs
follow the sweep's priors, probabilities included). Then Optuna's GPSampler (Matern-5/2 with
one length scale per parameter, log expected improvement, q-batch over the runs in flight)
suggests, with these changes, measured in bench/parallel_quick.py and bench/search.py:

* the GP's prior mean is the worst value observed, not the mean of the values
  (sweepctl.search.gpsampler): with Optuna's mean, expected improvement kept sending
  suggestions to the bounds of the space, where the GP expects an average result with its
  largest variance (on hartmann6, 353 of the 800 model suggestions of 20 sweeps had half or
  more of their coordinates on a bound; 19 with the worst as prior mean). Over 20 seeds it
  lowered the median regret at 10, 25 and 50 runs on every synthetic problem but branin at
  25, and with 4 agents (10 seeds) the surrogate's at 40 runs by 23x;
* the values the GP sees have their tail of bad values compressed (:func:`_warped`), so that
  a few far-off runs do not make the good ones look alike and send expected improvement to
  the unexplored corners of the space;
* where every value is positive, the GP may be fitted to log(value) instead (then warped as
  above): to the scale on which it predicts the runs better, by the leave-one-out log
  predictive density of each fit taken back to the values' own units through the transforms'
  derivatives, log winning only by more than ``log_margin`` (5) nats (:func:`_log_fits_better`),
  from ``local_until`` (10) values on.
  Losses that span decades (Rosenbrock's) are smoother on a log scale, most are not (Branin's
  plateau, Levy's ripples near 0): fitting log(value) always made branin 550x worse at 50
  runs, and a rule on the span of the values alone made levy 17x worse. Chosen in
  bench/parallel_quick.py (2026-12-08, eighth session), median regret at 50 runs, seeds 0-9,
  before -> after: one agent rosenbrock 20.6 -> 10.5 (359 -> 82 at 25), the surrogate 4.4e-6
  -> 1.1e-6, levy 0.0042 -> 0.0029, branin 8.0e-6 -> 1.8e-5, svc_digits best 0.0167 ->
  0.0183 (one validation image; its error rates go on the log scale from about 10 runs on);
  4 agents rosenbrock 46.1 -> 37.6, levy 0.165 -> 0.096, branin 3.4e-5 -> 1.9e-5, the
  surrogate 3.2e-5 -> 2.5e-5, svc_digits 0.0175 -> 0.0192; seeds 20-29, one agent,
  rosenbrock 17 -> 13.6 (76 -> 25 at 40), levy and the surrogate even, branin 2.6e-5 ->
  3.3e-5, svc_digits 0.0175 -> 0.0183. Margins of 0 and 10 nats were less even. Those
  figures are of a first version that chose from 5 values on; in bench/search.py's tuning half
  it was first at 25 and 50 runs but worse at 10 (mean rank 2.42 -> 3.00, rosenbrock 3.1e3 ->
  3.7e3, svc_digits one image), where a choice between scales rests on a handful of
  leave-one-out densities, so the choice waits for 10 values. Two more GP
  fits per suggestion: 42-49 runs of random configs, median of 8, idle machine, rosenbrock
  0.079 -> 0.123 s, the surrogate 0.157 -> 0.200 s (hartmann6's negative values: no fit);
* while fewer than ``local_until`` (10) runs have values, the acquisition is optimised in a box
  of side ``local_side`` (0.4 of each continuous parameter's latent range) around the best run
  (sweepctl.search.gpsampler): with so few points the GP's variance is largest at the corners;
* one run at a time (no run in flight), that early box takes turns between the best run and the
  best run lying more than a box's side from it, in another region (``early_boxes``, 2): every
  other early suggestion looks round the runner-up region instead of refining the first basin.
  On hartmann6 over seeds 0-19 one agent then left the local minimum in 13 of 20 seeds, against
  8 with one box (Optuna's GP: 13); on the tuning half (seeds 0-9) it was better at 25, 40 and
  50 runs on branin, hartmann6, rosenbrock and levy (levy 3.4x at 50), worse at 10 runs on
  branin and the surrogate, and on the held-back problems (seeds 10-19) better or equal at 50
  runs. With runs in flight q-batch expected improvement already spreads the batch, and
  alternating as well made 4 agents worse on four of six problems, so they keep one box;
* while runs are in flight, the box has side ``pending_side`` (0.5) whatever the number of
  runs (the smaller side while both apply): q-batch expected improvement rewards a suggestion
  for being far from the runs in flight, and over the whole space the farthest places are
  again the corners (with 4 agents on Levy, suggestions kept going there late in the sweep).
  The box keeps the batch diverse near the best run;
* once ``local_until`` runs have values, one suggestion in ``greedy_every`` (4: those made
  when the model sees 4k + 1 runs, in flight included) is greedy: it maximises the GP's mean
  plus ``sqrt(greedy_beta)`` (1) standard deviations instead of expected improvement, and
  does not look at the runs in flight (it keeps their box). The idea: expected improvement
  keeps spreading its suggestions out, also once the GP knows where the minimum is, and the
  greedy turn is meant to go there (De Ath et al., "Greed is good", ACM TELO 2021, found such
  exploitation of the mean competitive with expected improvement). If the greedy proposal is
  a config already taken, the suggestion is expected improvement's (2 of 50 greedy turns in
  5 one-agent branin sweeps). Chosen in bench/parallel_quick.py (2026-12-07, fourth session;
  the figures are the experiment's version, which drew a random point there instead): better at
  40 runs on four of five synthetic problems with 4 agents (branin 3.4x, hartmann6 2.1x; the
  surrogate 1.7x worse), one at a time better at 50 runs on four (the surrogate 10x; levy 4%
  worse) and on rosenbrock at 40 (1.7x), and on the held-back problems better or equal at 50
  runs but for sgd_digits one at a time; hartmann6's trap unchanged (13 of 20 seeds leave it
  one at a time, 9 with 4 agents). Every 3rd instead of every 4th was less even; beta 0.1
  (nearly the mean alone) was better on branin and worse on rosenbrock;
* one run at a time, from ``local_until`` values on, one suggestion in ``category_every`` (8:
  those made when the model sees 8k + 6 runs) takes another value of a categorical parameter
  than the best run's, where more than half of the runs have the best run's value (the
  categorical parameters take turns; the acquisition is expected improvement with that value
  ruled out). A sweep that settles on one category early otherwise never looks at the others
  again: on svc_digits (bench/search.py, seeds 0-9) the best runs are RBF in a narrow band
  of gamma, and seeds 7 and 9 found the polynomial kernel's plateau first and then ran it
  in 45 of 50 runs, RBF once (with the worst value as prior mean, one bad run of a category
  leaves the GP expecting the worst there). Chosen in bench/parallel_quick.py (2026-12-07,
  sixth session) on the tuning half's mixed problems:
  median best value at 50 runs on svc_digits 0.0158 against 0.0175 (seeds 0-9; 0.0142 with a
  first version whose ruled-out value was not always below expected improvement) and 0.0183
  against 0.0192 (seeds 20-29); the surrogate's median regret about even on seeds 0-9 (5.1e-6
  against 4.0e-6 at 50 runs) and lower on seeds 20-29 (2.3e-4 against 0.011 at 40, 8.2e-6
  against 1.5e-5 at 50). Every 4th: svc_digits 0.0167 (seeds 0-9); with 4 agents (the turn made
  while runs are in flight) the surrogate was 2.8-11x worse at 40 runs, so with runs in flight
  there is no such turn. Spaces without a categorical parameter are unchanged.
* one run at a time, the acquisition's optimiser runs ``acq_starts`` (30) local searches
  instead of Optuna's 10, and from ``late_after`` (25) values on, the suggestions made when the
  model sees an even number of runs (the first at 26; greedy and category turns excepted, as
  they look away from the best run) optimise it in a box of side ``late_side`` (0.1 of each
  continuous parameter's latent range; discrete and categorical ones keep their full range)
  round the best run: late in a sweep expected improvement has narrow peaks (Rosenbrock's
  curved valley, the floor of Levy's basin) that 10 starts miss, and the small box refines the
  best run the way a local search would, between suggestions that keep looking over the whole
  space. Chosen in bench/parallel_quick.py (2026-12-08, seventh session) on the tuning half,
  one agent, median regret at 40 | 50 runs, seeds 0-9, before -> after: branin 6.1e-5 | 2.5e-5
  -> 2.5e-5 | 8.2e-6, hartmann6 8.5e-5 | 5.4e-5 -> 1.3e-4 | 5.4e-5, rosenbrock 46.5 | 22.9 ->
  32.3 | 19.6, levy 0.105 | 0.077 -> 0.046 | 0.0018; on seeds 20-29 branin, hartmann6 (0.0044
  -> 8.2e-5 at 50) and rosenbrock (40.8 -> 16.7) better at 50 runs, levy worse (0.086 ->
  0.113; 0.147 -> 0.459 at 40). Either alone was less even (30 starts alone: levy 0.020 at
  50; the box alone: rosenbrock 22.6; a box of side 0.2: rosenbrock worse). The first version
  also boxed the category turns that fall on even numbers of runs, which kept another
  category's continuous parameters next to the best run's; the mixed problems' figures (the
  surrogate, svc_digits, and the held-back half's) are in bench/results/parallel_quick.md. With
  runs in flight 30 starts made levy 1.5x worse at 50 runs with 4 agents and the trap on
  hartmann6 no rarer, so claims with runs in flight keep Optuna's 10 and no late box. A
  suggestion one at a time, 50-57 runs of random configs, median of 8, idle machine: 0.060 ->
  0.062 s on hartmann6, 0.091 -> 0.133 s on the surrogate.

The early box costs something: it settles the sweep in the basin of the best quasi-random
run, and on hartmann6 that is a local minimum on half or more of 20 seeds with one box (median
regret at 50 runs 0.12, 0.06 without the box, where Optuna's GP reaches 0.007); without it the
first 10 and 25 runs are worse on most problems. Taking turns between two boxes (above) is the
answer one run at a time; with 4 agents the trap stays. Measured in
bench/results/parallel_quick.md.

Tried for parallel agents and dropped, measured with bench/parallel_quick.py (10 seeds, 6
problems, 4 agents): the kriging believer (runs in flight as observations of the GP's mean,
then plain expected improvement) was worse on hartmann6, levy and ackley at 50 runs; starting
the model once 2 or 3 runs have values was no better at 10 runs and worse on the surrogate at
25; dropping the box after 25 runs was worse on branin, hartmann6 and levy; a box of side 0.3
instead of 0.5 was better on rosenbrock and the surrogate and worse on levy; leaving the runs
in flight out of the model on every 2nd or 4th claim (plain expected improvement there) was no
better, worse at 25 runs; a box that shrinks after misses (TuRBO's rule) and more posterior
samples for q-batch expected improvement did not help either.

Past ``gp_max_history`` (100) observations the GP's fit costs more than the sweep's lock
should be held for (on 2 cores: 0.6 s at 300 runs, 4.5 s at 1000, more with many parameters),
so multivariate TPE with constant liar takes over (under 0.1 s at 1000). Both choices, and
GP over TPE, are measured in bench/bayes_quick.py (results in bench/results/bayes_quick.md).
Without torch installed, TPE is used throughout.

The sweep's seed fixes the scrambling and the sampler's seed, so ``sweepctl: {seed: N}`` with
the same history gives the same suggestion. Optuna, scipy and torch are imported inside
:func:`suggest` (call :func:`warm_up` to pay for that outside the sweep's lock), so commands
that do not search stay light.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import math
import random
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from sweepctl.search.contract import RunRecord
from sweepctl.search.latent import Space
from sweepctl.spec.model import Metric, SweepSpec

OBSERVED = ("finished", "stopped")
IMPUTED = ("failed", "timeout")
IGNORED = ("killed",)
_RETRIES = 3  # sampler asks before falling back to random points
_RANDOM_TRIES = 256
_ENUMERATE_MAX = 200_000  # a discrete space this small is searched exhaustively when needed


@dataclass(frozen=True)
class Settings:
    """How bayes searches; the defaults are the measured choice (bench/bayes_quick.py for the
    sampler and start-up, bench/search.py for the warp and the boxes)."""

    sampler: str = "gp"  # "gp" (Optuna's GPSampler) or "tpe" (multivariate, constant liar)
    n_startup: int = 4  # quasi-random configs before the model takes over
    gp_max_history: int = 100  # past this many observations, TPE instead of GP (latency)
    deterministic: bool = False  # GP: assume no observation noise
    warp: bool = True  # GP: Yeo-Johnson on the values, compressing the tail of bad ones
    local_side: float = 0.4  # GP: acquisition optimised in a box this wide round the best...
    local_until: int = 10  # ...while fewer observations than this have values (0: never)
    pending_side: float = 0.5  # GP: the same box's side while runs are in flight (0: none)
    prior_mean: str = "worst"  # GP: constant prior mean, the "worst" value seen or the "mean"
    early_boxes: int = 2  # GP, one run at a time: the early box takes turns round this many
    # runs, the best and the best ones more than a box's side from those before them
    greedy_every: int = 4  # GP, from local_until values on: one suggestion in this many...
    greedy_beta: float = 1.0  # ...maximises the mean + sqrt(beta) standard deviations (0: off)
    category_every: int = 8  # GP, one run at a time, from local_until values on: one suggestion
    # in this many takes another value of a categorical parameter than the best run's (0: off)
    # GP, one run at a time, from late_after values on (0: never): the suggestions made when the
    # model sees an even number of runs (not greedy or category turns) optimise the acquisition
    # in a box of side late_side round the best run (as local_side: of each continuous range)
    late_after: int = 25
    late_side: float = 0.1
    acq_starts: int = 30  # GP, one run at a time: local searches of the acquisition (Optuna's
    # own number while runs are in flight)
    log_margin: float | None = 5.0  # GP with warp, every value positive, from local_until
    # values on: fitted to log(value) where that predicts the runs better by more than this
    # many nats (leave-one-out; None: never)


DEFAULT = Settings()


@dataclass(frozen=True)
class Observation:
    """One run as the model sees it."""

    point: tuple[float, ...]
    value: float | None  # None: in flight


def observations(
    space: Space,
    metric: Metric | None,
    history: Sequence[RunRecord],
    points: Sequence[tuple[float, ...] | None] | None = None,
) -> list[Observation]:
    """The history's runs that the model learns from (see the module docstring); ``points``:
    their latent points (``space.point`` of each config), if the caller has them already."""
    maximize = metric is not None and metric.maximize
    values = [
        r.metric
        for r in history
        if r.state in OBSERVED and r.metric is not None and math.isfinite(r.metric)
    ]
    worst = (min if maximize else max)(values) if values else None
    best = (max if maximize else min)(values) if values else None
    impute = metric.impute if metric is not None else "worst"
    if points is None:
        points = [space.point(run.config) for run in history]
    out = []
    for run, point in zip(history, points, strict=True):
        if point is None:
            continue
        finite = run.metric is not None and math.isfinite(run.metric)
        if (run.state == "stopped" and not finite) or run.state in IGNORED:
            continue
        if run.state in OBSERVED and finite:
            value: float | None = run.metric
        elif run.state in (*OBSERVED, *IMPUTED):
            logged = [v for v in run.history if math.isfinite(v)]
            if impute == "latest" and logged:
                value = logged[-1]
            else:
                value = best if impute == "best" else worst
            if value is None:
                continue
        else:
            value = None
        out.append(Observation(point, value))
    return out


def suggest(
    spec: SweepSpec,
    history: Sequence[RunRecord],
    rng: random.Random,
    settings: Settings = DEFAULT,
) -> dict[str, Any] | None:
    """The next config: quasi-random at first, then the model's; None if the space is used up."""
    space = Space.of(spec)
    points = [space.point(run.config) for run in history]
    taken = space.taken(history, points)
    size = space.size
    if size is not None and len(taken) >= size:
        return None
    sweep_seed = rng.getrandbits(32)
    # str seeds hash with SHA-512: stable across processes, unlike hash().
    call = random.Random(f"sweepctl-bayes:{sweep_seed}:{len(history)}")
    if not space.dims:
        return space.config(())
    seen = observations(space, spec.metric, history, points)
    if sum(o.value is not None for o in seen) < settings.n_startup:
        candidates = _quasi_random(space, sweep_seed, len(history))
    else:
        warm_up()  # loaded before the thread limits below, so that they cover every pool
        candidates = _model(space, spec.metric, seen, settings, call.getrandbits(32))
    from threadpoolctl import threadpool_limits

    # One thread for BLAS and OpenMP: on a busy machine their pools fight each other (and the
    # training runs beside the agent); a GP suggestion is ~10x faster single-threaded.
    with threadpool_limits(limits=1):
        for point in _fallback(candidates, space, call, size):
            config = space.config(point)
            if space.key(config) not in taken:
                return config
    # Only a finite space of more than _ENUMERATE_MAX points, all but a few of them taken and
    # missed by every random draw, gets here.
    return None


def _fallback(
    candidates: Iterator[tuple[float, ...]], space: Space, rng: random.Random, size: int | None
) -> Iterator[tuple[float, ...]]:
    """The candidates, then uniform random points, then every point of a finite space."""
    yield from candidates
    for _ in range(_RANDOM_TRIES):
        yield tuple(d.from_unit(rng.random()) for d in space.dims)
    if size is not None and size <= _ENUMERATE_MAX:
        points = list(product(*(list(d.lattice()) for d in space.dims)))
        rng.shuffle(points)
        yield from points


def _quasi_random(space: Space, seed: int, index: int) -> Iterator[tuple[float, ...]]:
    """Points ``index``, ``index + 1``, ... of a scrambled Sobol sequence, in latent terms."""
    from scipy.stats import qmc

    sobol = qmc.Sobol(len(space.dims), scramble=True, seed=seed)
    if index:
        sobol.fast_forward(index)
    for _ in range(_RETRIES * 4):
        u = sobol.random(1)[0]
        yield tuple(d.from_unit(float(x)) for d, x in zip(space.dims, u, strict=True))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's info logs and experimental warnings off, for this call only."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _sampler(
    settings: Settings,
    n_values: int,
    n_runs: int,
    in_flight: bool,
    seed: int,
    space: dict[str, Any],
) -> Any:
    """The sampler for one suggestion; ``n_runs``: the runs the model sees, with values or in
    flight (whose count decides the greedy turns)."""
    if _uses_gp(settings, n_values):
        from optuna.distributions import CategoricalDistribution

        from sweepctl.search.gpsampler import LocalGPSampler

        early = n_values < settings.local_until
        k = settings.greedy_every
        # n_runs = 4j + 1 for k = 4
        greedy = not early and k > 0 and settings.greedy_beta > 0 and (n_runs - 1) % k == 0
        c = settings.category_every
        # n_runs = 8j + 6 for c = 8; a greedy turn takes precedence (with greedy_every 4 they
        # never meet: those are 4j + 1).
        other_category = (
            not (early or in_flight or greedy)
            and c > 1
            and n_runs % c == c - 2
            and any(isinstance(d, CategoricalDistribution) for d in space.values())
        )
        # n_runs even, from late_after values on; not on a greedy or category turn, which look
        # away from the best run (another category's good region rarely lies next to it).
        late = (
            0 < settings.late_after <= n_values
            and not (in_flight or greedy or other_category)
            and n_runs % 2 == 0
        )
        sides = [
            settings.local_side if early else 0.0,
            settings.pending_side if in_flight else 0.0,
            settings.late_side if late else 0.0,
        ]
        return LocalGPSampler(
            category_turn=n_runs // c if other_category else None,
            acq_starts=None if in_flight else settings.acq_starts,
            greedy_beta=settings.greedy_beta if greedy else None,
            boxes=settings.early_boxes if early and not in_flight else 1,
            local_side=min((side for side in sides if 0.0 < side < 1.0), default=0.0),
            prior_mean=settings.prior_mean,
            seed=seed,
            n_startup_trials=settings.n_startup,
            deterministic_objective=settings.deterministic,
            warn_independent_sampling=False,
        )
    if settings.sampler not in ("gp", "tpe"):
        raise ValueError(f"unknown bayes sampler {settings.sampler!r}")
    return _tpe_class()(
        space,
        seed=seed,
        n_startup_trials=settings.n_startup,
        multivariate=True,
        constant_liar=True,
    )


@functools.cache
def _tpe_class() -> type:
    import optuna

    class _KnownSpaceTPE(optuna.samplers.TPESampler):
        """Multivariate TPE told its search space instead of inferring it. TPE infers the
        intersection of every trial's distributions, comparing each of them to the others
        (at 1000 runs, a fifth of a suggestion); here every trial has the same ones."""

        def __init__(self, space: dict[str, Any], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._space = {name: d for name, d in space.items() if not d.single()}

        def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
            return dict(self._space)

    return _KnownSpaceTPE


def _uses_gp(settings: Settings, n_values: int) -> bool:
    return settings.sampler == "gp" and n_values <= settings.gp_max_history and _has_torch()


@functools.cache
def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _model(
    space: Space,
    metric: Metric | None,
    seen: Sequence[Observation],
    settings: Settings,
    seed: int,
) -> Iterator[tuple[float, ...]]:
    """The sampler's suggestions, each left pending in the study so the next one differs."""
    with _quiet():
        import optuna
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )
        from optuna.trial import TrialState

        distributions: dict[str, Any] = {}
        for dim in space.dims:
            if dim.kind == "index":
                distributions[dim.name] = CategoricalDistribution(tuple(range(len(dim.choices))))
            elif dim.kind == "int":
                distributions[dim.name] = IntDistribution(int(dim.low), int(dim.high))
            else:
                distributions[dim.name] = FloatDistribution(dim.low, dim.high)
        n_values = sum(o.value is not None for o in seen)
        maximize = metric is not None and metric.maximize
        if settings.warp and _uses_gp(settings, n_values):
            # With fewer values than the early box is for, too few to choose a scale by.
            margin = settings.log_margin if n_values >= settings.local_until else None
            seen = _for_gp(
                space,
                seen,
                maximize,
                margin,
                prior_mean=settings.prior_mean,
                deterministic=settings.deterministic,
            )
        study = optuna.create_study(
            sampler=_sampler(
                settings,
                n_values,
                len(seen),
                any(o.value is None for o in seen),
                seed,
                distributions,
            ),
            direction="maximize" if maximize else "minimize",
        )
        # The trials go straight into the study's in-memory storage: Study.add_trials checks
        # each one twice (create_trial, add_trial) for what is true here by construction
        # (params inside their distributions, states and times consistent), and at 1000 runs
        # those checks took half of a TPE suggestion.
        trial_class = _owned_class()
        now = datetime.datetime.now()
        for o in seen:
            running = o.value is None
            trial = trial_class(
                number=-1,
                trial_id=-1,
                state=TrialState.RUNNING if running else TrialState.COMPLETE,
                value=o.value,
                datetime_start=now,
                datetime_complete=None if running else now,
                params={
                    d.name: _optuna_value(d.kind, x)
                    for d, x in zip(space.dims, o.point, strict=True)
                },
                distributions=distributions,
                user_attrs={},
                system_attrs={},
                intermediate_values={},
            )
            study._storage.create_new_trial(study._study_id, template_trial=trial)
    for _ in range(_RETRIES):
        with _quiet():
            trial = study.ask(distributions)
        yield tuple(float(trial.params[d.name]) for d in space.dims)


def _for_gp(
    space: Space,
    seen: Sequence[Observation],
    maximize: bool,
    margin: float | None,
    **model: Any,
) -> list[Observation]:
    """The observations as the GP sees them: on log(value) where that models them better (see
    :func:`_log_fits_better`), their tail of bad values compressed (:func:`_warped`)."""
    if margin is not None and _log_fits_better(space, seen, maximize, margin, **model):
        seen = [o if o.value is None else Observation(o.point, math.log(o.value)) for o in seen]
    return _warped(seen, maximize)


def _log_fits_better(
    space: Space,
    seen: Sequence[Observation],
    maximize: bool,
    margin: float,
    prior_mean: str = "worst",
    deterministic: bool = False,
) -> bool:
    """Whether the GP predicts the values better on log(value), by more than ``margin`` nats.

    Losses that span decades (Rosenbrock's 1 to 10^5) are smoother on a log scale; others are
    not (Branin's plateau, Levy's ripples near 0), so the scale is chosen per suggestion: the
    GP is fitted to the values and to their logs, each standardised and tail-warped as the
    sampler would, and each fit's leave-one-out log predictive density (Rasmussen and
    Williams, "Gaussian Processes for Machine Learning", 5.4.2) is taken back to the values'
    own units through the transforms' derivatives, so the two are comparable. Only where every
    value is positive.
    """
    import numpy as np

    valued = [o for o in seen if o.value is not None]
    values = np.array([o.value for o in valued], dtype=float)
    if len(values) < 5 or not values.min() > 0 or not values.std() > 0:
        return False
    from sweepctl.search.gpsampler import loo_log_density

    # Optuna's normalised coordinates: continuous and integer ones on [0, 1], categorical ones
    # the choice's index.
    x = np.array(
        [
            [
                p if d.kind == "index" else (p - d.low) / ((d.high - d.low) or 1.0)
                for d, p in zip(space.dims, o.point, strict=True)
            ]
            for o in valued
        ]
    )
    categorical = np.array([d.kind == "index" for d in space.dims])
    logs = np.log(values)
    density = []
    for scale, jacobian in ((values, 0.0), (logs, -logs.sum())):
        t, log_slope = _standardised(scale, maximize)
        try:
            fit = loo_log_density(x, categorical, t, prior_mean, deterministic)
        except (RuntimeError, ValueError):  # a failed fit or solve (LinAlgError is a ValueError)
            return False
        density.append(fit + log_slope.sum() + jacobian)
    return bool(density[1] > density[0] + margin)


def _standardised(u: Any, maximize: bool) -> tuple[Any, Any]:
    """``u`` as the GP's fit sees it (worse up, tail-warped, standardised), and log|dt/du|."""
    import numpy as np

    z, spread = _z_scores(u, maximize)
    tail = _tail(z)
    w, slope = tail if tail is not None else (z, np.ones_like(z))
    t = (w - w.mean()) / w.std()
    return t, np.log(slope) - np.log(spread) - np.log(w.std())


def _z_scores(u: Any, maximize: bool) -> tuple[Any, float]:
    """``u`` oriented so that larger is worse and standardised, and its spread."""
    worse_up = -u if maximize else u
    spread = worse_up.std()
    return (worse_up - worse_up.mean()) / spread, spread


def _warped(seen: Sequence[Observation], maximize: bool) -> list[Observation]:
    """The observations with the tail of their bad values compressed, for the GP.

    Losses are skewed: a few diverged or far-off runs lie many standard deviations above the
    rest, so after the GP's standardisation the good runs look alike and the best one stands
    barely below the mean; expected improvement then prefers unexplored corners to the region
    of the best runs. On the standardised values ``z`` (oriented so that larger is worse), the
    part above the mean goes through the positive branch of the Yeo-Johnson transform (see
    :func:`_tail`); the rest is left linear, so the good runs keep their spacing (transforming
    them as well made the GP sample one point over and over on branin). Monotone and smooth at
    the mean: the order of the runs, and so the best one, are unchanged.
    """
    import numpy as np

    values = np.array([o.value for o in seen if o.value is not None], dtype=float)
    if len(values) < 3 or not values.std() > 0:
        return list(seen)
    tail = _tail(_z_scores(values, maximize)[0])
    if tail is None:
        return list(seen)
    warped = tail[0]
    out = iter((-warped if maximize else warped).tolist())
    return [o if o.value is None else Observation(o.point, next(out)) for o in seen]


def _tail(z: Any) -> tuple[Any, Any] | None:
    """Standardised values ``z`` (larger is worse) with the part above the mean through
    ``((z + 1) ** p - 1) / p``, the power ``p`` fitted by maximum likelihood (scipy's
    Yeo-Johnson), and the slope of that map at each; None where it would not compress (p >= 1)
    or fails."""
    import numpy as np
    from scipy import stats

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            power = float(stats.yeojohnson_normmax(z))
        except (ValueError, FloatingPointError, OverflowError):
            return None
        if not power < 1.0:  # also False for NaN
            return None
        above = np.maximum(z, 0.0)
        if abs(power) < 1e-9:
            squeezed = np.log1p(above)
        else:
            squeezed = ((above + 1.0) ** power - 1.0) / power
        warped = np.where(z > 0, squeezed, z)
        slope = np.where(z > 0, (above + 1.0) ** (power - 1.0), 1.0)
    if not (np.all(np.isfinite(warped)) and np.all(np.isfinite(slope))):
        return None
    return warped, slope


@functools.cache
def _owned_class() -> type:
    from optuna.trial import FrozenTrial

    class _OwnedTrial(FrozenTrial):
        """A trial made for one throw-away study. Optuna's in-memory storage deep-copies each
        trial it is given; for 1000 runs that copy took most of a TPE suggestion (0.09 of
        0.12 s). Its containers are copied (the storage may update them), their items shared
        (numbers, strings and distributions, which nothing modifies)."""

        def __deepcopy__(self, memo: dict[int, Any]) -> FrozenTrial:
            new = copy.copy(self)
            for name, value in vars(self).items():
                if isinstance(value, (dict, list)):
                    setattr(new, name, value.copy())
            return new

    return _OwnedTrial


def _optuna_value(kind: str, x: float) -> float | int:
    return x if kind == "unit" else int(x)


def warm_up() -> None:
    """Import what :func:`suggest` needs, so a caller can pay for it outside the sweep's lock."""
    import optuna  # noqa: F401
    from scipy.stats import qmc  # noqa: F401

    _has_torch()
