"""A full disk under an SQLite store and its run folders, or under the run folders of a
PostgreSQL sweep: the agent stops claiming runs with a clear message and a non-zero exit; the
store stays sound; finished runs keep their results; once space is freed, a new agent
finishes the sweep."""

from __future__ import annotations

import sqlite3
import time

import pytest

from .conftest import fill, wait_for

pytestmark = pytest.mark.slow

PROGRAM = """
import time
import sweepctl
for step in range(5):
    sweepctl.log({"loss": 1.0 / (step + 1), "note": "x" * 200})
    time.sleep(0.2)
"""

SWEEP = """
program: prog.py
method: grid
metric: {name: loss}
parameters:
  a: {values: [1, 2, 3, 4, 5, 6, 7, 8]}
sweepctl: {heartbeat_timeout: 3s}
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, small_disk) -> str:
    """The store on the small disk (SQLite: the run folders are beside it), or on PostgreSQL
    with only the run folders there (they are under the working directory)."""
    if request.param == "sqlite":
        return f"sqlite:///{small_disk / 'store' / 'sweepctl.db'}"
    return request.getfixturevalue("pg_schema_url")


def test_a_full_disk_stops_the_agent_and_nothing_is_lost(small_disk, store_url, workspace_factory):
    ws = workspace_factory(store_url, root=small_disk)
    ws.file("prog.py", PROGRAM)
    ws.file("s.yaml", SWEEP)
    sweep = ws.run("create", "s.yaml", "--quiet").stdout.strip()
    agent = ws.agent(sweep)
    wait_for(
        lambda: sum(r["state"] == "finished" for r in ws.json("runs", sweep)) >= 2, 90, "2 runs"
    )
    filler = fill(small_disk)
    _, err = agent.communicate(timeout=180)
    assert agent.returncode == 1, err
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if "is full" in line]
    assert len(said) == 2, err  # once when it happened, once in the agent's last words
    assert said[-1].startswith("warning: stopped: the disk holding")
    assert "hint: free space" in err
    if store_url.startswith("sqlite"):
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        conn.close()
    filler.unlink()
    # Whatever finished before the disk filled up kept its end and its metrics.
    before = [r for r in ws.json("runs", sweep) if r["state"] == "finished"]
    assert len(before) >= 2
    assert all(r["summary"]["loss"] == 0.2 and r["summary"]["_step"] == 4 for r in before)
    # Without any run claimed after it stopped: the sweep is not over.
    assert len(ws.json("runs", sweep)) < 8

    # A run cut short by the full disk whose end could not be written counts as lost once
    # its agent has been silent for heartbeat_timeout (3s); its config is offered again.
    time.sleep(3.5)
    ws.run("agent", sweep, timeout=300)  # space freed: a new agent finishes the sweep
    runs = ws.json("runs", sweep)
    finished = sorted(r["config"]["a"] for r in runs if r["state"] == "finished")
    assert finished == list(range(1, 9)), [(r["config"]["a"], r["state"]) for r in runs]
    assert all(r["summary"]["_step"] == 4 for r in runs if r["state"] == "finished")
    assert {r["state"] for r in runs} <= {"finished", "killed", "crashed"}


def test_a_child_whose_output_cannot_be_logged_still_runs_to_its_end(small_disk):
    import os
    import sys

    from sweepctl.agent.process import Child

    filler = fill(small_disk)
    try:
        # Far more output than a pipe holds: if nobody read it, the child would block.
        child = Child(
            [sys.executable, "-c", "import sys; sys.stdout.write('x' * 1_000_000)"],
            env=dict(os.environ),
            cwd=None,
            log_path=small_disk / "run" / "output.log",
        )
        try:
            assert child.wait(120) == 0
        finally:
            child.stop(5)  # only if the test failed: it has exited otherwise
    finally:
        filler.unlink()


def test_an_agent_whose_output_file_is_on_a_full_disk_still_records_its_runs(
    small_disk, tmp_path, workspace_factory
):
    import subprocess
    import sys

    ws = workspace_factory(f"sqlite:///{tmp_path / 'store' / 'sweepctl.db'}")
    ws.file("prog.py", PROGRAM)
    ws.file("s.yaml", SWEEP.replace("[1, 2, 3, 4, 5, 6, 7, 8]", "[1, 2]"))
    sweep = ws.run("create", "s.yaml", "--quiet").stdout.strip()
    log = small_disk / "agent.log"  # as a batch job's output file on a shared disk
    filler = fill(small_disk)
    try:
        with open(log, "w") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "sweepctl", "agent", sweep, "--storage", ws.url],
                cwd=ws.root,
                env=ws.env,
                stdout=out,
                stderr=out,
                timeout=120,
            )
    finally:
        filler.unlink()
    # Its messages were lost, not its runs (before, it crashed at its first message).
    assert proc.returncode == 0
    assert [r["state"] for r in ws.json("runs", sweep)] == ["finished", "finished"]


def test_a_function_agent_gives_back_a_run_whose_files_do_not_fit(
    small_disk, tmp_path, monkeypatch
):
    """``sweepctl.agent(function=...)`` on a disk that fills up between its check for room and
    the claimed run's files: the run is given back (offered again, not ``failed``), the agent
    stops with the full-disk fault, and a later agent finishes the sweep."""
    import sweepctl
    from sweepctl.agent import loop

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("SWEEPCTL_FILES", str(small_disk / "files"))  # the store stays off it
    store = str(tmp_path / "store" / "sweeps.db")
    grid = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}
    sweep_id = sweepctl.sweep(grid, storage=store)
    fillers = []

    def train() -> None:
        with sweepctl.init() as run:
            run.log({"loss": run.config["x"] / 10})
        if not fillers:  # another process takes the disk's last bytes as the first run ends
            fillers.append(fill(small_disk))

    # The disk fills after the agent looked for room: skip that look, the full disk is real.
    monkeypatch.setattr(loop, "check_room", lambda folder: None)
    report = sweepctl.agent(sweep_id, function=train, storage=store)
    assert report.fault is not None and "is full" in report.fault, report.to_json()
    assert report.exit_code == 1
    runs = sweepctl.runs(sweep_id, storage=store).runs
    assert [(r.config["x"], r.state) for r in runs] == [(1, "finished"), (2, "killed")]
    assert "could not be written: the disk is full" in runs[1].reason

    fillers[0].unlink()  # space freed (train fills the disk only once)
    assert sweepctl.agent(sweep_id, function=train, storage=store).exit_code == 0
    runs = sweepctl.runs(sweep_id, storage=store).runs
    finished = sorted(r.config["x"] for r in runs if r.state == "finished")
    assert finished == [1, 2], [(r.config["x"], r.state) for r in runs]
