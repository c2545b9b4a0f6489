"""`sweepctl agent --slurm` on a real one-node SLURM cluster (slurmctld + slurmd started by the
tests, four fake GPUs as GRES): job arrays, preemption by scancel and requeue, `stop --cancel`,
and bad input that SLURM itself refuses."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

GRID_12 = """
program: train.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}
  sleep: {value: 1}
"""


def grid(points: int, sleep: float) -> str:
    values = ", ".join(str(i) for i in range(1, points + 1))
    return f"""
program: train.py
method: grid
metric: {{name: loss, goal: minimize}}
parameters:
  x: {{values: [{values}]}}
  sleep: {{value: {sleep}}}
"""


def where(ws, run: dict) -> dict:
    """What the training program noted about where it ran."""
    return json.loads((ws.root / f"{run['run_id']}.where.json").read_text())


def children_of(root: Path) -> list[int]:
    """Training programs still running in this workspace."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if b"train.py" in cmdline and Path(os.readlink(f"/proc/{entry}/cwd")) == root:
                found.append(int(entry))
        except OSError:
            continue
    return found


def running_on(ws, sweep_id: str, task: str) -> list[dict]:
    return [
        r for r in ws.json("runs", sweep_id) if r["state"] == "running" and r["slurm_task"] == task
    ]


@pytest.mark.postgres
def test_a_12_point_grid_by_3_tasks_finishes_every_point_exactly_once(pg_ws):
    ws = pg_ws
    ws.file("grid.yaml", GRID_12)
    sweep_id = ws.create("grid.yaml")
    job = ws.submit(sweep_id, "--array", "3", "--gpus-per-task", "1")
    ws.wait_gone(job)

    runs = ws.json("runs", sweep_id)
    assert Counter(r["state"] for r in runs) == {"finished": 12}
    assert sorted(r["config"]["x"] for r in runs) == list(range(1, 13))
    # Each run ran in one of the job's tasks, on that task's own GPU (SLURM's allocation).
    gpus_by_task: dict[str, set[str]] = defaultdict(set)
    for run in runs:
        seen = where(ws, run)
        assert run["slurm_task"] == f"{job}_{seen['SLURM_ARRAY_TASK_ID']}"
        gpus_by_task[run["slurm_task"]].add(seen["CUDA_VISIBLE_DEVICES"])
    assert len(gpus_by_task) >= 2  # the tasks ran at once and shared the grid
    assert all(len(gpus) == 1 for gpus in gpus_by_task.values())
    every = [gpu for gpus in gpus_by_task.values() for gpu in gpus]
    assert len(set(every)) == len(every) and set(every) <= {"0", "1", "2", "3"}
    # One output file per task, under the store's folder, named by job and task.
    for index in range(3):
        log = ws.root / ".sweepctl" / "slurm" / sweep_id / f"{job}_{index}.out"
        assert "agent done" in log.read_text()
    assert {r["slurm_output"] for r in runs} <= {
        str(ws.root / ".sweepctl" / "slurm" / sweep_id / f"{job}_{i}.out") for i in range(3)
    }
    (listed,) = ws.json("ls")
    assert listed["slurm_jobs"] == [job]
    # The batch script kept beside the logs holds no store URL (it travels in the environment).
    script = (ws.root / ".sweepctl" / "slurm" / sweep_id / f"{job}.sh").read_text()
    assert "postgresql" not in script and f"agent {sweep_id} --gpus all" in script


@pytest.mark.postgres
def test_scancel_of_one_task_mid_run_preempts_its_run_and_another_task_finishes_it(pg_ws):
    ws = pg_ws
    ws.file("grid.yaml", grid(6, sleep=6))  # long enough to be still running when hit
    sweep_id = ws.create("grid.yaml")
    job = ws.submit(sweep_id, "--array", "2")
    ws.wait_for("task 0 to run something", lambda: running_on(ws, sweep_id, f"{job}_0"))
    ws.cluster.command("scancel", f"{job}_0")
    ws.wait_gone(job)

    runs = ws.json("runs", sweep_id)
    (preempted,) = [r for r in runs if r["state"] == "preempted"]
    assert preempted["slurm_task"] == f"{job}_0"
    assert preempted["reason"] == "the agent received SIGTERM"
    finished = [r for r in runs if r["state"] == "finished"]
    assert sorted(r["config"]["x"] for r in finished) == [1, 2, 3, 4, 5, 6]  # each once
    (again,) = [r for r in finished if r["config"] == preempted["config"]]
    assert again["slurm_task"] == f"{job}_1"
    assert len(runs) == 7


@pytest.mark.postgres
def test_a_requeued_task_comes_back_and_goes_on(pg_ws):
    ws = pg_ws
    ws.file("grid.yaml", grid(3, sleep=6))  # long enough to be still running when hit
    sweep_id = ws.create("grid.yaml")
    job = ws.submit(sweep_id, "--array", "1")
    ws.wait_for("a run", lambda: running_on(ws, sweep_id, f"{job}_0"))
    ws.cluster.command("scontrol", "requeue", f"{job}_0")
    # SLURM holds a requeued job back for a while (Reason=BeginTime); let it start now.
    ws.wait_for(
        "the requeued task to wait",
        lambda: any(line.endswith(" PENDING") for line in ws.squeue(job)),
    )
    ws.cluster.command("scontrol", "update", f"JobId={job}_0", "StartTime=now")
    ws.wait_gone(job)

    runs = ws.json("runs", sweep_id)
    by_state = Counter(r["state"] for r in runs)
    assert by_state == {"finished": 3, "preempted": 1}
    assert sorted(r["config"]["x"] for r in runs if r["state"] == "finished") == [1, 2, 3]
    assert {r["slurm_task"] for r in runs} == {f"{job}_0"}
    log = (ws.root / ".sweepctl" / "slurm" / sweep_id / f"{job}_0.out").read_text()
    # Both lives of the task in one file: the preemption, then the agent that went on.
    assert "DUE TO JOB REQUEUE" in log and "preempted" in log
    assert log.count("agent done") == 2


@pytest.mark.postgres
def test_stop_cancel_leaves_no_task_in_squeue_and_no_child(pg_ws):
    ws = pg_ws
    ws.file("grid.yaml", grid(4, sleep=300))
    sweep_id = ws.create("grid.yaml")
    job = ws.submit(sweep_id, "--array", "2")
    ws.wait_for(
        "both tasks to run",
        lambda: len([r for r in ws.json("runs", sweep_id) if r["state"] == "running"]) == 2,
    )
    stopped = ws.run("stop", sweep_id, "--cancel")
    assert f"SLURM job {job} canceled" in stopped.stdout
    ws.wait_gone(job, timeout=60)
    ws.wait_for("the training programs to end", lambda: not children_of(ws.root), timeout=30)
    runs = ws.json("runs", sweep_id)
    assert Counter(r["state"] for r in runs) == {"killed": 2}
    assert all(r["reason"] == "the sweep was canceled" for r in runs)


def test_sqlite_is_refused_unless_every_task_shares_this_node(sqlite_ws):
    ws = sqlite_ws
    ws.file("grid.yaml", grid(4, sleep=0.2))
    sweep_id = ws.create("grid.yaml")
    refused = ws.run("agent", sweep_id, "--slurm", "--array", "2", check=False)
    assert refused.returncode == 2
    assert "--slurm needs a PostgreSQL store" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not ws.cluster.command("squeue", "-h", "-n", f"sweepctl-{sweep_id}").strip()

    job = ws.submit(sweep_id, "--array", "2", "--slurm-allow-sqlite")
    ws.wait_gone(job)
    runs = ws.json("runs", sweep_id)
    assert sorted(r["config"]["x"] for r in runs if r["state"] == "finished") == [1, 2, 3, 4]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--partition", "nosuchpart"], "invalid partition"),
        (["--gpus-per-task", "5"], "Requested node configuration is not available"),
    ],
    ids=["unknown-partition", "more-gpus-than-the-node-has"],
)
def test_what_sbatch_refuses_is_said_in_one_line_and_nothing_is_left(pg_ws, options, said):
    ws = pg_ws
    ws.file("grid.yaml", grid(2, sleep=0.2))
    sweep_id = ws.create("grid.yaml")
    refused = ws.run("agent", sweep_id, "--slurm", "--array", "3", *options, check=False)
    assert refused.returncode == 2
    first, *rest = refused.stderr.splitlines()
    assert first.startswith("error: sbatch refused the job array, nothing was submitted: ")
    assert said.lower() in first.lower()
    assert all(line.startswith("  hint: ") for line in rest)
    assert not ws.cluster.command("squeue", "-h", "-n", f"sweepctl-{sweep_id}").strip()
    assert ws.json("ls")[0]["slurm_jobs"] == []
    assert not list((ws.root / ".sweepctl" / "slurm" / sweep_id).glob("*.sh"))


@pytest.mark.postgres
def test_a_task_near_its_time_limit_claims_no_new_run(pg_ws):
    """--time 2 (minutes) and --run-time 80s: with the 30 s warning, a task may claim runs
    only in its first ~10 s; it then finishes the run it has and ends, long before SLURM's
    signal, leaving the rest of the grid to other tasks."""
    ws = pg_ws
    ws.file("grid.yaml", grid(30, sleep=2))
    sweep_id = ws.create("grid.yaml")
    job = ws.submit(sweep_id, "--array", "1", "--time", "2", "--run-time", "80s")
    ws.wait_gone(job, timeout=110)
    runs = ws.json("runs", sweep_id)
    assert 1 <= len(runs) < 30
    assert {r["state"] for r in runs} == {"finished"}  # none cut short by the time limit
    log = (ws.root / ".sweepctl" / "slurm" / sweep_id / f"{job}_0.out").read_text()
    assert "the SLURM task's time limit is near (--run-time)" in log
    script = (ws.root / ".sweepctl" / "slurm" / sweep_id / f"{job}.sh").read_text()
    assert "export SWEEPCTL_SLURM_RESERVE=110\n" in script


@pytest.mark.postgres
def test_the_warning_before_the_time_limit_preempts_the_run_for_another_task(pg_ws):
    """--time 1: SLURM sends the agent (only the batch shell, B:) SIGTERM 15 s or more before
    the limit; the agent stops its run, records it preempted, and ends before the limit."""
    ws = pg_ws
    ws.file("grid.yaml", grid(2, sleep=300))
    sweep_id = ws.create("grid.yaml")
    job = ws.submit(sweep_id, "--array", "1", "--time", "1")
    ws.wait_gone(job, timeout=120)
    runs = ws.json("runs", sweep_id)
    assert [(r["state"], r["reason"]) for r in runs] == [
        ("preempted", "the agent received SIGTERM")
    ]
    log = (ws.root / ".sweepctl" / "slurm" / sweep_id / f"{job}_0.out").read_text()
    assert "SIGTERM: stopping 1 running run" in log and "agent done: 1 preempted" in log
    assert "DUE TO TIME LIMIT" not in log  # the agent was done before SLURM's own kill
