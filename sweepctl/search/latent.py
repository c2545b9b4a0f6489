"""The search space a model-based method works in, and the way back to W&B's values.

Every searched parameter becomes one *dimension* with a latent coordinate that an optimiser
can handle (no optimiser is imported here):

* ``index``: categorical values, by the index of each distinct value (told apart as grid
  search tells them apart, so ``null``, ``false``, ``0`` and ``"0"`` are four choices). An
  optimiser never sees the raw values, which may be of mixed types.
* ``int``: ``int_uniform`` by its value, ``q_uniform`` by ``k`` in ``value = k * q``: both
  are evenly spaced lattices, so their order and spacing are the optimiser's.
* ``unit``: every other form by W&B's own mechanism, the uniform draw ``u`` that
  :func:`sweepctl.search.space.sample` maps through the inverse CDF. ``u`` is the CDF of the
  value, so the optimiser works in the prior's own scale (log for ``log_uniform_values``, in
  standard deviations for ``normal``) and the value always has the form's type and support.
  Unbounded forms (the normal family; beta, whose shape can crowd the ends) search ``u`` in
  ``[TAIL, 1 - TAIL]``, i.e. within 3.7 standard deviations of ``mu``.

A parameter that can take a single value (one distinct categorical value, a ``q_uniform``
range inside one step, a nested ``min >= max`` that W&B's validator lets through) is fixed at
the value W&B would give it. Configs are built with :func:`space.run_config`, so key order and
nesting are those of random and grid search.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sweepctl.search.contract import RunRecord
from sweepctl.search.grid import value_key
from sweepctl.search.space import (
    MISSING,
    _beta_tails,
    lookup,
    quantize,
    run_config,
    sample,
    wandb_order,
)
from sweepctl.spec.model import Param, SweepSpec

TAIL = 1e-4  # how close to 0 or 1 the latent u of an unbounded form may go

# Continuous forms bounded by their spec: the value is clamped into this support, which
# rounding in exp(log(x)) could otherwise leave by an ulp.
_BOUNDED = {
    "uniform": lambda s: (s["min"], s["max"]),
    "log_uniform": lambda s: (math.exp(s["min"]), math.exp(s["max"])),
    "log_uniform_values": lambda s: (s["min"], s["max"]),
    "inv_log_uniform": lambda s: (math.exp(-s["max"]), math.exp(-s["min"])),
    "inv_log_uniform_values": lambda s: (s["min"], s["max"]),
}
_UNBOUNDED = {"normal", "q_normal", "log_normal", "q_log_normal", "beta", "q_beta"}


def _log(x: float) -> float:
    return math.log(x) if x > 0 else -math.inf


def _phi(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _ratio(x: float, low: float, high: float) -> float:
    return (x - low) / (high - low)


def unit_of(param: Param, value: float) -> float:
    """The draw ``u`` for which W&B gives ``param`` this value: the inverse of ``sample``.

    For a quantized form it is the CDF at the lattice value, one ``u`` of the draws that round
    to it. Not clamped: a value outside the form's support gives ``u`` outside [0, 1].
    """
    s, form = param.spec, param.distribution
    base = form[2:] if form.startswith("q_") else form
    if base == "uniform":
        return _ratio(value, s["min"], s["max"])
    if base == "log_uniform":
        return _ratio(_log(value), s["min"], s["max"])
    if base == "log_uniform_values":
        return _ratio(_log(value), math.log(s["min"]), math.log(s["max"]))
    if base == "inv_log_uniform":
        return 1.0 - _ratio(-_log(value), s["min"], s["max"])
    if base == "inv_log_uniform_values":
        return 1.0 - _ratio(-_log(value), -math.log(s["max"]), -math.log(s["min"]))
    if base == "normal":
        return _phi((value - s["mu"]) / s["sigma"])
    if base == "log_normal":
        return _phi((_log(value) - s["mu"]) / s["sigma"]) if value > 0 else 0.0
    if base == "beta":
        return _beta_tails(s["a"], s["b"], value)[0]
    raise ValueError(f"no unit coordinate for {form!r}")


def _number(value: Any) -> float | None:
    """A config value as a float, or None when it is not a plain number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(frozen=True)
class Dim:
    """One searched parameter and its latent coordinate (see the module docstring)."""

    param: Param
    kind: str  # "index", "int" or "unit"
    low: float  # latent bounds, both included
    high: float
    choices: tuple[Any, ...] = ()  # index: the distinct values
    choice_keys: tuple[str, ...] = ()  # index: their value keys, in the same order
    # index: (type, repr) of each choice -> its index; runs hold our own values, so this
    # spares a YAML dump per run and parameter on each call
    by_repr: dict[tuple[type, str], int] = field(default_factory=dict, compare=False)
    # unit and quantized: the lattice is k * q for k in [k_first, k_first + k_count)
    k_first: int = 0
    k_count: int = 0

    @property
    def name(self) -> str:
        """A unique name for the optimiser (flattened as W&B flattens nested names)."""
        return self.param.sort_key

    @property
    def q(self) -> float | None:
        return self.param.spec["q"] if self.param.distribution.startswith("q_") else None

    @property
    def size(self) -> int | None:
        """How many distinct values the dimension has; None when continuous."""
        if self.kind == "index":
            return len(self.choices)
        if self.kind == "int":
            return int(self.high - self.low) + 1
        return self.k_count if self.q is not None else None

    def value(self, x: float) -> Any:
        """The W&B value at latent coordinate ``x``."""
        form = self.param.distribution
        if self.kind == "index":
            return self.choices[int(x)]
        if self.kind == "int":
            return int(x) if form == "int_uniform" else _lattice(int(x), self.param.spec["q"])
        value = sample(self.param, x)
        if form in _BOUNDED:
            low, high = _BOUNDED[form](self.param.spec)
            value = float(min(max(value, low), high))
        return value

    def latent(self, value: Any) -> float | None:
        """The latent coordinate of a run's value, or None if the value is not in the space."""
        if self.kind == "index":
            index = self._index(value)
            return None if index is None else float(index)
        number = _number(value)
        if number is None or not math.isfinite(number):
            return None
        if self.kind == "int":
            x = number if self.param.distribution == "int_uniform" else number / self.q
            k = round(x)
            if not self.low <= k <= self.high or abs(x - k) > 1e-6:
                return None
            return float(k)
        if self.q is not None:
            # A lattice value: in the space if it is one of the lattice's multiples of q.
            k = number / self.q
            if abs(k - round(k)) > 1e-6 or not 0 <= round(k) - self.k_first < self.k_count:
                return None
            u = unit_of(self.param, number)  # -inf for a log form's 0: the low end
        else:
            u = unit_of(self.param, number)
            if not -1e-9 <= u <= 1 + 1e-9:
                return None
        return float(min(max(u, self.low), self.high)) if not math.isnan(u) else None

    def _index(self, value: Any) -> int | None:
        index = self.by_repr.get((type(value), repr(value)))
        if index is None:
            try:
                index = self.choice_keys.index(value_key(value))
            except ValueError:
                return None
        return index

    def from_unit(self, u: float) -> float:
        """The latent coordinate of the value W&B draws for ``u`` (a prior draw)."""
        if self.kind == "unit":
            return min(max(u, self.low), self.high)
        u = min(max(u, TAIL), 1 - TAIL)  # W&B's u == 0 would pick the last value, or min - 1
        if self.kind == "index":
            x = self.latent(sample(self.param, u))
            return 0.0 if x is None else x
        if self.param.distribution == "int_uniform":
            return float(sample(self.param, u))
        x = self.latent(sample(self.param, u))
        return self.low if x is None else x

    def key(self, value: Any) -> Any:
        """What tells two values of this dimension apart (1 and 1.0 are one number)."""
        if self.kind == "index":
            index = self._index(value)
            return value_key(value) if index is None else index
        number = _number(value)
        return value_key(value) if number is None else number

    def lattice(self) -> Iterator[float]:
        """Every latent coordinate of a discrete dimension, one per distinct value."""
        if self.kind in ("index", "int"):
            yield from (float(x) for x in range(int(self.low), int(self.high) + 1))
            return
        for k in range(self.k_first, self.k_first + self.k_count):
            x = self.latent(_lattice(k, self.q))
            if x is not None:
                yield x


def _lattice(k: int, q: float) -> float | int:
    """The ``k``-th multiple of ``q``, computed and typed as W&B's rounding gives it."""
    return quantize(float(k) * q, q)


def _dim(param: Param) -> Dim | tuple[Any]:
    """The dimension for ``param``; a fixed value wrapped in a tuple if it takes only one."""
    form, s = param.distribution, param.spec
    if form in ("categorical", "categorical_w_probabilities"):
        weights = s.get("probabilities") or [1] * len(s["values"])
        by_key: dict[str, Any] = {}
        for value, weight in zip(s["values"], weights, strict=True):
            if weight > 0:
                by_key[value_key(value)] = value  # the last duplicate wins, as in grid
        if len(by_key) <= 1:
            return (next(iter(by_key.values())),)
        choices = tuple(by_key.values())
        by_repr = {(type(v), repr(v)): i for i, v in enumerate(choices)}
        return Dim(param, "index", 0, len(choices) - 1, choices, tuple(by_key), by_repr)
    if form == "int_uniform":
        if not s["min"] < s["max"]:
            return (sample(param, 0.5),)
        return Dim(param, "int", s["min"], s["max"])
    if form == "q_uniform":
        if not (s["min"] < s["max"] and s["q"] > 0):
            return (sample(param, 0.5),)
        low = quantize(s["min"], s["q"]) / s["q"]
        high = quantize(s["max"], s["q"]) / s["q"]
        low, high = round(low), round(high)
        if low == high:
            return (sample(param, 0.5),)
        return Dim(param, "int", low, high)
    tail = TAIL if form in _UNBOUNDED else 0.0
    dim = Dim(param, "unit", tail, 1.0 - tail)
    ends = (dim.value(dim.low), dim.value(dim.high))
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in ends) or (
        ends[0] == ends[1]
    ):
        return (sample(param, 0.5),)
    if dim.q is not None:
        first, last = round(ends[0] / dim.q), round(ends[1] / dim.q)
        dim = replace(dim, k_first=first, k_count=last - first + 1)
    return dim


@dataclass(frozen=True)
class Space:
    """The searched dimensions of a sweep, and the parameters fixed at one value."""

    dims: tuple[Dim, ...]
    fixed: tuple[tuple[Param, Any], ...]

    @classmethod
    def of(cls, spec: SweepSpec) -> Space:
        """The space of a sweep's parameters, in W&B's order."""
        dims: list[Dim] = []
        fixed: list[tuple[Param, Any]] = []
        for param in wandb_order(spec.params):
            if param.distribution == "constant":
                fixed.append((param, param.spec["value"]))
                continue
            dim = _dim(param)
            if isinstance(dim, Dim):
                dims.append(dim)
            else:
                fixed.append((param, dim[0]))
        return cls(tuple(dims), tuple(fixed))

    @property
    def size(self) -> int | None:
        """How many distinct configs the space has; None when a dimension is continuous."""
        total = 1
        for dim in self.dims:
            if dim.size is None:
                return None
            total *= dim.size
        return total

    def config(self, point: Sequence[float]) -> dict[str, Any]:
        """The run config at a latent point (one coordinate per dimension)."""
        chosen = [(d.param, d.value(x)) for d, x in zip(self.dims, point, strict=True)]
        return run_config([*self.fixed, *chosen])

    def key(self, config: dict[str, Any]) -> tuple[Any, ...] | None:
        """What tells configs apart: the searched values; None if one is missing."""
        out = []
        for dim in self.dims:
            value = lookup(config, dim.param.path)
            if value is MISSING:
                return None
            out.append(dim.key(value))
        return tuple(out)

    def point(self, config: dict[str, Any]) -> tuple[float, ...] | None:
        """A run config's latent point; None if a value is missing or outside the space."""
        out = []
        for dim in self.dims:
            value = lookup(config, dim.param.path)
            x = None if value is MISSING else dim.latent(value)
            if x is None:
                return None
            out.append(x)
        return tuple(out)

    def taken(
        self,
        history: Sequence[RunRecord],
        points: Sequence[tuple[float, ...] | None] | None = None,
    ) -> set[tuple[Any, ...]]:
        """The keys of the history's configs that are points of this space, whatever the
        run's state (a config from an older version of the sweep file takes no point).
        ``points``: the runs' latent points, if the caller has them already."""
        if points is None:
            points = [self.point(run.config) for run in history]
        return {
            self.key(run.config)
            for run, point in zip(history, points, strict=True)
            if point is not None
        }
