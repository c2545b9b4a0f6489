"""A run's metric by W&B's rules: the summary (the last value of each key), the metric looked
up by name (a plain key first, else a dotted path into nested values), its finite values in
logged order (hyperband's iterations), and a finished run's value (the best of them).

One home for the rules that local agents, W&B's runs and the reports all apply. Plain
functions of plain data; nothing here runs inside a training program.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """W&B's default summary: the last value of each key, without `_` keys except `_step`."""
    summary: dict[str, Any] = {}
    for row in rows:
        for key, value in row.items():
            if not key.startswith("_") or key == "_step":
                summary[key] = value
    return summary


_MISSING = object()


def _lookup(obj: Any, name: str) -> Any:
    """The value of metric `name` in `obj`: the plain key first, else a dotted path."""
    if not isinstance(obj, Mapping):
        return _MISSING
    if name in obj:
        return obj[name]
    start = 0
    while (dot := name.find(".", start)) != -1:
        head = obj.get(name[:dot], _MISSING)
        if isinstance(head, Mapping):
            found = _lookup(head, name[dot + 1 :])
            if found is not _MISSING:
                return found
        start = dot + 1
    return _MISSING


def _finite_number(value: Any) -> float | None:
    # W&B's sweeps `is_number`: a finite int or float; bools and numeric strings do not count.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def metric_history(rows: Iterable[Mapping[str, Any]], name: str) -> list[float]:
    """The finite values of metric `name` in logged order (hyperband's iterations)."""
    values = []
    for row in rows:
        number = _finite_number(_lookup(row, name))
        if number is not None:
            values.append(number)
    return values


_GOALS = {
    "minimize": min,
    "min": min,
    "minimum": min,
    "maximize": max,
    "max": max,
    "maximum": max,
}


def metric_value(
    rows: Iterable[Mapping[str, Any]],
    summary: Mapping[str, Any] | None,
    name: str,
    goal: str,
) -> float | None:
    """A finished run's metric, W&B's rule: the best finite value in its history and summary.

    None when the metric never appeared with a finite value.
    """
    best = _GOALS.get(goal.lower())
    if best is None:
        raise ValueError(f"metric goal must be 'minimize' or 'maximize', not {goal!r}")
    values = metric_history(rows, name)
    if summary is not None:
        number = _finite_number(_lookup(summary, name))
        if number is not None:
            values.append(number)
    return best(values) if values else None
