"""Function runs: each run of a sweep is a call of a Python function in this process.

What ``wandb.agent(sweep_id, function=train)`` does, on sweepctl's store: before each call the
run's config is written where ``wandb.init()`` reads it (``WANDB_SWEEP_PARAM_PATH``) and the
run's variables are set in ``os.environ``; ``wandb.log`` (captured in this process) and
``sweepctl.log`` append to the run's metrics file, which a keeper thread moves into the store
while the function runs, heartbeating and reading stop requests as the CLI agent does.

The function runs in the calling thread, so a notebook's functions and closures work and
Ctrl-C reaches it as KeyboardInterrupt. A run that must end early (hyperband, a canceled
sweep, a timeout) cannot be killed like a child process: it is ended at its next logged step,
where the log call raises :class:`RunStopped`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from sweepctl.agent import metrics
from sweepctl.agent.loop import (
    CONTROL_EVERY,
    POLL,
    Agent,
    RunFiles,
    run_variables,
)
from sweepctl.agent.metrics import MetricsTail, WandbCapture
from sweepctl.agent.recorder import Recorder
from sweepctl.backends.base import AgentReport, Outcome
from sweepctl.backends.local.controller import settle
from sweepctl.records import Run


class RunStopped(BaseException):
    """Raised by a log call inside a function run that must end now (stopped by hyperband
    or by request, its sweep canceled, or past its timeout).

    A BaseException, like KeyboardInterrupt, so that training code's ``except Exception``
    does not swallow it; the agent catches it and records the run's state.
    """

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


@dataclass
class _Current:
    """The function run in progress in this process."""

    run_id: str
    ending: tuple[str, str] | None = None  # (state, reason) once the run must end


_current: _Current | None = None


def check_stop() -> None:
    """Called after each step a function run logs: raise :class:`RunStopped` there if the
    run must end. Does nothing outside a function run or off the thread that runs it."""
    current = _current
    if current is None or current.ending is None or threading.current_thread() is not _owner:
        return
    state, reason = current.ending
    raise RunStopped(state, reason)


_owner: threading.Thread | None = None  # the thread that calls the function


# -- wandb in this process ---------------------------------------------------------------------


class _WandbHook:
    """Captures ``wandb.log`` in this process: patches wandb's run classes now if wandb is
    imported, else when it is (a meta path finder that acts only on those modules)."""

    _sweepctl_capture = True

    def __init__(self) -> None:
        self.capture = WandbCapture(os.devnull)
        self.capture.after_log = check_stop

    def install(self) -> None:
        for name, classes in metrics.WANDB_RUN_CLASSES.items():
            if name in sys.modules:
                self.capture.patch_module(sys.modules[name], classes)
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in metrics.WANDB_RUN_CLASSES:
            return None
        return metrics.patching_spec(self, fullname, path, target, self._patch)

    def invalidate_caches(self) -> None:
        pass

    def _patch(self, fullname: str, module: Any) -> None:
        self.capture.patch_module(module, metrics.WANDB_RUN_CLASSES[fullname])


def _wandb_fresh() -> None:
    """Make the next ``wandb.init()`` read this run's environment, as W&B's agent does: the
    wandb singleton keeps the environment it saw first."""
    wandb = sys.modules.get("wandb")
    teardown = getattr(wandb, "teardown", None)
    if teardown is not None:
        with contextlib.suppress(Exception):
            teardown()


def _wandb_finish(exit_code: int) -> None:
    """End a ``wandb.run`` the function left open, so it never leaks into the next run."""
    wandb = sys.modules.get("wandb")
    if wandb is None or getattr(wandb, "run", None) is None:
        return
    with contextlib.suppress(Exception):
        wandb.finish(exit_code=exit_code)


# -- output -----------------------------------------------------------------------------------


class _Tee:
    """A text stream that also writes into the run's log file."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self._stream = stream
        self._log = log

    def write(self, text: str) -> int:
        with contextlib.suppress(Exception):
            self._log.write(text)
        return self._stream.write(text)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self._log.flush()
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def _teed(log: TextIO) -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


# -- the agent ----------------------------------------------------------------------------------


@dataclass
class _Watch:
    """A running function run's metrics on their way to the store."""

    run: Run
    tail: MetricsTail
    recorder: Recorder
    deadline: float | None


class FunctionAgent(Agent):
    """An agent whose runs are calls of ``function()`` in this process, one at a time."""

    def __init__(self, *args: Any, function: Callable[[], Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.function = function
        self.workers = 1
        self._watch_lock = threading.Lock()
        self._watch: _Watch | None = None
        self._hook = _WandbHook()

    def preflight(self) -> None:
        """A function needs no program: nothing to check before claiming."""

    def run(self) -> AgentReport:
        global _owner
        self._start(1)
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep, args=(done,), name="sweepctl-keeper", daemon=True
        )
        keeper.start()
        self._hook.install()
        _owner = threading.current_thread()
        try:
            self._worker(0)
            self._guarded(lambda: settle(self.store, self.sweep.id, self.spec))
        except KeyboardInterrupt:  # between runs: while claiming or waiting
            self._interrupted()
        finally:
            _owner = None
            self._hook.remove()
            done.set()
            keeper.join()
            self._guarded(lambda: self.store.end_agent(self.agent_id))
        if self._fatal is not None:  # as the CLI's agent: sweepctl itself failed
            raise self._fatal
        return self.report

    def _interrupted(self) -> None:
        self._interrupt.set()
        self._no_more.set()
        self.report.interrupted = True
        self.report.signal = signal.SIGINT

    def _keep(self, done: threading.Event) -> None:
        """Heartbeats, stop requests and the running run's metrics, off the function's
        thread."""
        last_control = time.monotonic()
        chores = self._chores()
        while not done.wait(POLL):
            now = time.monotonic()
            with self._watch_lock:
                watch = self._watch
                if watch is not None:
                    before = watch.recorder.steps
                    watch.recorder.add(watch.tail.read_new())
                    logged = watch.recorder.steps != before
                    self._check_metric_name(watch.recorder, ended=False)
            if watch is not None and (logged or now - last_control >= CONTROL_EVERY):
                last_control = now
                self._guarded(self._poll_control)
                current = _current
                if current is not None and current.ending is None:
                    current.ending = self._ending(current.run_id, watch.deadline)
            chores(now)

    def _execute(self, run: Run, index: int) -> Outcome:
        global _current
        files = RunFiles(self.store.run_dir(self.sweep.id, run.id))

        def write() -> TextIO:
            self._write_run_files(run, files)
            return open(files.log, "a", encoding="utf-8")  # closed by the with below

        variables = run_variables(
            os.environ, sweep=self.sweep, spec=self.spec, run=run, files=files
        )
        saved = {key: os.environ.get(key) for key in [*variables, "WANDB_SWEEP_ID"]}
        log_file = self._written_or_given_back(run, files, write)
        state, code, reason = "finished", 0, None
        # Everything from here on is undone in the finally, whichever step raises: the
        # environment, the capture's target, the watch and the log file.
        try:
            with log_file as log:
                os.environ.update(variables)
                os.environ.pop("WANDB_SWEEP_ID", None)
                _wandb_fresh()
                self._hook.capture.retarget(str(files.metrics))
                started = time.monotonic()
                deadline = started + self.timeout if self.timeout else None
                recorder = Recorder(self.store, self.sweep.id, run.id, self.spec, self.observer)
                watch = _Watch(run, MetricsTail(files.metrics), recorder, deadline)
                with self._watch_lock:
                    self._watch = watch
                    self._active[run.id] = None  # type: ignore[assignment]  # no child: a call
                _current = _Current(run.id)
                self.observer.started(run, index)
                with _teed(log):
                    try:
                        self.function()
                    except RunStopped as exc:
                        state, code, reason = exc.state, None, exc.reason
                    except KeyboardInterrupt:
                        state, code, reason = "killed", None, "interrupted (Ctrl-C)"
                        self._interrupted()
                    except SystemExit as exc:
                        if exc.code not in (None, 0):
                            state, code, reason = "failed", 1, f"SystemExit({exc.code!r})"
                    except BaseException as exc:  # the run failed; the agent goes on
                        log.write(traceback.format_exc())
                        state, code = "failed", 1
                        reason = "".join(traceback.format_exception_only(exc)).strip()
                        reason = reason.splitlines()[-1] if reason else type(exc).__name__
                    else:
                        if _current.ending is not None:  # asked to end; it returned first
                            state, reason = _current.ending
                            code = None
                    _wandb_finish(0 if state == "finished" else 1)
        finally:
            _current = None
            self._hook.capture.retarget(os.devnull)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            with self._watch_lock:
                self._watch = None
                self._active.pop(run.id, None)
                self._stop_requests.pop(run.id, None)
        recorder.add(watch.tail.read_new(final=True))  # the keeper no longer reads it
        self._persist(recorder.flush, f"run {run.id}'s last metrics")
        self._check_metric_name(recorder, ended=True)
        self._persist(
            lambda: self.store.finish_run(run.id, state, exit_code=code, reason=reason),
            f"how run {run.id} ended",
        )
        outcome = Outcome(
            run, state, code, reason, time.monotonic() - started, files.log, recorder.best
        )
        self.observer.ended(outcome)
        return outcome
