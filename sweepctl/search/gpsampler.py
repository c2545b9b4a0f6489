"""Optuna's GPSampler, with the worst observed value as its prior mean and the acquisition
optimised in a box around the best run.

Optuna's GP has a constant prior mean equal to the mean of the observed values (0 after their
standardisation): far from the runs it expects an average result, so expected improvement
keeps sending suggestions to unexplored corners and edges of the space (on hartmann6, about
half of the model's suggestions had most of their coordinates on a bound, all of them poor).
With ``prior_mean="worst"`` the GP is fitted to values shifted so that the worst observed one
is 0: the prior mean is the worst run, as De Ath, Fieldsend and Everson found best for
expected improvement on synthetic problems (“What do you mean? The role of the mean function
in Bayesian optimisation”, GECCO 2020). Unexplored places are then expected to be as bad as
the worst run, not average; the GP's amplitude, fitted again to the shifted values, grows to
span them, so they are not ruled out. Measured in bench/parallel_quick.py on 20 seeds
(bench/results/parallel_quick.md) and in bench/search.py.

With only a handful of observations the GP's length scales sit near their prior (about the
width of the space), the posterior variance grows towards the edges of the box, and expected
improvement sends the first model-based suggestions to its corners: the worst places to look
on most problems (the corners of a learning-rate x batch-size box rarely train, Rosenbrock's
are 10^5 above its minimum). For its first suggestions :class:`LocalGPSampler` therefore
optimises the acquisition function over a box of side ``local_side`` (in Optuna's normalised
[0, 1] coordinates of the continuous parameters) centred on the best run so far, moved inside
the space where it would stick out. Discrete and categorical parameters keep their
full range. With ``boxes`` 2 the suggestions take turns between that box and one centred on
the best run more than a box's side from the best (a second region; bayes.py asks for it one
run at a time). bayes.py also asks for a box while runs are in flight, where q-batch expected
improvement pushes suggestions to the corners for being far from the pending runs, and, one
run at a time late in a sweep, a small one on every other suggestion. With
``greedy_beta`` the acquisition of its first ask is the GP's upper confidence bound, mean +
sqrt(beta) standard deviations, for bayes.py's greedy turns. With ``category_turn`` its first
ask rules out the best run's value of one categorical parameter (they take turns by the
turn's number), if more than half of the runs have that value: bayes.py's category turns.
``acq_starts`` sets how many local searches of the acquisition Optuna's optimiser runs (its
own: 10).
:func:`loo_log_density` fits the GP the sampler would to a set of values and scores how well it
predicts each of them from the others: bayes.py chooses between the values and their logs with
it.
Otherwise it is Optuna's sampler unchanged.

Imports Optuna and torch: import this module only where the GP is used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import torch
from optuna._gp import gp
from optuna._gp.acqf import UCB, BaseAcquisitionFunc


class _InBox(BaseAcquisitionFunc):
    """``inner`` seen through the affine map from [0, 1] onto ``low + width * [0, 1]``,
    applied to the continuous dimensions only (the optimiser works in the unit box)."""

    def __init__(self, inner: BaseAcquisitionFunc, low: np.ndarray, width: np.ndarray) -> None:
        self.inner = inner
        self.columns = np.asarray(inner.search_space.continuous_indices, dtype=int)
        self.low, self.width = low, width
        # The optimiser preconditions by the length scales: in box coordinates they grow by
        # 1 / width.
        scales = np.array(inner.length_scales, dtype=float, copy=True)
        scales[self.columns] = scales[self.columns] / width
        super().__init__(scales, inner.search_space)
        dim = inner.search_space.dim
        self._low = torch.zeros(dim, dtype=torch.float64)
        self._width = torch.ones(dim, dtype=torch.float64)
        self._low[self.columns] = torch.from_numpy(np.asarray(low, dtype=float))
        self._width[self.columns] = torch.from_numpy(np.asarray(width, dtype=float))

    def to_space(self, x: np.ndarray) -> np.ndarray:
        out = np.array(x, dtype=float, copy=True)
        out[..., self.columns] = self.low + self.width * out[..., self.columns]
        return out

    def to_box(self, x: np.ndarray) -> np.ndarray:
        out = np.array(x, dtype=float, copy=True)
        inside = (out[..., self.columns] - self.low) / self.width
        out[..., self.columns] = np.clip(inside, 0.0, 1.0)
        return out

    def eval_acqf(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.eval_acqf(self._low + self._width * x)


class _OtherCategory(BaseAcquisitionFunc):
    """``inner``, a log acquisition function, with one value of one categorical dimension ruled
    out: there it is ``_RULED_OUT``, below any log expected improvement (which falls to -1e6
    and lower where the GP has written a category off, the very case the turn is for), so the
    optimiser's random start points never lie there and its local search moves the one that
    does, the best run, to another value (it tries every value of a categorical coordinate)."""

    def __init__(self, inner: BaseAcquisitionFunc, column: int, value: float) -> None:
        self.inner, self.column, self.value = inner, column, value
        super().__init__(np.array(inner.length_scales, dtype=float), inner.search_space)

    def eval_acqf(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner.eval_acqf(x)
        # Optuna's normalised categorical coordinates are the choices' indices.
        ruled_out = (x[..., self.column] - self.value).abs() < 0.5
        return torch.where(ruled_out, torch.full_like(out, _RULED_OUT), out)


_RULED_OUT = -1e300  # finite: the optimiser's roulette and line search take no infinities


class LocalGPSampler(optuna.samplers.GPSampler):
    """GPSampler with a pessimistic prior mean, whose acquisition is optimised near the
    incumbent (see the module docstring).

    ``local_side`` 0 (or 1 and more), ``prior_mean="mean"``, ``greedy_beta=None``,
    ``category_turn=None`` and ``acq_starts=None`` give Optuna's sampler unchanged. The sampler
    is made for one suggestion (bayes.py builds a study per call), so these are fixed at
    construction; ``greedy_beta`` and ``category_turn`` act on the first ask that reaches the GP
    and are then dropped (later asks are retries of the same suggestion).
    """

    def __init__(
        self,
        *,
        local_side: float = 0.0,
        prior_mean: str = "mean",
        boxes: int = 1,
        greedy_beta: float | None = None,
        category_turn: int | None = None,
        acq_starts: int | None = None,
        **kwargs: Any,
    ) -> None:
        if prior_mean not in ("mean", "worst"):
            raise ValueError(f"prior_mean must be 'mean' or 'worst', not {prior_mean!r}")
        super().__init__(**kwargs)
        if acq_starts is not None:
            self._n_local_search = acq_starts  # read by GPSampler._optimize_acqf
        self._local_side = local_side
        self._prior_mean = prior_mean
        self._boxes = boxes
        self._greedy_beta = greedy_beta
        self._ranked: np.ndarray | None = None  # the observed points, best first
        self._category_turn = category_turn
        self._observed: np.ndarray | None = None  # the observed points (normalised)

    def _get_acqf_and_best_params(
        self,
        completed_trials: Any,
        gprs_list: list[Any],
        internal_search_space: Any,
        normalized_params: np.ndarray,
        normalized_params_of_running_trials: np.ndarray | None,
        standardized_score_vals: np.ndarray,
    ) -> Any:
        """Optuna's hook between fitting the GP and building the acquisition function: here the
        GP is fitted again to the values shifted by their worst (Optuna's own fit is the warm
        start), so that its prior mean, 0, is the worst observed value."""
        if self._category_turn is not None:  # read by _other_category only
            self._observed = np.asarray(normalized_params, dtype=float)
        if self._boxes > 1:  # read by _centre only
            order = np.argsort(-standardized_score_vals[:, 0], kind="stable")
            self._ranked = np.asarray(normalized_params, dtype=float)[order]
        if self._prior_mean == "worst" and len(standardized_score_vals):
            # Larger is better in Optuna's standardised values: the worst is the minimum.
            standardized_score_vals = standardized_score_vals - standardized_score_vals.min(0)
            gprs_list = [
                gp.fit_kernel_params(
                    X=normalized_params,
                    Y=standardized_score_vals[:, i],
                    is_categorical=internal_search_space.is_categorical,
                    log_prior=self._log_prior,
                    minimum_noise=self._minimum_noise,
                    deterministic_objective=self._deterministic,
                    gpr_cache=cache,
                )
                for i, cache in enumerate(gprs_list)
            ]
        acqf, best_params = super()._get_acqf_and_best_params(
            completed_trials,
            gprs_list,
            internal_search_space,
            normalized_params,
            normalized_params_of_running_trials,
            standardized_score_vals,
        )
        if self._greedy_beta is not None:
            # Once: if this proposal is a config already taken, bayes.py asks again, and the
            # next ask is expected improvement's (the proposal now in flight pushes it away).
            acqf = UCB(gpr=gprs_list[0], search_space=internal_search_space, beta=self._greedy_beta)
            self._greedy_beta = None
        return acqf, best_params

    def _optimize_acqf(
        self, acqf: BaseAcquisitionFunc, best_params: np.ndarray | None
    ) -> np.ndarray:
        if self._category_turn is not None and best_params is not None:
            acqf = self._other_category(acqf, np.asarray(best_params, dtype=float).reshape(-1))
            self._category_turn = None  # once, as the greedy turn
        columns = acqf.search_space.continuous_indices
        side = self._local_side
        if not 0.0 < side < 1.0 or best_params is None or len(columns) == 0:
            return super()._optimize_acqf(acqf, best_params)
        start = self._centre(np.asarray(best_params, dtype=float), columns, side)
        centre = start[0, columns]
        low = np.clip(centre - side / 2.0, 0.0, 1.0 - side)
        box = _InBox(acqf, low, np.full_like(low, side))
        return box.to_space(super()._optimize_acqf(box, box.to_box(start)))

    def _other_category(self, acqf: BaseAcquisitionFunc, best: np.ndarray) -> BaseAcquisitionFunc:
        """On a category turn: the categorical dimensions take turns (by the turn's number);
        the chosen one's value in the best run is ruled out if more than half of the runs have
        it (the sweep has settled on it), else the acquisition is left as it is."""
        categorical = np.flatnonzero(acqf.search_space.is_categorical)
        if not len(categorical) or self._observed is None or self._category_turn is None:
            return acqf
        column = int(categorical[self._category_turn % len(categorical)])
        value = float(best[column])
        if np.mean(np.abs(self._observed[:, column] - value) < 0.5) <= 0.5:
            return acqf
        return _OtherCategory(acqf, column, value)

    def _centre(self, best: np.ndarray, columns: Any, side: float) -> np.ndarray:
        """The run the box is centred on: with ``boxes`` > 1, the suggestions take turns (by
        the number of observations) among the best run and the next best runs that lie more
        than a box's side from each centre before them (in the continuous coordinates)."""
        if self._boxes < 2 or self._ranked is None:
            return best
        centres = [best]
        for point in self._ranked:
            if len(centres) == self._boxes:
                break
            if all(np.abs(point[columns] - c[0, columns]).max() > side for c in centres):
                centres.append(point[np.newaxis])
        return centres[len(self._ranked) % len(centres)]


def loo_log_density(
    x: np.ndarray,
    categorical: np.ndarray,
    t: np.ndarray,
    prior_mean: str = "worst",
    deterministic: bool = False,
) -> float:
    """The leave-one-out log predictive density of values ``t`` (standardised, larger is
    worse) at normalised points ``x`` under the GP the sampler would fit to them (Optuna's
    kernel and priors, ``prior_mean`` and ``deterministic`` as :class:`LocalGPSampler` takes
    them). bayes.py compares two scales of the same values with it."""
    from optuna._gp import prior

    # Larger is better in Optuna's terms; with the worst as prior mean, the worst at 0.
    y = t.max() - t if prior_mean == "worst" else -t
    regressor = gp.fit_kernel_params(
        X=np.asarray(x, dtype=float),
        Y=y,
        is_categorical=np.asarray(categorical, dtype=bool),
        log_prior=prior.default_log_prior,
        minimum_noise=prior.DEFAULT_MINIMUM_NOISE_VAR,
        deterministic_objective=deterministic,
        gpr_cache=None,
    )
    return float(leave_one_out(regressor, y).sum())


def leave_one_out(regressor: gp.GPRegressor, y: np.ndarray) -> np.ndarray:
    """Each observation's log density under the GP fitted to the others, the kernel's
    parameters kept: in closed form from the inverse of the covariance matrix (Rasmussen and
    Williams, "Gaussian Processes for Machine Learning", eq. 5.12)."""
    with torch.no_grad():
        cov = regressor.kernel().numpy() + float(regressor.noise_var) * np.eye(len(y))
    inverse = np.linalg.inv(cov)
    var = 1.0 / np.diag(inverse)
    residual = (inverse @ y) * var  # y_i minus its leave-one-out mean
    return -0.5 * np.log(2 * np.pi * var) - 0.5 * residual**2 / var
