"""The metrics channel: one JSON object per line, one line per logged step.

A run's child appends lines to the file named by `SWEEPCTL_METRICS_FILE` (through
`sweepctl.log`, or `WandbCapture` below, which `bootstrap/sitecustomize.py` sets on wandb's run
classes when the child imports wandb); the agent tails it.

Format: each line is a JSON object of one step's values plus `_step` and `_timestamp`, as in a
W&B history row. Non-finite floats are written as the tokens `NaN`, `Infinity` and `-Infinity`
(what Python's json module writes and reads): a diverged run's `NaN` loss stays visible instead
of turning into `null`. Strict JSON readers (jq, browsers) reject those tokens; this module's
reader accepts them, and the metric rules below ignore non-finite values as W&B does.

This module is also loaded by file path inside children that may not have sweepctl installed,
so it imports only the standard library and nothing from the package.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import stat
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
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


# What one poll reads at most, and the longest line kept: a child cannot make the agent read
# without end (a link to /dev/zero) or hold a line of gigabytes.
READ_CHUNK = 4 * 1024 * 1024
MAX_LINE = 1024 * 1024
# Opened without following a symlink, without waiting on a FIFO, never as a terminal.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
)


class MetricsTail:
    """Reads the complete lines appended to a metrics file since the last read.

    The file is the child's to write, so it is read defensively: a symlink, a FIFO or a device
    in its place is not read at all (``refused`` says why), each poll reads at most
    ``READ_CHUNK`` bytes, and a line longer than ``MAX_LINE`` is skipped.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.offset = 0
        self.skipped = 0  # lines that were not a JSON object
        self.refused: str | None = None  # why the file is not read, if it is not
        self._partial = b""
        self._overlong = False  # inside a line past MAX_LINE: drop up to its newline

    def read_new(self, *, final: bool = False) -> list[dict[str, Any]]:
        """Return the rows of the lines completed since the last call (none if no file yet).

        A last line without its newline waits for the next call, unless `final` says the
        writer has exited (then the rest of the file is read, chunk by chunk). A file that
        shrank was replaced: reading starts over from its start.
        """
        rows: list[dict[str, Any]] = []
        while True:
            try:
                data = self._read_from_offset()
            except FileNotFoundError:
                return rows
            self.offset += len(data)
            rows.extend(self._rows(data))
            if not final or len(data) < READ_CHUNK:
                break
        if final and self._partial:
            if not self._overlong:
                row = self._parse(self._partial)
                if row is not None:
                    rows.append(row)
            self._partial = b""
        return rows

    def _rows(self, data: bytes) -> list[dict[str, Any]]:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        rows = []
        for line in lines:
            if self._overlong:  # the end of a line already given up on
                self._overlong = False
                continue
            row = self._parse(line) if len(line) <= MAX_LINE else self._skip()
            if row is not None:
                rows.append(row)
        if len(self._partial) > MAX_LINE:
            if not self._overlong:
                self._skip()
            self._overlong = True
            self._partial = b""
        return rows

    def _skip(self) -> None:
        self.skipped += 1

    def _read_from_offset(self) -> bytes:
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            self.refused = f"cannot open it: {exc.strerror}"  # e.g. ELOOP: a symlink
            return b""
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                self.refused = "it is not a regular file"
                return b""
            self.refused = None
            if info.st_size < self.offset:  # replaced or truncated
                self.offset = 0
                self._partial = b""
                self._overlong = False
            return os.pread(fd, READ_CHUNK, self.offset)
        finally:
            os.close(fd)

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


# -- wandb capture, inside a run's Python child -------------------------------------------------

# wandb module → the run classes in it whose `log` and `finish` the capture wraps. (The
# bootstrap keeps a copy, so that imports other than wandb's never read this file.)
WANDB_RUN_CLASSES = {
    "wandb.sdk.wandb_run": ("Run",),
    "wandb.sdk.lib.noop_run": ("NoopRun",),
}


class WandbCapture:
    """Turns wandb's log calls into metrics-file steps, following wandb's step rules.

    Made inside a run's child by `bootstrap/sitecustomize.py`, which loads this file by path
    when the program imports wandb (so children that never do are spared reading this).

    Per run: values accumulate for the current step; a call with `commit` true (the default
    when no `step` is given) writes the step and moves to the next one; `step=` larger than
    the current step writes what was pending and jumps there; a smaller one is dropped, as
    wandb drops it. Whatever is pending is written at `finish()` or at interpreter exit.
    """

    _MARK = "_sweepctl_capture"

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.RLock()
        self._local = threading.local()
        self._runs: Any = weakref.WeakKeyDictionary()  # run → [step, pending values]
        # Called after every log call recorded; may raise (a function run ended there).
        self.after_log: Callable[[], None] | None = None
        atexit.register(self._flush_all)

    def retarget(self, path: str) -> None:
        """Write what is pending to the current file, then log into ``path`` (the next run of
        a function agent, in this same process)."""
        with self._lock:
            self._flush_all()
            self._path = path

    def patch_module(self, module: Any, class_names: Iterable[str]) -> None:
        for class_name in class_names:
            cls = getattr(module, class_name, None)
            if cls is None:
                continue
            for method, wrap in (("log", self._wrap_log), ("finish", self._wrap_finish)):
                original = cls.__dict__.get(method)
                if callable(original) and not getattr(original, self._MARK, False):
                    setattr(cls, method, wrap(original))

    def _wrap_log(self, original: Any) -> Any:
        capture = self

        @functools.wraps(original)
        def log(run: Any, *args: Any, **kwargs: Any) -> Any:
            local = capture._local
            outer = not getattr(local, "active", False)
            local.active = True
            try:
                result = original(run, *args, **kwargs)
            finally:
                if outer:
                    local.active = False
            # Only a call that wandb accepted is recorded, and only the outermost one.
            if outer:
                with contextlib.suppress(Exception):
                    capture._on_log(run, args, kwargs)
                if capture.after_log is not None:
                    capture.after_log()
            return result

        setattr(log, self._MARK, True)
        return log

    def _wrap_finish(self, original: Any) -> Any:
        capture = self

        @functools.wraps(original)
        def finish(run: Any, *args: Any, **kwargs: Any) -> Any:
            with contextlib.suppress(Exception):
                capture._flush_run(run)
            return original(run, *args, **kwargs)

        setattr(finish, self._MARK, True)
        return finish

    def _on_log(self, run: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        data = args[0] if args else kwargs.get("data")
        step = args[1] if len(args) > 1 else kwargs.get("step")
        commit = args[2] if len(args) > 2 else kwargs.get("commit")
        if not hasattr(data, "items"):
            return
        with self._lock:
            state = self._runs.get(run)
            if state is None:
                try:
                    first = int(getattr(run, "_starting_step", 0) or 0)
                except Exception:
                    first = 0
                state = self._runs[run] = [first, {}]
            if step is not None:
                step = int(step)
                if step < state[0]:
                    return
                if step > state[0]:
                    self._write(state)
                    state[0] = step
            for key, value in data.items():
                state[1][str(key)] = jsonable(value)
            if (step is None) if commit is None else commit:
                self._write(state)
                state[0] += 1

    def _write(self, state: list[Any]) -> None:
        step, pending = state
        if pending:
            state[1] = {}
            pending["_step"] = step
            append(self._path, pending)

    def _flush_run(self, run: Any) -> None:
        with self._lock:
            state = self._runs.pop(run, None)
            if state is not None:
                self._write(state)

    def _flush_all(self) -> None:
        try:
            with self._lock:
                states = list(self._runs.values())
                self._runs.clear()
                for state in states:
                    self._write(state)
        except Exception:
            pass


def patching_spec(
    finder: Any, fullname: str, path: Any, target: Any, on_loaded: Callable[[str, Any], None]
) -> Any:
    """The spec the other meta path finders give `fullname`, its loader wrapped so that
    `on_loaded(fullname, module)` runs once the module is loaded (None if none finds it)."""
    for other in list(sys.meta_path):
        find_spec = getattr(other, "find_spec", None)
        if other is finder or find_spec is None:
            continue
        spec = find_spec(fullname, path, target)
        if spec is not None:
            break
    else:
        return None
    if spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return spec
    spec.loader = _PatchingLoader(spec.loader, lambda module: on_loaded(fullname, module))
    return spec


class _PatchingLoader:
    """Runs the real loader, then hands the loaded module to the capture."""

    def __init__(self, loader: Any, on_loaded: Any) -> None:
        self._loader = loader
        self._on_loaded = on_loaded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        try:
            module.__loader__ = self._loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self._loader
            self._on_loaded(module)
        except Exception:
            pass
