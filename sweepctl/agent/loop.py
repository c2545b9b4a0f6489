"""The agent: claim a run, launch it, watch it, record how it ended; N workers at once.

Workers are threads, each running one child at a time. The main thread heartbeats, polls the
store for control (pause, stop, cancel, per-run stop requests) about once a second, and owns
the signal handlers: the first Ctrl-C (or SIGTERM) stops the children gracefully and records
them as killed, a second one kills them at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sweepctl.agent import macros
from sweepctl.agent.disk import NO_SPACE, check_room, disk_full, is_full
from sweepctl.agent.metrics import MetricsTail
from sweepctl.agent.process import (
    Child,
    check_runnable,
    install_stop_signals,
    restore_signals,
    tail,
)
from sweepctl.agent.recorder import Recorder
from sweepctl.agent.slurm import claim_deadline, task_identity
from sweepctl.backends.base import AgentReport, Observer, Outcome
from sweepctl.backends.local.controller import (
    DONE,
    FINISH,
    RUN,
    WAIT,
    heartbeat_timeout,
    next_run,
    settle,
)
from sweepctl.domain import BEST_STATES
from sweepctl.errors import DiskFull, StoreGoneError, SweepctlError, UsageError
from sweepctl.search.bayes import warm_up
from sweepctl.spec.model import SweepSpec
from sweepctl.store import Run, Store, Sweep
from sweepctl.urls import has_password

T = TypeVar("T")

POLL = 0.25  # how often a worker looks at its child's metrics, in seconds
CONTROL_EVERY = 1.0  # how often the agent reads pause/stop/cancel from the store
BEST_EVERY = 5.0  # how often it reads the sweep's best run, for its progress view
HEARTBEAT_EVERY = 10.0
GRACE = 10.0  # seconds between SIGTERM and SIGKILL
STORE_RETRY = 2.0  # seconds between tries of a write that must not be lost
FLAPPING_WINDOW = 60.0  # W&B: 3 failures in the agent's first minute stop it
FLAPPING_MAX = 3
BOOTSTRAP_DIR = Path(__file__).with_name("bootstrap")


@dataclass
class RunFiles:
    """The files of one run, in the store's folder."""

    folder: Path

    @property
    def params(self) -> Path:
        return self.folder / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.folder / "metrics.jsonl"

    @property
    def log(self) -> Path:
        return self.folder / "output.log"

    @property
    def args_json(self) -> Path:
        return self.folder / "args.json"


def _has_wandb_credentials(env: Mapping[str, str]) -> bool:
    if env.get("WANDB_API_KEY"):
        return True
    netrc = Path(env.get("NETRC", Path.home() / ".netrc"))
    try:
        return "wandb" in netrc.read_text()
    except OSError:
        return False


def run_variables(
    base: Mapping[str, str], *, sweep: Sweep, spec: SweepSpec, run: Run, files: RunFiles
) -> dict[str, str]:
    """What W&B's agent gives a run, plus ours, for a run started with environment ``base``
    (a child's, or this process's for a function run). ``WANDB_SWEEP_ID`` must be unset."""
    found = dict(
        WANDB_SWEEP_PARAM_PATH=str(files.params),
        WANDB_RUN_ID=run.id,
        WANDB_RUN_GROUP=sweep.name or sweep.id,
        SWEEPCTL_SWEEP_ID=sweep.id,
        SWEEPCTL_RUN_ID=run.id,
        SWEEPCTL_METRICS_FILE=str(files.metrics),
    )
    for key, value in (("WANDB_PROJECT", spec.project), ("WANDB_ENTITY", spec.entity)):
        if value and key not in base:
            found[key] = value
    # Without credentials an online wandb.init() would stop to ask for a login; run offline
    # instead (`wandb sync` can upload later). An explicit WANDB_MODE always wins.
    if "WANDB_MODE" not in base and not _has_wandb_credentials(base):
        found["WANDB_MODE"] = "offline"
    return found


def child_environment(
    base: Mapping[str, str],
    *,
    sweep: Sweep,
    spec: SweepSpec,
    run: Run,
    files: RunFiles,
    gpus: str | None = None,
) -> dict[str, str]:
    """The child's environment: the agent's, plus what W&B's agent gives, plus ours."""
    env = dict(base)
    env.update(run_variables(base, sweep=sweep, spec=spec, run=run, files=files))
    # A local sweep is unknown to W&B's server: with WANDB_SWEEP_ID set, an online
    # wandb.init() would ask the server for it.
    env.pop("WANDB_SWEEP_ID", None)
    # A store URL with a password stays out of the children's environment (any process of the
    # same user reads it in /proc/<pid>/environ); a child needs only its files.
    if has_password(env.get("SWEEPCTL_STORAGE", "")):
        del env["SWEEPCTL_STORAGE"]
    if env.get("SWEEPCTL_CAPTURE_WANDB", "1") != "0":
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(BOOTSTRAP_DIR) + (os.pathsep + existing if existing else "")
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    return env


class Agent:
    """Runs a sweep's runs until ``count`` is reached or the sweep has nothing more to run."""

    def __init__(
        self,
        store: Store,
        sweep: Sweep,
        *,
        count: int | None = None,
        workers: int = 1,
        timeout: float | None = None,
        echo: Callable[[str, bytes], None] | None = None,
        say: Callable[[str], None] | None = None,
        cwd: Path | None = None,
        grace: float = GRACE,
        gpu_groups: list[str] | None = None,
        idle_exit: float | None = None,
        observer: Any = None,
    ) -> None:
        self.store = store
        self.sweep = sweep
        self.spec = sweep.spec
        self.count = count
        # One worker per GPU group, each child with that group in CUDA_VISIBLE_DEVICES.
        self.gpu_groups = gpu_groups
        self.workers = len(gpu_groups) if gpu_groups else max(1, workers)
        self.idle_exit = idle_exit
        self.heartbeat_timeout = heartbeat_timeout(self.spec)
        if observer is None:
            observer = Observer()
        self.observer = observer
        self.timeout = timeout
        self.echo = echo
        self.say = say or (lambda message: None)
        self.cwd = cwd or Path.cwd()
        self.grace = grace
        # W&B substitutes ${envvar:...} once, with the agent's environment before any run.
        self.environ = dict(os.environ)
        self.report = AgentReport()
        self.agent_id = ""
        self._lock = threading.Lock()
        self._reserved = 0
        self._active: dict[str, Child] = {}
        self._stop_requests: dict[str, str] = {}
        self._no_more = threading.Event()  # claim nothing new
        self._interrupt = threading.Event()  # first Ctrl-C / SIGTERM
        self._interrupt_state = ("killed", "the agent was interrupted")
        self._kill_now = threading.Event()  # second Ctrl-C
        self._fatal: SweepctlError | None = None  # ends the agent: store deleted, ...
        self._canceled = threading.Event()
        self._started_at = time.monotonic()
        self._failures = 0
        self._ended = 0
        self._metric_warned = False
        self._claim_until: float | None = None
        self._store_away: float | None = None  # since when the store has not answered

    # -- checks before anything is stored ----------------------------------------------------
    def preflight(self) -> None:
        """Refuse to start when the sweep's program cannot run; nothing is stored then."""
        sample = {p.path[0]: None for p in self.spec.params}
        argv = macros.render_command(
            self.spec.command, sample, program=self.spec.program, environ=self.environ
        )
        command = self.spec.command or macros.DEFAULT_COMMAND
        if "${program}" in command:
            if not self.spec.program:
                raise UsageError(
                    f"sweep {self.sweep.shown} has no `program:` and no `command:`: nothing to run",
                    hint="add `program: train.py` to the sweep file and create the sweep again",
                )
            program = Path(self.spec.program)
            if not (self.cwd / program).exists() and not program.is_absolute():
                raise UsageError(
                    f"program {self.spec.program!r} not found in {self.cwd}",
                    hint="run the agent from the directory the sweep's paths are relative to",
                )
        check_runnable(argv, self.environ, self.cwd)

    # -- the main loop -----------------------------------------------------------------------
    def _start(self, workers: int) -> None:
        """What every agent does before its first claim, whatever runs its runs."""
        if self.spec.method == "bayes":
            warm_up()  # seconds of imports, paid here rather than under the sweep's lock
        self.report.workers = workers
        self.agent_id = self.store.register_agent(
            self.sweep.id, socket.gethostname(), os.getpid(), **task_identity(self.environ)
        )
        self._claim_until = claim_deadline(self.environ)  # a SLURM task with --run-time
        self._guarded(self._read_sweep_best)

    def run(self) -> AgentReport:
        self.preflight()
        self._start(self.workers)
        previous = install_stop_signals(self._on_signal)
        threads = [
            threading.Thread(target=self._worker, args=(i,), name=f"worker-{i}", daemon=True)
            for i in range(self.workers)
        ]
        try:
            for thread in threads:
                thread.start()
            last_control = time.monotonic()
            chores = self._chores()
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(timeout=0.1)
                now = time.monotonic()
                if now - last_control >= CONTROL_EVERY:
                    last_control = now
                    self._guarded(self._poll_control)
                chores(now)
            self._guarded(lambda: settle(self.store, self.sweep.id, self.spec))
        finally:
            restore_signals(previous)
            self._guarded(lambda: self.store.end_agent(self.agent_id))
        if self._fatal is not None:
            raise self._fatal
        return self.report

    def _chores(self) -> Callable[[float], None]:
        """The heartbeat and the read of the sweep's best, each at its own interval: a loop
        that wakes often calls the result with the time (``time.monotonic()``)."""
        # Often enough that a short timeout (seconds, in tests) never condemns a live run.
        beat_every = min(HEARTBEAT_EVERY, self.heartbeat_timeout / 3)
        last_beat = last_best = time.monotonic()

        def due(now: float) -> None:
            nonlocal last_beat, last_best
            if now - last_beat >= beat_every:
                last_beat = now
                self._guarded(lambda: self.store.heartbeat(self.agent_id, list(self._active)))
            if now - last_best >= BEST_EVERY:
                last_best = now
                self._guarded(self._read_sweep_best)

        return due

    def _read_sweep_best(self) -> None:
        """Show the whole sweep's best run (other agents' too) in the progress view."""
        metric = self.spec.metric
        if metric is None:
            return
        found = self.store.best_of_sweep(self.sweep.id, BEST_STATES, metric.maximize)
        if found is not None:
            self.observer.sweep_best(*found)

    def _check_metric_name(self, recorder: Recorder, *, ended: bool) -> None:
        """Say once per agent that runs log keys but not the sweep's metric."""
        if self._metric_warned:
            return
        warning = recorder.missing_metric(ended=ended)
        if warning is not None:
            self._metric_warned = True
            self.say(warning)

    def _guarded(self, action: Callable[[], Any]) -> None:
        """Run a store call of the main loop; a store that is away is said once, not fatal."""
        try:
            action()
        except StoreGoneError as exc:
            self._store_gone(exc)
        except DiskFull as exc:
            self._stop_on_fault(exc)
        except SweepctlError as exc:
            self._store_lost(exc.message)
        else:
            self._store_back()

    def _store_lost(self, why: str, waiting: str = "waiting for the store") -> None:
        """Say that the store is away once per outage, not once per retry."""
        with self._lock:
            if self._store_away is not None:
                return
            self._store_away = time.monotonic()
        self.say(f"{waiting} (runs keep going): {why}")

    def _store_back(self) -> None:
        with self._lock:
            since, self._store_away = self._store_away, None
        if since is not None:
            self.say(f"store reachable again after {time.monotonic() - since:.0f}s")

    def _store_gone(self, exc: StoreGoneError) -> None:
        """The store was deleted: stop the runs (nothing can record them) and fail the agent."""
        with self._lock:
            if self._fatal is not None:
                return
            self._fatal = exc
        self.say(f"stopping: {exc.message}")
        self._interrupt_state = ("killed", "the store was deleted")
        self._no_more.set()
        self._interrupt.set()

    def _worker_failed(self, run: Run, exc: Exception) -> Outcome:
        """sweepctl itself could not run ``run`` (a full disk, a file where a folder goes, a
        bug): the run ends failed with the reason, no more runs start, the agent fails."""
        reason = f"sweepctl could not run it: {type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            self.store.finish_run(run.id, "failed", exit_code=None, reason=reason)
        with self._lock:
            if self._fatal is None:
                self._fatal = SweepctlError(f"run {run.id} failed in sweepctl: {exc}")
        self.say(f"run {run.id} failed: {reason}; starting no more runs")
        self._no_more.set()
        outcome = Outcome(run, "failed", None, reason, 0.0, None)
        with contextlib.suppress(Exception):
            self.observer.ended(outcome)
        return outcome

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self._interrupt.is_set():
            self._kill_now.set()
            self.say("killing the running runs now")
            return
        if signum == signal.SIGTERM:
            # What SLURM and spot instances send before taking the machine: the runs did
            # nothing wrong, so they are recorded as preempted and offered again.
            self._interrupt_state = ("preempted", "the agent received SIGTERM")
        self._interrupt.set()
        self._no_more.set()
        self.report.interrupted = True
        self.report.signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        running = len(self._active)
        self.say(
            f"{name}: stopping {running} running run{'s' if running != 1 else ''} "
            f"(SIGTERM, SIGKILL after {self.grace:g}s; press Ctrl-C again to kill now)"
        )

    def _poll_control(self) -> None:
        state, stops = self.store.control(self.sweep.id, list(self._active))
        with self._lock:
            self._stop_requests.update(stops)
        if state == "canceled":
            self._canceled.set()
        if state in ("stopped", "canceled", "finished"):
            self._no_more.set()

    # -- workers -----------------------------------------------------------------------------
    def _reserve(self) -> bool:
        with self._lock:
            if self._no_more.is_set():
                return False
            if self.count is not None and self._reserved >= self.count:
                return False
            if self._claim_until is not None and time.time() >= self._claim_until:
                self.report.stop_reason = "the SLURM task's time limit is near (--run-time)"
                self._no_more.set()
                return False
            self._reserved += 1
            return True

    def _release(self) -> None:
        with self._lock:
            self._reserved -= 1

    def _worker(self, index: int) -> None:
        waiting_since: float | None = None
        while self._reserve():
            try:
                check_room(self.store.files_dir)  # never claim a run that cannot be recorded
                action, value = next_run(self.store, self.sweep.id, self.agent_id, self.spec)
            except DiskFull as exc:
                self._release()
                self._stop_on_fault(exc)
                return
            except SweepctlError as exc:
                self._release()
                self._store_lost(exc.message)
                action, value = WAIT, None  # counts as waiting for --idle-exit
            except Exception as exc:  # a bug in the claim: one line and a failed agent
                self._release()
                with self._lock:
                    if self._fatal is None:
                        self._fatal = SweepctlError(f"could not claim a run: {exc!r}")
                self.say(f"could not claim a run: {exc!r}; starting no more runs")
                self._no_more.set()
                return
            else:
                self._store_back()
            if action == RUN:
                waiting_since = None
                with self._lock:
                    self.report.started += 1
                try:
                    outcome = self._execute(value, index)
                except DiskFull as exc:
                    self._stop_on_fault(exc)
                    return
                except Exception as exc:  # never a dead thread and a run left "running"
                    outcome = self._worker_failed(value, exc)
                self._after(outcome)
                continue
            self._release()
            if action == WAIT:
                now = time.monotonic()
                if waiting_since is None:
                    waiting_since = now
                    if index == 0 and value is not None:
                        self.say(f"waiting: {value}")
                if self.idle_exit is not None and now - waiting_since >= self.idle_exit:
                    with self._lock:
                        if self.report.stop_reason is None:
                            self.report.stop_reason = (
                                f"idle for {self.idle_exit:g}s "
                                f"({value or 'the store is unreachable'}): --idle-exit"
                            )
                    self._no_more.set()
                    return
                self._interrupt.wait(CONTROL_EVERY)
                continue
            if action in (DONE, FINISH):
                # Only this worker stops: the others find out at their own next claim, and
                # the last one to ask is the one that can mark a grid finished.
                with self._lock:
                    if self.report.stop_reason is None or action == FINISH:
                        self.report.stop_reason = value
            return

    def _stop_on_fault(self, exc: SweepctlError) -> None:
        """Claim nothing more: this machine cannot record runs (a full disk). Said once; the
        agent ends in failure after its running runs."""
        with self._lock:
            first = self.report.fault is None
            if first:
                self.report.fault, self.report.fault_hint = exc.message, exc.hint
        self._no_more.set()
        if first:
            self.say(f"{exc.message}; the running runs go on")

    def _after(self, outcome: Outcome) -> None:
        """Keep W&B's failure policy: stop an agent whose runs keep failing at the start."""
        with self._lock:
            self.report.outcomes.append(outcome)
            self._ended += 1
            if outcome.state == "failed":
                self._failures += 1
            if self._no_more.is_set():
                return
            early = time.monotonic() - self._started_at < FLAPPING_WINDOW
            flapping_on = os.environ.get("WANDB_AGENT_DISABLE_FLAPPING", "").lower() != "true"
            initial = int(os.environ.get("WANDB_AGENT_MAX_INITIAL_FAILURES", "5"))
            why = None
            if flapping_on and early and self._failures >= FLAPPING_MAX:
                why = f"{self._failures} runs failed within the agent's first minute"
            elif self._failures >= initial and self._failures >= self._ended:
                why = f"the first {self._failures} runs all failed"
            if why:
                self.report.failed_policy = why
                self._no_more.set()

    def _execute(self, run: Run, index: int) -> Outcome:
        files = RunFiles(self.store.run_dir(self.sweep.id, run.id))
        json_file = None
        command = self.spec.command

        def write() -> None:
            nonlocal json_file
            self._write_run_files(run, files)
            if macros.needs_args_json_file(command, environ=self.environ):
                files.args_json.write_text(macros.args_json(run.config))
                json_file = str(files.args_json)

        self._written_or_given_back(run, files, write)
        argv = macros.render_command(
            command,
            run.config,
            program=self.spec.program,
            environ=self.environ,
            args_json_file=json_file,
        )
        gpus = self.gpu_groups[index] if self.gpu_groups else None
        env = child_environment(
            self.environ, sweep=self.sweep, spec=self.spec, run=run, files=files, gpus=gpus
        )
        echo = None
        if self.echo is not None:
            echo = lambda chunk: self.echo(run.id, chunk)  # noqa: E731
        try:
            child = Child(argv, env=env, cwd=self.cwd, log_path=files.log, echo=echo)
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the command line
            if isinstance(exc, OSError) and exc.errno in NO_SPACE:
                self._give_back(run, "its output could not be written: the disk is full")
                raise disk_full(files.folder.parent, exc.strerror or str(exc)) from None
            reason = f"could not start {argv[0]!r}: {getattr(exc, 'strerror', None) or exc}"
            self.store.finish_run(run.id, "failed", exit_code=None, reason=reason)
            return Outcome(run, "failed", None, reason, 0.0, files.log)
        with self._lock:
            self._active[run.id] = child
        self.observer.started(run, index)
        metric = None
        try:
            state, code, reason, metric = self._watch(run, child, files)
        except DiskFull:
            # Its end cannot be recorded: the run stays "running" until the heartbeat rule
            # marks it crashed, and its config is offered again.
            child.stop(self.grace, self._kill_now)
            raise
        except Exception as exc:  # a bug or a lost store must not leave the run "running"
            code = child.stop(self.grace, self._kill_now)
            state, reason = "failed", f"sweepctl error while watching the run: {exc!r}"
            self.say(f"run {run.id}: {reason}")
            self._no_more.set()
        finally:
            with self._lock:
                self._active.pop(run.id, None)
                self._stop_requests.pop(run.id, None)
        if state == "preempted" and self._canceled_meanwhile(run.id):
            # `stop --cancel` scancels SLURM tasks after marking the sweep: a cancel, not a
            # preemption, so the run is not offered again.
            state, reason = "killed", "the sweep was canceled"
        self._persist(
            lambda: self.store.finish_run(run.id, state, exit_code=code, reason=reason),
            f"how run {run.id} ended",
        )
        outcome = Outcome(run, state, code, reason, child.elapsed, files.log, metric)
        self.observer.ended(outcome)
        return outcome

    def _watch(
        self, run: Run, child: Child, files: RunFiles
    ) -> tuple[str, int | None, str | None, float | None]:
        metrics = MetricsTail(files.metrics)
        recorder = Recorder(self.store, self.sweep.id, run.id, self.spec, self.observer)
        deadline = child.started + self.timeout if self.timeout else None
        while True:
            code = child.wait(POLL)
            # Once the child has exited, a last line without its newline counts too.
            recorder.add(metrics.read_new(final=code is not None))
            self._check_metric_name(recorder, ended=False)
            if code is not None:
                # SLURM's scancel signals every process of a job at once: a child ended by
                # that SIGTERM ended with its agent's interrupt, whichever came first.
                by_term = code in (-signal.SIGTERM, 128 + signal.SIGTERM)
                if code != 0 and self._interrupt.wait(1.0 if by_term else 0):
                    self._persist(recorder.flush, f"run {run.id}'s last metrics")
                    state, reason = self._interrupt_state
                    return state, code, reason, recorder.best
                break
            ending = self._ending(run.id, deadline)
            if ending is not None:
                state, reason = ending
                code = child.stop(self.grace, self._kill_now)
                recorder.add(metrics.read_new(final=True))
                self._persist(recorder.flush, f"run {run.id}'s last metrics")
                return state, code, reason, recorder.best
        # Rows kept while the store was away are written before the run's end is.
        self._persist(recorder.flush, f"run {run.id}'s last metrics")
        self._check_metric_name(recorder, ended=True)
        if code == 0:
            return "finished", code, None, recorder.best
        if is_full(files.folder):
            # Most likely it failed writing to the full disk, through no fault of its config:
            # killed without a stop request, it is offered again like an interrupted run.
            return "killed", code, "it failed while the disk of its files was full", recorder.best
        if code < 0:
            name = (
                signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else code
            )
            return "failed", code, f"killed by {name}", recorder.best
        last = tail(files.log, 1)
        why = f"exit code {code}" + (f": {last[0].strip()}" if last else "")
        return "failed", code, why, recorder.best

    def _canceled_meanwhile(self, run_id: str) -> bool:
        """Whether the sweep was canceled (or the run's stop asked for as a cancel)."""
        try:
            state, stops = self.store.control(self.sweep.id, [run_id])
        except SweepctlError:
            return False
        return state == "canceled" or stops.get(run_id) == "cancel"

    def _persist(self, write: Callable[[], Any], what: str) -> None:
        """Do a store write that results depend on, however long the store is away.

        A run's last metrics and its end are kept in memory and tried again every
        ``STORE_RETRY`` seconds (each try has the store's own retries) until the store takes
        them; the agent says once that it waits. Only a second Ctrl-C gives up, and then the
        run stays "running" until the heartbeat rule marks it crashed and offers it again.
        """
        while True:
            try:
                write()
                self._store_back()
                return
            except StoreGoneError as exc:  # it will not come back: give up the write
                self._store_gone(exc)
                return
            except SweepctlError as exc:
                if self._kill_now.is_set() or isinstance(exc, DiskFull):
                    raise  # no waiting would free the disk
                self._store_lost(exc.message, f"waiting for the store to record {what}")
            self._kill_now.wait(STORE_RETRY)

    @staticmethod
    def _write_run_files(run: Run, files: RunFiles) -> None:
        """The run's folder and the param file ``wandb.init()`` reads its config from."""
        # Ids are ours ([a-z0-9]), never user text, so they are safe as path parts.
        files.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        macros.write_param_file(files.params, run.config)

    def _written_or_given_back(self, run: Run, files: RunFiles, write: Callable[[], T]) -> T:
        """``write()`` a claimed run's files before it starts. On a full disk (the disk filled
        up since the check before claiming) the run is given back, so that its config is
        offered again, and :class:`DiskFull` stops the agent."""
        try:
            return write()
        except OSError as exc:
            if exc.errno not in NO_SPACE:
                raise
            self._give_back(run, "its files could not be written: the disk is full")
            raise disk_full(files.folder.parent, exc.strerror or str(exc)) from None

    def _give_back(self, run: Run, why: str) -> None:
        """End a claimed run that could not start, so that its config is offered again."""
        with contextlib.suppress(SweepctlError):  # else the heartbeat rule does it
            self.store.finish_run(run.id, "killed", reason=why)

    def _ending(self, run_id: str, deadline: float | None) -> tuple[str, str] | None:
        """Why a running child must stop now, as (state, reason), or None."""
        if self._interrupt.is_set():
            return self._interrupt_state
        if self._canceled.is_set():
            return "killed", "the sweep was canceled"
        with self._lock:
            request = self._stop_requests.get(run_id)
        if request == "cancel":
            return "killed", "the sweep was canceled"
        if request is not None:
            return "stopped", request
        if deadline is not None and time.monotonic() >= deadline:
            return "timeout", f"ran past the {self.timeout:g}s timeout"
        return None
