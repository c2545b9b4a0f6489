"""Limits on what one sweep file may ask for, so a few lines cannot cost minutes or gigabytes.

A YAML alias bomb inside ``values:``, a grid axis of ``int_uniform 0..1e12``, or a million
``values`` all pass a schema; each is refused with a clear error at ``validate`` and
``create``. Each limit is far above any real sweep file and can be raised from the
environment, for the rare file that needs more:

- ``SWEEPCTL_MAX_NODES`` (50000): values, keys, lists and mappings in the file, counted with
  YAML aliases expanded (and while parsing, so the parse itself stays short);
- ``SWEEPCTL_MAX_VALUES`` (10000): items in one parameter's ``values`` list;
- ``SWEEPCTL_MAX_GRID`` (1000000): points of a grid sweep, and values along one grid axis,
  counted without building them.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from sweepctl.errors import UsageError

ENV = {"nodes": "SWEEPCTL_MAX_NODES", "values": "SWEEPCTL_MAX_VALUES", "grid": "SWEEPCTL_MAX_GRID"}


class LimitError(UsageError):
    """A sweep file over one of the limits."""


@dataclass(frozen=True)
class Limits:
    nodes: int = 50_000
    values: int = 10_000
    grid: int = 1_000_000


def limits() -> Limits:
    """The limits in force: the defaults, each raised or lowered by its environment variable."""
    chosen: dict[str, int] = {}
    for field, variable in ENV.items():
        raw = os.environ.get(variable)
        if raw is None or not raw.strip():
            continue
        try:
            value = int(raw)
        except ValueError:
            raise UsageError(f"{variable} must be a whole number, found {raw!r}") from None
        if value < 1:
            raise UsageError(f"{variable} must be at least 1, found {value}")
        chosen[field] = value
    return Limits(**chosen)


def raise_hint(field: str) -> str:
    """How to raise one limit."""
    return f"if the file really needs more, set {ENV[field]}=N in the environment"


def grid_axis_length(distribution: str, spec: dict[str, Any]) -> int:
    """How many values grid search enumerates for one parameter, without enumerating them
    (W&B's rules: ``values`` as listed, ``int_uniform`` min..max inclusive, ``q_uniform`` as
    ``numpy.arange(min, max, q)``)."""
    if distribution == "constant":
        return 1
    if distribution == "categorical":
        return len(spec["values"])
    if distribution == "int_uniform":
        return max(0, int(spec["max"]) - int(spec["min"]) + 1)
    if distribution == "q_uniform":
        span = (spec["max"] - spec["min"]) / spec["q"]
        return max(0, math.ceil(span)) if math.isfinite(span) else sys.maxsize
    return 1  # not enumerable: grid search refuses it elsewhere


def long_values_lists(params: Any, path: tuple[Any, ...], limit: int) -> list[tuple[Any, ...]]:
    """Key paths of the ``values`` lists under ``params`` (nested blocks too) over ``limit``."""
    found: list[tuple[Any, ...]] = []
    if not isinstance(params, dict):
        return found
    for name, block in params.items():
        if not isinstance(block, dict):
            continue
        values = block.get("values")
        if isinstance(values, list) and len(values) > limit:
            found.append((*path, name, "values"))
        found.extend(long_values_lists(block.get("parameters"), (*path, name, "parameters"), limit))
    return found


def grid_problem(params: list[Any], limit: int) -> tuple[Any, str] | None:
    """The first parameter (a spec ``Param``) that makes a grid too large, and why; None if the
    grid is within ``limit`` points. Counted from the lengths, never by building the grid."""
    total = 1
    for param in params:
        length = grid_axis_length(param.distribution, param.spec)
        if length > limit:
            return param, f"grid search would enumerate {length} values of {param.name!r}"
        total *= max(length, 1)
        if total > limit:
            return param, f"the grid has over {limit} points (at {param.name!r})"
    return None
