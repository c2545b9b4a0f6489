"""Grid search, point for point as W&B's ``sweeps.grid_search.grid_search_next_runs``.

Axes are the non-constant parameters in W&B's order (the last one varies fastest); a point is
taken by any run in the history whose config holds its values, whatever the run's state, so a
failed point is never issued again. Values are told apart as W&B tells them apart: by their
YAML text, with integral floats read as ints, so ``[1, 1.0, 2.5]`` is two points.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from sweepctl.domain import GRID_DISTRIBUTIONS
from sweepctl.search.contract import RunRecord
from sweepctl.search.space import MISSING, lookup, run_config, wandb_order
from sweepctl.spec.model import Param, SweepSpec


@dataclass(frozen=True)
class _Axis:
    """One grid dimension: its distinct value keys in first-seen order, and their values."""

    param: Param
    keys: tuple[str, ...]
    values: dict[str, Any]  # key -> value; the last duplicate wins, as in W&B's lookup
    dict_keys: frozenset[Any] | None  # union of keys of dict values, if any value is a dict


def arange(start: float, stop: float, step: float) -> list[float] | list[int]:
    """``numpy.arange(start, stop, step).tolist()`` without numpy, float drift included.

    numpy fills ``start + i * delta`` with ``delta = (start + step) - start``, which is not
    ``step`` in floating point: ``arange(1.0, 1.3, 0.1)`` ends ``1.2000000000000002,
    1.3000000000000003``.
    """
    length = math.ceil((stop - start) / step)
    if length <= 0:
        return []
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)):
        return [start + i * step for i in range(length)]
    first = float(start)
    second = float(start + step)
    delta = second - first
    return [first, second, *(first + i * delta for i in range(2, length))][:length]


def value_key(value: Any) -> str:
    """What W&B hashes to tell grid values apart: YAML text, integral floats as ints."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return _scalar_key(value)
    return yaml.dump(value, default_flow_style=True, sort_keys=True)


@functools.lru_cache(maxsize=65536, typed=True)
def _scalar_key(value: Any) -> str:
    # Dumping YAML is slow and every claim keys every grid value: remember scalars' keys.
    # `typed` keeps 1, 1.0 and True apart, as their YAML texts are apart.
    return yaml.dump(value, default_flow_style=True, sort_keys=True)


def axis_values(param: Param) -> list[Any]:
    """The values W&B enumerates for one grid parameter, duplicates included, in order."""
    spec = param.spec
    if param.distribution == "categorical":
        return list(spec["values"])
    if param.distribution == "int_uniform":
        return list(range(spec["min"], spec["max"] + 1))
    if param.distribution == "q_uniform":
        return arange(spec["min"], spec["max"], spec["q"])
    raise ValueError(
        f"parameter {param.name!r} ({param.distribution}) cannot be enumerated by grid search; "
        f"grid search takes {', '.join(GRID_DISTRIBUTIONS)}"
    )


def _axis(param: Param) -> _Axis:
    values = axis_values(param)
    by_key: dict[str, Any] = {}
    for value in values:
        by_key[value_key(value)] = value
    # Keys keep first-seen order (itertools.product over W&B's hash list); values the last.
    keys = tuple(dict.fromkeys(value_key(v) for v in values))
    dict_keys = {k for v in values if isinstance(v, dict) for k in v}
    return _Axis(param, keys, by_key, frozenset(dict_keys) if dict_keys else None)


_AXES_CACHE: dict[int, tuple[SweepSpec, list[_Axis]]] = {}


def _axes(spec: SweepSpec) -> list[_Axis]:
    """The grid's axes; an agent asks for the same spec's axes at every claim, so keep them."""
    cached = _AXES_CACHE.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    axes = [_axis(p) for p in wandb_order(spec.params) if p.distribution != "constant"]
    if len(_AXES_CACHE) > 32:
        _AXES_CACHE.clear()
    _AXES_CACHE[id(spec)] = (spec, axes)
    return axes


def _config(spec: SweepSpec, axes: Sequence[_Axis], point: Sequence[str]) -> dict[str, Any]:
    constants = [(p, p.spec["value"]) for p in spec.params if p.distribution == "constant"]
    chosen = [(axis.param, axis.values[key]) for axis, key in zip(axes, point, strict=True)]
    return run_config(constants + chosen)


def grid_points(spec: SweepSpec) -> int:
    """How many runs the grid has (1 for a sweep of constants only)."""
    return math.prod(len(axis.keys) for axis in _axes(spec))


def grid_configs(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """Every grid point's run config, in W&B's order."""
    axes = _axes(spec)
    for point in itertools.product(*(axis.keys for axis in axes)):
        yield _config(spec, axes, point)


def _taken(axes: Sequence[_Axis], history: Sequence[RunRecord]) -> set[tuple[str, ...]]:
    """The points that runs in the history hold; a run missing a parameter holds none."""
    cache: dict[tuple[type, str], str] = {}  # many runs share values; YAML dumping is slow

    def key_of(value: Any) -> str:
        memo = (type(value), repr(value))
        if memo not in cache:
            cache[memo] = value_key(value)
        return cache[memo]

    taken: set[tuple[str, ...]] = set()
    for run in history:
        point = []
        for axis in axes:
            value = lookup(run.config, axis.param.path)
            if value is MISSING:
                break
            if axis.dict_keys is not None and isinstance(value, dict):
                # Keys injected at run time (not in any grid value) do not make a new point.
                value = {k: v for k, v in value.items() if k in axis.dict_keys}
            point.append(key_of(value))
        else:
            taken.add(tuple(point))
    return taken


def suggest(
    spec: SweepSpec, history: Sequence[RunRecord], rng: random.Random
) -> dict[str, Any] | None:
    """The first grid point no run in ``history`` holds, or None when the grid is done."""
    axes = _axes(spec)
    taken = _taken(axes, history)
    for point in itertools.product(*(axis.keys for axis in axes)):
        if point not in taken:
            return _config(spec, axes, point)
    return None
