"""Where run files live (a store setting, SWEEPCTL_FILES, an agent's --files) and `sweepctl
logs RUN [--follow]`, through the real CLI on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from postgres_server import fresh_schema, schema_url

PROGRAM = (
    "import sys, time, sweepctl\n"
    "x = int(sys.argv[1].split('=')[1])\n"
    "for i in range(3):\n"
    "    print(f'x={x} line {i}', flush=True)\n"
    "    time.sleep(float(__import__('os').environ.get('PAUSE', '0')))\n"
    "sweepctl.log({'loss': x})\n"
)
SWEEP = "method: grid\nmetric: {name: loss}\nprogram: prog.py\nparameters:\n  x: {values: [1, 2]}\n"


def sweepctl(cwd: Path, env: dict[str, str], *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False, **kw,
    )  # fmt: skip


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPCTL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture
def pg_schema():
    with fresh_schema("sweepctl_files") as (base, schema):
        yield schema_url(base, schema)


def test_logs_prints_a_runs_output_from_the_folder_beside_the_store(tmp_path: Path) -> None:
    env = dict(base_env(), SWEEPCTL_STORAGE=f"sqlite:///{tmp_path / 'store' / 's.db'}")
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    sweep_id = sweepctl(tmp_path, env, "create", "sweep.yaml", "-q").stdout.strip()
    assert sweepctl(tmp_path, env, "agent", sweep_id).returncode == 0
    first = sweepctl(tmp_path, env, "runs", sweep_id, "--json").stdout.split('"run_id": "')[1][:8]
    done = sweepctl(tmp_path, env, "logs", first[:5])  # a prefix will do
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == ["x=1 line 0", "x=1 line 1", "x=1 line 2"]
    assert (tmp_path / "store" / "runs" / sweep_id / first / "output.log").is_file()
    missing = sweepctl(tmp_path, env, "logs", "zzzz")
    assert missing.returncode == 2 and "no run 'zzzz'" in missing.stderr


@pytest.mark.slow
def test_logs_follow_prints_output_as_it_comes_until_the_run_ends(tmp_path: Path) -> None:
    env = dict(base_env(), SWEEPCTL_STORAGE=f"sqlite:///{tmp_path / 's.db'}", PAUSE="0.7")
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "sweep.yaml").write_text(SWEEP.replace("[1, 2]", "[7]"))
    sweep_id = sweepctl(tmp_path, env, "create", "sweep.yaml", "-q").stdout.strip()
    agent = subprocess.Popen(
        [sys.executable, "-m", "sweepctl", "agent", sweep_id],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        run_id = ""
        while not run_id and time.monotonic() < deadline:
            out = sweepctl(tmp_path, env, "runs", sweep_id, "--json").stdout
            run_id = out.split('"run_id": "')[1][:8] if '"run_id"' in out else ""
            time.sleep(0.1)
        follow = sweepctl(tmp_path, env, "logs", run_id, "--follow")
        assert follow.returncode == 0, follow.stderr
        # All three lines, although the run had printed at most one when following began.
        assert follow.stdout.splitlines() == ["x=7 line 0", "x=7 line 1", "x=7 line 2"]
    finally:
        agent.wait(timeout=60)


def test_run_files_go_where_the_store_says_on_postgresql(tmp_path: Path, pg_schema: str) -> None:
    """On PostgreSQL each agent would keep run files in its own working folder; `create
    --files` names one folder for all, and `logs` reads it from anywhere."""
    env = dict(base_env(), SWEEPCTL_STORAGE=pg_schema)
    work, elsewhere, shared = tmp_path / "work", tmp_path / "elsewhere", tmp_path / "shared"
    work.mkdir()
    elsewhere.mkdir()
    (work / "prog.py").write_text(PROGRAM)
    (work / "sweep.yaml").write_text(SWEEP)
    created = sweepctl(work, env, "create", "sweep.yaml", "-q", "--files", str(shared))
    assert created.returncode == 0, created.stderr
    sweep_id = created.stdout.strip()
    agent = sweepctl(work, env, "agent", sweep_id)
    assert agent.returncode == 0, agent.stderr
    assert "run files (logs, metrics) go to" not in agent.stderr  # the store says where
    assert not (work / ".sweepctl").exists()
    run_id = sweepctl(work, env, "runs", sweep_id, "--json").stdout.split('"run_id": "')[1][:8]
    assert (shared / "runs" / sweep_id / run_id / "output.log").is_file()
    done = sweepctl(elsewhere, env, "logs", run_id)
    assert done.returncode == 0 and done.stdout.startswith("x=1 line 0"), done.stderr


def test_an_agents_files_option_and_the_unset_default_on_postgresql(
    tmp_path: Path, pg_schema: str
) -> None:
    env = dict(base_env(), SWEEPCTL_STORAGE=pg_schema)
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    sweep_id = sweepctl(tmp_path, env, "create", "sweep.yaml", "-q").stdout.strip()
    agent = sweepctl(tmp_path, env, "agent", sweep_id, "--count", "1")
    assert agent.returncode == 0, agent.stderr
    # Nothing set: this agent's own folder, and it says so once.
    assert (
        agent.stderr.count(f"run files (logs, metrics) go to {tmp_path / '.sweepctl' / 'runs'}")
        == 1
    )
    local = tmp_path / "node-local"
    agent = sweepctl(tmp_path, env, "agent", sweep_id, "--files", str(local))
    assert agent.returncode == 0, agent.stderr
    assert len(list((local / "runs" / sweep_id).iterdir())) == 1
    other = tmp_path / "other"
    other.mkdir()
    run_id = next(p.name for p in (local / "runs" / sweep_id).iterdir())
    away = sweepctl(other, env, "logs", run_id)
    assert away.returncode == 2
    assert "has no log at" in away.stderr and "its agent ran on" in away.stderr
