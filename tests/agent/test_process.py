"""The process module's short commands, streamed commands and signals, on real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweepctl.agent import process

# A child that starts a sleeping grandchild, prints the grandchild's pid, then sleeps itself.
PARENT_OF_SLEEPER = (
    "import subprocess, sys, time\n"
    "kid = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print(kid.pid, flush=True)\n"
    "time.sleep(60)\n"
)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed but not reaped by whoever adopted it, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0] != b"Z"


def wait_until_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def parent_of_sleeper():
    """A real child in its own session with a real grandchild: (child, grandchild pid)."""
    child = subprocess.Popen(
        [sys.executable, "-c", PARENT_OF_SLEEPER],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdout is not None
    grandchild = int(child.stdout.readline())
    yield child, grandchild
    process.signal_group(child.pid, signal.SIGKILL)
    process.send_signal(grandchild, signal.SIGKILL)
    child.wait()
    child.stdout.close()


def test_run_captured_gives_the_exit_code_and_both_streams():
    code, out = process.run_captured(
        [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); exit(3)"],
        timeout=60,
    )
    assert code == 3
    assert sorted(out.split()) == ["err", "out"]


def test_run_captured_passes_env_and_cwd(tmp_path):
    env = {**os.environ, "SWEEPCTL_TEST_VALUE": "from the caller"}
    code, out = process.run_captured(
        [sys.executable, "-c", "import os; print(os.environ['SWEEPCTL_TEST_VALUE'], os.getcwd())"],
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert (code, out.strip()) == (0, f"from the caller {tmp_path.resolve()}")


def test_run_captured_missing_program_is_file_not_found():
    with pytest.raises(FileNotFoundError):
        process.run_captured(["sweepctl-no-such-program"], timeout=60)


def test_run_captured_timeout_kills_the_command_and_its_children(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    script = PARENT_OF_SLEEPER.replace(
        "print(kid.pid, flush=True)", f"open({str(pid_file)!r}, 'w').write(str(kid.pid))"
    )
    with pytest.raises(TimeoutError, match="did not finish within 2s"):
        process.run_captured([sys.executable, "-c", script], timeout=2)
    # The grandchild was started before the timeout (Python starts in well under two
    # seconds; if it did not, there is nothing to check).
    if pid_file.exists() and pid_file.read_text():
        assert wait_until_gone(int(pid_file.read_text()))


def test_run_streamed_hands_over_each_line_and_returns_the_exit_code():
    lines: list[bytes] = []
    code = process.run_streamed(
        [sys.executable, "-c", "import sys; print('one'); print('two', file=sys.stderr); exit(4)"],
        echo=lines.append,
    )
    assert code == 4
    assert sorted(lines) == [b"one\n", b"two\n"]


def test_run_streamed_without_echo_still_runs_it(tmp_path):
    marker = tmp_path / "ran"
    code = process.run_streamed(
        [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('yes'); print('dropped')"],
        echo=None,
    )
    assert code == 0
    assert marker.read_text() == "yes"


def test_run_streamed_interrupted_caller_ends_the_command():
    seen: list[int] = []

    def interrupt(line: bytes) -> None:
        seen.append(int(line))
        raise KeyboardInterrupt  # what a Ctrl-C at the terminal does to the caller

    with pytest.raises(KeyboardInterrupt):
        process.run_streamed([sys.executable, "-c", PARENT_OF_SLEEPER], echo=interrupt, grace=5)
    # SIGTERM went to the whole group: the grandchild as well as the command.
    assert seen
    assert wait_until_gone(seen[0])


def test_signal_group_ends_a_child_and_its_children(parent_of_sleeper):
    child, grandchild = parent_of_sleeper
    assert process.signal_group(child.pid, signal.SIGTERM) is True
    assert child.wait(timeout=30) == -signal.SIGTERM
    assert wait_until_gone(grandchild)


def test_signalling_a_vanished_process_is_no_error():
    gone = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    gone.wait()
    assert process.signal_group(gone.pid, signal.SIGTERM) is False
    assert process.send_signal(gone.pid, signal.SIGTERM) is False


def test_send_signal_reaches_only_that_process(parent_of_sleeper):
    child, grandchild = parent_of_sleeper
    assert process.send_signal(child.pid, signal.SIGTERM) is True
    assert child.wait(timeout=30) == -signal.SIGTERM
    assert alive(grandchild)  # not in the signal's reach


def test_child_pids_finds_a_real_grandchild(parent_of_sleeper):
    child, grandchild = parent_of_sleeper
    assert process.child_pids(child.pid) == [grandchild]
    assert process.child_pids(grandchild) == []


def test_child_pids_of_a_vanished_process_is_empty():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert process.child_pids(gone.pid) == []


# -- issue 24: a full disk and what a run leaves behind ------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_stops_the_log_but_never_blocks_the_child(tmp_path):
    log = tmp_path / "output.log"
    log.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    # 4 MB of output: far past a pipe's buffer, so a pump that died would block the child.
    code = "import sys; sys.stdout.write('x' * 4_000_000); print('done')"
    child = process.Child([sys.executable, "-c", code], env=os.environ, cwd=tmp_path, log_path=log)
    assert child.wait(60) == 0
    assert child.log_error is not None and child.log_error.errno == 28  # ENOSPC
    assert not child._pump.is_alive()


def test_a_grandchild_left_in_the_group_ends_with_the_run(tmp_path):
    marker = tmp_path / "grandchild.pid"
    # The child starts a grandchild that holds its stdout and sleeps, then exits at once.
    code = (
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid))"
    )
    child = process.Child(
        [sys.executable, "-c", code], env=os.environ, cwd=tmp_path, log_path=tmp_path / "log"
    )
    assert child.wait(60) == 0
    grandchild = int(marker.read_text())
    # It was SIGKILLed with the group: it is gone (or a zombie of an exited parent).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)
    assert not child._pump.is_alive()  # the output pipe closed with it, no 5 s wait


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_stopping_a_run_ends_a_grandchild_that_left_with_setsid(tmp_path):
    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "start_new_session=True, stdout=subprocess.DEVNULL); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    child = process.Child(
        [sys.executable, "-c", code], env=os.environ, cwd=tmp_path, log_path=tmp_path / "log"
    )
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(marker.read_text())
    assert os.getpgid(grandchild) != child.pid  # it is outside the run's group
    child.stop(grace=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_a_setsid_grandchild_of_a_program_that_exits_ends_with_the_run(tmp_path):
    """The program starts a grandchild in a new session, then exits 0 on its own: the
    grandchild is orphaned (no longer a descendant, in no group of the run), but it still
    carries the run's id in its environment, and ends with the run."""
    marker = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        f"open({str(marker)!r}, 'w').write(str(p.pid))"
    )
    env = dict(os.environ, SWEEPCTL_RUN_ID=f"t{os.getpid()}x")
    child = process.Child(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, log_path=tmp_path / "log"
    )
    assert child.wait(60) == 0
    grandchild = int(marker.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(grandchild):
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_the_tag_finds_only_the_runs_own_processes(tmp_path):
    env = dict(os.environ, SWEEPCTL_RUN_ID="tagtest1")
    other = dict(os.environ, SWEEPCTL_RUN_ID="tagtest10")  # a prefix of nothing: not a match
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env)
    theirs = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=other)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and mine.pid not in process.tagged(
            b"SWEEPCTL_RUN_ID=tagtest1"
        ):
            time.sleep(0.05)
        found = process.tagged(b"SWEEPCTL_RUN_ID=tagtest1")
        assert mine.pid in found and theirs.pid not in found and os.getpid() not in found
    finally:
        mine.kill()
        theirs.kill()
        mine.wait()
        theirs.wait()
