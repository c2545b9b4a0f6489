"""Network partitions between an agent's host and the PostgreSQL server: packets dropped
silently on a veth link for 5 s, 30 s, and longer than the heartbeat timeout. No store call
waits forever, the children keep training, their metrics reach the store once the link is
back, and every grid point ends with exactly one finished run."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from .conftest import Linked, Workspace, stop, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PROGRAM = """
import os, sys, time
import sweepctl
steps = int(os.environ.get("STEPS", "10"))
if "--a=" + os.environ.get("SHORT_POINT", "") in sys.argv:
    steps = 3
for step in range(steps):
    sweepctl.log({"loss": 1.0 / (step + 1), "t": time.time()})
    time.sleep(1.0)
"""

SWEEP = """
program: prog.py
method: grid
metric: {name: loss}
parameters:
  a: {values: POINTS}
sweepctl: {heartbeat_timeout: HEARTBEAT}
"""


def _sweep(ws: Workspace, points: list[int], heartbeat: str) -> str:
    ws.file("prog.py", PROGRAM)
    ws.file("s.yaml", SWEEP.replace("POINTS", str(points)).replace("HEARTBEAT", heartbeat))
    return ws.run("create", "s.yaml", "--quiet").stdout.strip()


def _running(ws: Workspace, sweep: str) -> list[dict]:
    return [r for r in ws.json("runs", sweep) if r["state"] == "running"]


def _history(ws: Workspace, run_id: str) -> list[dict]:
    import json

    rows = ws.sql(f"SELECT data FROM sweepctl_metrics WHERE run_id = '{run_id}' ORDER BY step")
    return [json.loads(data) for (data,) in rows]


def _finished_once(runs: list[dict], points: list[int]) -> None:
    finished = sorted(r["config"]["a"] for r in runs if r["state"] == "finished")
    assert finished == sorted(points), [(r["config"]["a"], r["state"]) for r in runs]


def test_a_store_call_on_a_cut_link_ends_with_a_clear_error(linked_postgres: Linked, tmp_path):
    """The limits on the connection turn silence into an error: nothing waits forever."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\n"
        "from sweepctl.errors import SweepctlError\n"
        "from sweepctl.store import open_store\n"
        f"store = open_store({linked_postgres.link_url!r})\n"
        "store.sweeps()\n"
        "print('connected', flush=True)\n"
        "sys.stdin.readline()  # the link is cut now\n"
        "for what in ('a connection in use', 'a new connection'):\n"
        "    try:\n"
        "        store.sweeps() if what.endswith('use') else open_store(store.url).sweeps()\n"
        "        print(what, 'answered', flush=True)\n"
        "    except SweepctlError as exc:\n"
        "        print(what, 'error:', exc.message, flush=True)\n"
    )
    probe = subprocess.Popen(
        linked_postgres.ns.argv(sys.executable, str(script)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = probe.stdout.readline().strip()
        assert line == "connected", line or probe.stderr.read()
        linked_postgres.ns.cut()
        out, err = probe.communicate("go\n", timeout=240)
    finally:
        linked_postgres.ns.heal()
        stop(probe)
    lines = out.splitlines()
    assert len(lines) == 2, (out, err)
    assert lines[0].startswith("a connection in use error: the store could not be read")
    assert lines[1].startswith("a new connection error: the store could not be")
    assert "Traceback" not in err


@pytest.mark.parametrize("cut_for", [5, 30])
def test_an_agent_cut_off_keeps_training_and_records_everything(
    linked_postgres: Linked, workspace_factory, cut_for: int
):
    ws = workspace_factory(linked_postgres.direct_url)
    points = [1, 2, 3]
    sweep = _sweep(ws, points, "2m")
    steps = cut_for + 10
    ws.env["STEPS"] = str(steps)
    # The two runs in flight train through the cut; the third, claimed after it, is short.
    ws.env["SHORT_POINT"] = "3"
    agent = ws.agent(
        sweep, "--workers", "2", url=linked_postgres.link_url, prefix=linked_postgres.ns.argv()
    )
    wait_for(lambda: len(_running(ws, sweep)) == 2, 90, "two runs")
    time.sleep(2)
    cut_at = time.time()
    linked_postgres.ns.cut()
    try:
        time.sleep(cut_for)
    finally:
        linked_postgres.ns.heal()
    healed_at = time.time()
    _, err = agent.communicate(timeout=steps * 3 + 180)
    assert agent.returncode == 0, err
    assert "Traceback" not in err
    # Said at most once (a short cut may pass with calls that merely waited), not per retry.
    assert sum("waiting for the store" in line for line in err.splitlines()) <= 1, err
    runs = ws.json("runs", sweep)
    assert [r["state"] for r in runs] == ["finished"] * 3, err
    _finished_once(runs, points)
    logged_while_cut = 0
    for run in runs:
        expected = 3 if run["config"]["a"] == 3 else steps
        history = _history(ws, run["run_id"])
        assert [row["_step"] for row in history] == list(range(expected)), run["run_id"]
        assert run["summary"]["_step"] == expected - 1
        logged_while_cut += sum(cut_at < row["t"] < healed_at for row in history)
    # The children went on logging while their agent could not reach the store, and those
    # steps reached it afterwards.
    assert logged_while_cut >= cut_for


def test_an_agent_silent_past_the_heartbeat_timeout_does_not_finish_a_point_twice(
    linked_postgres: Linked, workspace_factory
):
    ws = workspace_factory(linked_postgres.direct_url)
    points = [1, 2]
    sweep = _sweep(ws, points, "5s")
    ws.env["STEPS"] = "25"
    cut_off = ws.agent(sweep, url=linked_postgres.link_url, prefix=linked_postgres.ns.argv())
    (lost,) = wait_for(lambda: _running(ws, sweep), 90, "a run on the cut-off agent")
    linked_postgres.ns.cut()
    cut_at = time.monotonic()
    try:
        time.sleep(8)  # past heartbeat_timeout: 5s
        # An agent on this side presumes the silent agent's run lost: crashed, run again.
        ws.env["STEPS"] = "2"
        here = ws.agent(sweep)
        _, err = here.communicate(timeout=180)
        assert here.returncode == 0, err
        runs = ws.json("runs", sweep)
        assert runs[0]["state"] == "crashed" and "no heartbeat for 5s" in runs[0]["reason"]
        _finished_once(runs, points)
        time.sleep(max(0.0, 20 - (time.monotonic() - cut_at)))  # cut for 20 s or more
    finally:
        linked_postgres.ns.heal()
    _, err = cut_off.communicate(timeout=240)
    assert cut_off.returncode == 0, err
    assert "Traceback" not in err
    runs = ws.json("runs", sweep)
    _finished_once(runs, points)  # the late end does not make a second finished run
    first = next(r for r in runs if r["run_id"] == lost["run_id"])
    assert first["state"] == "crashed"
    assert first["reason"].endswith("; it ended later as finished (exit code 0)")
    # Everything the cut-off child logged was kept and written once the link was back.
    assert [row["_step"] for row in _history(ws, lost["run_id"])] == list(range(25))
