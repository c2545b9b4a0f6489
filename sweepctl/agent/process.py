"""The one place that starts or signals processes: argv lists only, never a shell.

Each child runs in its own session (so a Ctrl-C at the terminal reaches the agent, not the
child, and the agent decides), with stdin closed and stdout+stderr captured to a log file
and, optionally, echoed to the agent's terminal. Short tools (``run_captured``) and streamed
ones (``run_streamed``) start the same way; ``signal_group``, ``send_signal`` and
``child_pids`` reach processes that other programs started.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sweepctl.errors import UsageError

Echo = Callable[[bytes], None]


class Child:
    """A running child process, its output pump and a way to wait on it promptly."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | Path | None,
        log_path: Path,
        echo: Echo | None = None,
    ) -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.argv = list(argv)
        self.log_path = log_path
        self.started = time.monotonic()
        self.ended: float | None = None
        self.proc = subprocess.Popen(
            self.argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # A pidfd wakes select() the moment the child exits (Linux 5.3+); elsewhere we poll.
        try:
            self._pidfd: int | None = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self._pidfd = None
        self._pump = threading.Thread(target=self._copy_output, args=(echo,), daemon=True)
        self._pump.start()

    def _copy_output(self, echo: Echo | None) -> None:
        assert self.proc.stdout is not None
        # Owner only: a run's output can hold anything the program prints.
        log: Any = None
        with contextlib.suppress(OSError):  # a full disk: the output is still drained below
            log = os.fdopen(
                os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab"
            )
        try:
            while chunk := self.proc.stdout.read1(65536):
                if log is not None:
                    try:
                        log.write(chunk)
                        log.flush()
                    except OSError:
                        # The disk is full: stop logging but keep reading, or the child
                        # would block on a full pipe.
                        with contextlib.suppress(OSError):
                            log.close()
                        log = None
                if echo is not None:
                    try:
                        echo(chunk)
                    except (OSError, ValueError):
                        echo = None  # the terminal went away; keep logging
        finally:
            if log is not None:
                with contextlib.suppress(OSError):
                    log.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait(self, timeout: float) -> int | None:
        """The exit code once the child has exited, else None after ``timeout`` seconds."""
        if self.proc.returncode is None:
            if self._pidfd is not None:
                ready, _, _ = select.select([self._pidfd], [], [], timeout)
                if not ready:
                    return None
            else:
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    return None
        code = self.proc.wait()
        if self.ended is None:
            self.ended = time.monotonic()
            self._pump.join(timeout=5)
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None
        return code

    def signal(self, sig: int) -> None:
        """Signal the child's whole process group (its own children too)."""
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)

    def stop(self, grace: float, kill_now: threading.Event | None = None) -> int:
        """SIGTERM, then SIGKILL after ``grace`` seconds (or at once when ``kill_now`` is set)."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while True:
            code = self.wait(0.1)
            if code is not None:
                return code
            if time.monotonic() >= deadline or (kill_now is not None and kill_now.is_set()):
                self.signal(signal.SIGKILL)
                code = self.wait(30)
                return code if code is not None else -signal.SIGKILL

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started


def install_stop_signals(handler: Callable[[int, Any], None]) -> dict[int, Any]:
    """Route SIGINT and SIGTERM to ``handler``; returns the previous handlers (for
    :func:`restore_signals`). Off the main thread, where Python cannot, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def tail(path: Path, lines: int = 15) -> list[str]:
    """The last lines of a log file, decoded leniently."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 16384))
            data = fh.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def check_runnable(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
    """Fail early, with the fix, when the program a sweep would start cannot be found."""
    if not argv:
        raise UsageError(
            "the sweep's command is empty: nothing to run",
            hint="add `program: train.py` (W&B's default command runs it), or a `command:` list",
        )
    path = env.get("PATH", os.defpath)
    first = argv[0]
    if shutil.which(first, path=path) is None and not (cwd / first).is_file():
        raise UsageError(f"cannot run {first!r}: not found on PATH", hint="check the command")
    if Path(first).name == "env" and len(argv) > 1:
        target = next((a for a in argv[1:] if not a.startswith("-") and "=" not in a), None)
        if target and shutil.which(target, path=path) is None:
            raise UsageError(
                f"cannot run {target!r}: not found on PATH",
                hint="activate the environment your program needs (W&B's ${interpreter} is "
                "the `python` on PATH)"
                if target == "python"
                else "check the command",
            )


# -- short commands, streamed commands, signals to other processes ---------------------------


def _start(
    argv: Sequence[str], *, env: Mapping[str, str] | None, cwd: str | Path | None, stdout: int
) -> subprocess.Popen[bytes]:
    # Its own session, as for runs: a timeout or an interrupt then ends its whole group.
    return subprocess.Popen(
        list(argv),
        env=None if env is None else dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """End a command started here if it still runs: SIGTERM to its group, SIGKILL after
    ``grace`` seconds (at once when ``grace`` is 0)."""
    if proc.poll() is not None:
        return
    try:
        if grace > 0:
            signal_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
    finally:  # even when a second Ctrl-C cuts the grace short
        if proc.poll() is None:
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()


def run_captured(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> tuple[int, str]:
    """Run a short command to its end: its exit code and its stdout and stderr, together.

    Raises OSError when it cannot start (FileNotFoundError: not on PATH) and TimeoutError when
    it outlives ``timeout`` seconds (it and its own children are killed).
    """
    proc = _start(argv, env=env, cwd=cwd, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{argv[0]} did not finish within {timeout:g}s") from None
    finally:
        _stop(proc, grace=0)
        if proc.stdout is not None:
            proc.stdout.close()
    return proc.returncode, out.decode("utf-8", "replace")


def run_streamed(
    argv: Sequence[str],
    *,
    echo: Echo | None,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    grace: float = 5.0,
) -> int:
    """Run a command to its end, handing each line of its output (stdout and stderr) to
    ``echo`` as it comes (``None`` drops it); its exit code. Should the caller be interrupted
    meanwhile, the command gets SIGTERM, and SIGKILL after ``grace`` seconds."""
    proc = _start(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL if echo is None else subprocess.PIPE
    )
    try:
        if echo is not None and proc.stdout is not None:
            for line in proc.stdout:
                echo(line)
        return proc.wait()
    finally:
        _stop(proc, grace)
        if proc.stdout is not None:
            proc.stdout.close()


def signal_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group that ``pid`` leads (a process started in its own
    session, and its children); False when the group is gone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):  # gone; or the id is someone else's now
        return False
    return True


def send_signal(pid: int, sig: int) -> bool:
    """Send ``sig`` to the one process ``pid`` (not its children); False when it is gone."""
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):  # gone; or the id is someone else's now
        return False
    return True


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid``, from /proc (empty where there is no /proc)."""
    # Each process's stat, not /proc/PID/task/*/children: kernels without
    # CONFIG_PROC_CHILDREN have no such file.
    try:
        entries = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    found: list[int] = []
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # it exited while we looked
            continue
        # "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
        fields = stat.rpartition(b")")[2].split()
        if len(fields) > 1 and fields[1] == str(pid).encode():
            found.append(int(name))
    return sorted(found)
