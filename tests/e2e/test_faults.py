"""Faults and fan-out with real processes and signals: nothing is lost when an agent dies."""

from __future__ import annotations

import os
import signal
import time

import pytest

from .conftest import pids_running
from .test_local_sweep import _running, _wait_for

pytestmark = pytest.mark.slow

SLEEPY = """
import os, sys, time
import sweepctl
sweepctl.log({"gpus": os.environ.get("CUDA_VISIBLE_DEVICES", "none"), "loss": 1.0})
time.sleep(float(os.environ.get("SLEEP", "1")))
sweepctl.log({"loss": 0.5})
"""

SWEEP = """
program: prog.py
method: grid
metric: {name: loss}
parameters:
  a: {values: [1, 2, 3, 4]}
sweepctl: {heartbeat_timeout: 2s}
"""


@pytest.mark.parametrize("ws", ["sqlite"], indirect=True)
def test_gpu_fan_out_gives_each_worker_its_group(ws):
    ws.file("prog.py", SLEEPY)
    ws.file("s.yaml", SWEEP)
    sweep = ws.create("s.yaml")
    ws.run("agent", sweep, "--gpus", "0,1,2,3", "--gpus-per-run", "2")
    runs = ws.json("runs", sweep)
    seen = [r["summary"]["gpus"] for r in runs]
    assert len(runs) == 4 and set(seen) == {"0,1", "2,3"}
    # The two groups ran side by side: the second run started before the first ended.
    assert runs[1]["started_at"] <= runs[0]["ended_at"]
    proc = ws.run("agent", sweep, "--gpus", "0,1,2", "--gpus-per-run", "2", check=False)
    assert proc.returncode == 2 and "3 GPUs cannot be split into groups of 2" in proc.stderr


@pytest.mark.parametrize("ws", ["sqlite", "postgres"], indirect=True)
def test_killed_agent_runs_become_crashed_and_are_offered_again(ws):
    ws.file("prog.py", SLEEPY)
    ws.file("s.yaml", SWEEP.replace("[1, 2, 3, 4]", "[1, 2]"))
    ws.env["SLEEP"] = "30"
    sweep = ws.create("s.yaml")
    proc = ws.popen("agent", sweep, "--workers", "2")
    _wait_for(lambda: len(_running(ws, sweep)) == 2)
    os.kill(proc.pid, signal.SIGKILL)  # the agent dies at once; its children are left
    proc.wait()
    time.sleep(3)  # longer than heartbeat_timeout: 2s
    runs = ws.json("runs", sweep)  # any command that looks notices
    assert [r["state"] for r in runs] == ["crashed", "crashed"]
    assert "no heartbeat for 2s" in runs[0]["reason"]

    ws.env["SLEEP"] = "0"
    ws.run("agent", sweep)  # a new agent runs the lost configs again, then the grid ends
    runs = ws.json("runs", sweep)
    assert [r["state"] for r in runs] == ["crashed", "crashed", "finished", "finished"]
    assert sorted(r["config"]["a"] for r in runs[2:]) == [1, 2]
    # kill -9 gives the agent no chance to stop its children: they are still asleep (which
    # also shows that pids_running, used for the no-orphan checks, finds such children).
    left = pids_running("prog.py", ws.root)
    assert len(left) == 2
    for pid in left:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("ws", ["sqlite", "postgres"], indirect=True)
def test_sigterm_preempts_runs_which_are_requeued(ws):
    ws.file("prog.py", SLEEPY)
    ws.file("s.yaml", SWEEP.replace("[1, 2, 3, 4]", "[1, 2, 3]"))
    ws.env["SLEEP"] = "30"
    sweep = ws.create("s.yaml")
    proc = ws.popen("agent", sweep, "--workers", "2")
    _wait_for(lambda: len(_running(ws, sweep)) == 2)
    proc.send_signal(signal.SIGTERM)  # what SLURM or a spot instance sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    runs = ws.json("runs", sweep)
    assert [r["state"] for r in runs] == ["preempted", "preempted"]
    assert runs[0]["reason"] == "the agent received SIGTERM"
    ws.env["SLEEP"] = "0"
    ws.run("agent", sweep)
    runs = ws.json("runs", sweep)
    assert sorted(r["config"]["a"] for r in runs if r["state"] == "finished") == [1, 2, 3]
    assert pids_running("prog.py", ws.root) == []


@pytest.mark.parametrize("ws", ["sqlite"], indirect=True)
def test_failed_runs_are_retried_when_asked(ws):
    ws.file(
        "prog.py",
        """
        import os, sys
        import sweepctl
        marker = "tried-" + sys.argv[1]
        if not os.path.exists(marker):
            open(marker, "w").close()
            sys.exit(1)  # fails the first time only
        sweepctl.log({"loss": 0.1})
        """,
    )
    ws.file(
        "s.yaml",
        SWEEP.replace("[1, 2, 3, 4]", "[1, 2]").replace(
            "heartbeat_timeout: 2s", "retries: 1, retry_failed: true"
        ),
    )
    sweep = ws.create("s.yaml")
    ws.run("agent", sweep)
    states = [(r["config"]["a"], r["state"]) for r in ws.json("runs", sweep)]
    assert sorted(states) == [(1, "failed"), (1, "finished"), (2, "failed"), (2, "finished")]


@pytest.mark.parametrize("ws", ["sqlite"], indirect=True)
def test_idle_exit_ends_an_agent_waiting_on_a_paused_sweep(ws):
    ws.file("prog.py", SLEEPY)
    ws.file("s.yaml", SWEEP)
    sweep = ws.create("s.yaml")
    ws.run("pause", sweep)
    started = time.monotonic()
    proc = ws.run("agent", sweep, "--idle-exit", "2s")
    assert time.monotonic() - started < 30
    assert "waiting: the sweep is paused" in proc.stderr
    assert "--idle-exit" in proc.stderr
    assert ws.json("runs", sweep) == []


@pytest.mark.parametrize("ws", ["sqlite"], indirect=True)
def test_sqlite_store_stays_consistent_when_agents_are_killed_at_any_moment(ws):
    import random

    ws.file("prog.py", "import sweepctl\nsweepctl.log({'loss': 1.0})\n")
    ws.file("s.yaml", SWEEP.replace("[1, 2, 3, 4]", "[" + ", ".join(map(str, range(60))) + "]"))
    sweep = ws.create("s.yaml")
    rng = random.Random(7)
    for _ in range(5):
        procs = [ws.popen("agent", sweep) for _ in range(2)]
        time.sleep(rng.uniform(0.8, 2.0))
        for proc in procs:
            proc.kill()
            proc.wait()
    time.sleep(2.5)  # past heartbeat_timeout: whatever was running is now crashed
    (ok,) = ws.sql("PRAGMA integrity_check")
    assert ok == ("ok",)
    ws.run("agent", sweep)
    runs = ws.json("runs", sweep)
    finished = [r["config"]["a"] for r in runs if r["state"] == "finished"]
    assert len(finished) == len(set(finished))  # no grid point finished twice
    assert {r["state"] for r in runs} <= {"finished", "crashed"}
    held = {r["config"]["a"] for r in runs}
    assert held == set(range(60))  # every point was handed out


@pytest.mark.parametrize("ws", ["postgres"], indirect=True)
def test_dropped_postgres_connections_are_retried_and_no_metric_is_lost(ws):
    import sqlalchemy as sa

    ws.file(
        "prog.py",
        "import time, sweepctl\nfor i in range(40):\n"
        "    sweepctl.log({'loss': 1.0 / (i + 1)})\n    time.sleep(0.05)\n",
    )
    ws.file("s.yaml", SWEEP.replace("[1, 2, 3, 4]", "[1, 2]"))
    tag = "sweepctl_drop_" + ws.root.name[-8:]
    ws.env["SWEEPCTL_STORAGE"] += f"&application_name={tag}"
    sweep = ws.create("s.yaml")
    proc = ws.popen("agent", sweep)
    admin = sa.create_engine(ws.url.replace("postgresql://", "postgresql+psycopg://", 1))
    killed, rounds = 0, 0
    deadline = time.monotonic() + 120
    try:
        # Drop the agent's connections again and again while it runs: 8 rounds, counted from
        # the first that found one (on a loaded machine the agent takes seconds to connect).
        while rounds < 8 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.4)
            rounds += killed > 0
            with admin.connect() as conn:
                killed += conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = :tag"
                    ),
                    {"tag": tag},
                ).scalar()
                conn.commit()
    finally:
        admin.dispose()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert killed > 0  # the agent really lost connections
    runs = ws.json("runs", sweep)
    assert [r["state"] for r in runs] == ["finished", "finished"]
    assert all(r["summary"]["_step"] == 39 for r in runs)  # every logged step arrived
    steps = ws.sql("SELECT run_id, count(*) FROM sweepctl_metrics GROUP BY run_id")
    assert sorted(n for _, n in steps) == [40, 40]


@pytest.mark.parametrize("ws", ["sqlite"], indirect=True)
def test_a_stalled_agent_that_wakes_up_does_not_finish_a_point_twice(ws):
    ws.file("prog.py", "import time\ntime.sleep(4)\n")
    ws.file("s.yaml", SWEEP.replace("[1, 2, 3, 4]", "[1]"))
    sweep = ws.create("s.yaml")
    stalled = ws.popen("agent", sweep)
    _wait_for(lambda: len(_running(ws, sweep)) == 1)
    stalled.send_signal(signal.SIGSTOP)  # a suspended machine: alive, but silent
    try:
        time.sleep(3)  # past heartbeat_timeout: 2s
        ws.run("agent", sweep)  # presumes the run lost and runs the point again
    finally:
        stalled.send_signal(signal.SIGCONT)
    stalled.communicate(timeout=60)
    runs = ws.json("runs", sweep)
    assert [r["state"] for r in runs] == ["crashed", "finished"]
    assert runs[0]["reason"].endswith("; it ended later as finished (exit code 0)")
