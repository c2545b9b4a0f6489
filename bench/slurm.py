"""What going through SLURM costs: a 12-point grid of 2 s runs on PostgreSQL, run by one local
agent with 3 workers and by `agent --slurm --array 3` on a one-node SLURM started here.

    .venv/bin/python bench/slurm.py [--repeats 3]

Times, median over the repeats: the submit command itself (sbatch), submit to the first run
started (scheduling + each task's Python start), and the whole grid (start to the last task
gone from squeue; for the local agent, its command's wall time). Needs root (it installs and
starts SLURM like the tests do: tests/slurm_cluster.py) and the PostgreSQL server on
127.0.0.1:5432. Results: bench/results/slurm.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from postgres_server import postgres_url  # noqa: E402
from slurm_cluster import SlurmCluster, install  # noqa: E402

GRID = """
program: train.py
method: grid
parameters:
  x: {values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}
"""
TRAIN = "import time\ntime.sleep(2)\n"


def sweepctl(root: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return done.stdout


def first_start(root: Path, env: dict[str, str], sweep_id: str) -> float:
    runs = json.loads(sweepctl(root, env, "runs", sweep_id, "--json"))
    assert len(runs) == 12 and all(r["state"] == "finished" for r in runs), runs
    return min(datetime.fromisoformat(r["started_at"]).timestamp() for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args()
    reason = install()
    base, why = postgres_url()
    if reason or base is None:
        sys.exit(reason or why)
    import sqlalchemy as sa

    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    schema = f"sweepctl_bench_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    work = Path(tempfile.mkdtemp(prefix="sweepctl-slurm-bench-"))
    cluster = SlurmCluster(work / "cluster")
    cluster.start()
    env = dict(cluster.env, SWEEPCTL_STORAGE=f"{base}?options=-csearch_path%3D{schema}")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    (work / "grid.yaml").write_text(GRID)
    (work / "train.py").write_text(TRAIN)
    local: list[float] = []
    submit: list[float] = []
    to_first: list[float] = []
    whole: list[float] = []
    try:
        for _ in range(options.repeats):
            sweep_id = sweepctl(work, env, "create", "grid.yaml", "-q").strip()
            start = time.monotonic()
            sweepctl(work, env, "agent", sweep_id, "--workers", "3")
            local.append(time.monotonic() - start)

            sweep_id = sweepctl(work, env, "create", "grid.yaml", "-q").strip()
            wall = time.time()
            start = time.monotonic()
            out = sweepctl(work, env, "agent", sweep_id, "--slurm", "--array", "3", "--json")
            submit.append(time.monotonic() - start)
            job = json.loads(out)["job_id"]
            while cluster.command("squeue", "-h", "-j", job).strip():
                time.sleep(0.2)
            whole.append(time.monotonic() - start)
            to_first.append(first_start(work, env, sweep_id) - wall)
    finally:
        cluster.stop()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    med = statistics.median
    print(f"repeats: {options.repeats}; 12 runs of 2 s, 3 at a time (ideal: 8 s)")
    print("| how | submit | to first run | whole grid |")
    print("| --- | --- | --- | --- |")
    print(f"| `agent --workers 3` (here) | - | - | {med(local):.1f} s |")
    print(
        f"| `agent --slurm --array 3` | {med(submit):.2f} s | {med(to_first):.0f} s "
        f"(whole seconds) | {med(whole):.1f} s |"
    )


if __name__ == "__main__":
    main()
