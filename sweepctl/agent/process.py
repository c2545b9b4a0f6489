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
        self.log_error: OSError | None = None  # why the output log stopped, if it did
        # The run's processes carry its id in their environment, wherever they move: the
        # tag finds them when they left the group and session and lost their parent.
        run_id = env.get(RUN_TAG)
        self.tag = f"{RUN_TAG}={run_id}".encode() if run_id else None
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
        try:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            log = os.fdopen(fd, "ab", buffering=0)  # unbuffered: nothing left to fail at close
        except OSError as exc:  # a full disk: the output is still drained below
            self.log_error = exc
        try:
            while chunk := self.proc.stdout.read1(65536):
                if log is not None and self.log_error is None:
                    try:
                        view = memoryview(chunk)
                        while view:
                            written = log.write(view)
                            if not written:
                                raise OSError("the log file takes no more output")
                            view = view[written:]
                    except OSError as exc:
                        # A full disk: stop logging but keep draining the pipe, or the child
                        # blocks on a full pipe until its timeout (forever without one).
                        self.log_error = exc
                if echo is not None:
                    try:
                        echo(chunk)
                    except (OSError, ValueError):
                        echo = None  # the terminal went away; keep logging
            if echo is not None:  # the end of the output: b"" lets it finish a last partial line
                with contextlib.suppress(OSError, ValueError):
                    echo(b"")
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
                # The child has exited and is not reaped yet, so its group id cannot have been
                # reused: end what it left behind in its group (processes that would outlive
                # the run, or hold its output open).
                with contextlib.suppress(OSError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self._kill_tagged(signal.SIGKILL)
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
        """Signal the child's whole process group (its own children too), and descendants
        that left the group (``setsid``) while the child still runs."""
        if self.proc.returncode is not None:
            return
        strays = [p for p in descendants(self.proc.pid) if _pgid(p) != self.proc.pid]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        self._kill_tagged(sig)

    def _kill_tagged(self, sig: int) -> None:
        """Signal every process of this user tagged with this run's id but the child itself
        (handled through its group): those that left with ``setsid`` and were orphaned."""
        if self.tag is None:
            return
        for pid in tagged(self.tag):
            if pid != self.proc.pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

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


def open_url(url: str) -> bool:
    """Open ``url`` in the user's browser (``dashboard --open``); False when none was found."""
    import webbrowser

    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


RUN_TAG = "SWEEPCTL_RUN_ID"  # the environment variable that tags a run's processes


def tagged(entry: bytes) -> list[int]:
    """The processes of this user (this one aside) whose environment has ``entry``
    (``b"SWEEPCTL_RUN_ID=ab12cd34"``), from /proc; empty where there is none. A process that
    rewrote its environment from scratch escapes this; nothing else a program does does."""
    me, own = os.getuid(), os.getpid()
    needle = b"\0" + entry + b"\0"
    found = []
    try:
        names = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    for name in names:
        pid = int(name)
        if pid == own:
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != me:
                continue
            with open(f"/proc/{name}/environ", "rb") as fh:
                environ = fh.read()
        except OSError:
            continue
        if needle in b"\0" + environ:
            found.append(pid)
    return found


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (children, their children, ...), from one pass
    over /proc; empty where there is no /proc."""
    parents: dict[int, list[int]] = {}
    try:
        entries = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    for name in entries:
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 1:
            parents.setdefault(int(fields[1]), []).append(int(name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found
