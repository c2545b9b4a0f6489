"""The real one-node SLURM cluster (see tests/slurm_cluster.py), one per test process, and
workspaces whose store the cluster's tasks share: a fresh schema on the real PostgreSQL, or
an SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from postgres_server import fresh_schema, schema_url
from slurm_cluster import SlurmCluster, install

BIN = str(Path(sys.executable).parent)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    """A running cluster (slurmctld + slurmd, four fake GPUs); stopped after the session.

    Skips, saying why, only where SLURM cannot be installed or started.
    """
    reason = install()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        cluster.stop()
        pytest.skip(f"SLURM could not be started: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Workspace:
    """A folder with a store and a training program; `sweepctl` run in it, on the cluster."""

    root: Path
    env: dict[str, str]
    url: str
    cluster: SlurmCluster

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def run(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "sweepctl", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"sweepctl {' '.join(args)} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)

    def create(self, sweep_file: str) -> str:
        return self.run("create", sweep_file, "--quiet").stdout.strip()

    def submit(self, sweep_id: str, *options: str) -> str:
        """`agent --slurm`: the job id it printed."""
        return self.json("agent", sweep_id, "--slurm", *options)["job_id"]

    def squeue(self, job_id: str) -> list[str]:
        out = self.cluster.command("squeue", "-h", "-j", job_id, "-o", "%i %T")
        return [line for line in out.splitlines() if line.strip()]

    def wait_for(self, what: str, done: Callable[[], object], timeout: float = 150) -> object:
        """Poll ``done`` until it answers something true; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = done()
            if found:
                return found
            time.sleep(0.5)
        logs = "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
            for p in sorted(self.root.glob(".sweepctl/slurm/*/*.out"))
            + sorted(self.root.glob("store/slurm/*/*.out"))
        )
        raise AssertionError(f"timed out after {timeout:g}s waiting for {what}\n{logs}")

    def wait_gone(self, job_id: str, timeout: float = 150) -> None:
        self.wait_for(f"job {job_id} to leave squeue", lambda: not self.squeue(job_id), timeout)


# The training program: logs loss = x, and notes where it ran (GPU, array task).
TRAIN = """
import json, os, sys, time
import sweepctl
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:] if "=" in a)
where = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "SLURM_ARRAY_TASK_ID")}
with open(os.environ["SWEEPCTL_RUN_ID"] + ".where.json", "w") as fh:
    json.dump(where, fh)
time.sleep(float(args.get("sleep", 0.5)))
sweepctl.log({"loss": float(args["x"])})
"""


def _environment(tmp_path: Path, cluster: SlurmCluster, url: str) -> dict[str, str]:
    env = dict(cluster.env)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(tmp_path))
    env["SWEEPCTL_STORAGE"] = url
    return env


@pytest.fixture
def pg_ws(slurm: SlurmCluster, tmp_path: Path):
    """A workspace on a fresh schema of the real PostgreSQL server."""
    with fresh_schema("sweepctl_slurm") as (base, schema):
        url = schema_url(base, schema)
        (tmp_path / "train.py").write_text(TRAIN)
        yield Workspace(tmp_path, _environment(tmp_path, slurm, url), url, slurm)


@pytest.fixture
def sqlite_ws(slurm: SlurmCluster, tmp_path: Path):
    """A workspace on an SQLite file (for --slurm-allow-sqlite and its refusal)."""
    url = f"sqlite:///{tmp_path / 'store' / 'sweepctl.db'}"
    (tmp_path / "train.py").write_text(TRAIN)
    return Workspace(tmp_path, _environment(tmp_path, slurm, url), url, slurm)
