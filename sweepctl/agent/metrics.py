"""The metrics channel: one JSON object per line, one line per logged step.

A run's child appends lines to the file named by `SWEEPCTL_METRICS_FILE` (through
`sweepctl.log` or the wandb capture in `bootstrap/sitecustomize.py`); the agent tails it.

Format: each line is a JSON object of one step's values plus `_step` and `_timestamp`, as in a
W&B history row. Non-finite floats are written as the tokens `NaN`, `Infinity` and `-Infinity`
(what Python's json module writes and reads): a diverged run's `NaN` loss stays visible instead
of turning into `null`. Strict JSON readers (jq, browsers) reject those tokens; this module's
reader accepts them, and the metric rules below ignore non-finite values as W&B does.

This module is also loaded by file path inside children that may not have sweepctl installed,
so it imports only the standard library and nothing from the package.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

_MAX_DEPTH = 32

_lock = threading.Lock()
# Next implicit `_step` per file written by this process, keyed by absolute path.
_next_step: dict[str, int] = {}


def jsonable(value: Any, _depth: int = 0) -> Any:
    """Return `value` as something `json.dumps` can write.

    numpy/torch scalars become Python numbers through `.item()`, mappings get string keys,
    tuples become lists, and anything else that JSON cannot hold becomes `str(value)`.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if _depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _depth + 1) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            scalar = item()
        except Exception:  # a tensor of many elements, or an object with another .item
            scalar = None
        else:
            if scalar is None or isinstance(scalar, (bool, int, float, str)):
                return scalar
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def append(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Append `data` as one step (one JSON line) to the metrics file at `path`.

    `_step` defaults to the number of steps this process has written to that file; an explicit
    `_step` moves that count forward like wandb's `step=`. `_timestamp` defaults to now.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"metrics must be a mapping, not {type(data).__name__}")
    row = jsonable(data)
    key = os.path.abspath(os.fspath(path))
    with _lock:
        next_step = _next_step.get(key, 0)
        if "_step" in row:
            given = row["_step"]
            if isinstance(given, int) and not isinstance(given, bool):
                next_step = max(next_step, given + 1)
        else:
            row["_step"] = next_step
            next_step += 1
        row.setdefault("_timestamp", time.time())
        line = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        _write_line(key, line)
        _next_step[key] = next_step


def _write_line(path: str, line: bytes) -> None:
    # One O_APPEND write per line: on a local file system writers in several processes do not
    # interleave inside a line, and a reader sees a line whole or not yet (a short write
    # happens only on a full disk; the reader then skips the torn line).
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o666)
    try:
        view = memoryview(line)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


class MetricsTail:
    """Reads the complete lines appended to a metrics file since the last read."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.offset = 0
        self.skipped = 0  # lines that were not a JSON object
        self._partial = b""

    def read_new(self, *, final: bool = False) -> list[dict[str, Any]]:
        """Return the rows of the lines completed since the last call (none if no file yet).

        A last line without its newline waits for the next call, unless `final` says the
        writer has exited. A file that shrank was replaced: reading starts over from its start.
        """
        try:
            data = self._read_from_offset()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        rows = []
        for line in lines:
            row = self._parse(line)
            if row is not None:
                rows.append(row)
        return rows

    def _read_from_offset(self) -> bytes:
        with open(self.path, "rb") as f:
            if os.fstat(f.fileno()).st_size < self.offset:  # replaced or truncated
                self.offset = 0
                self._partial = b""
            f.seek(self.offset)
            return f.read()

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        line = line.strip()
        if not line:
            return None
        try:
            row = json.loads(line)
        except Exception:  # ValueError, UnicodeDecodeError, RecursionError on absurd nesting
            row = None
        if not isinstance(row, dict):
            self.skipped += 1
            return None
        return row


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
