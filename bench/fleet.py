"""Agent processes for bench/scale.py and bench/faults.py: start, kill, clean up, inspect.

Every agent is a real `sweepctl agent` process started in its own session with the venv's
`python` first on PATH (W&B's default command runs `/usr/bin/env python prog.py --x=N`).
Agents and their children run in the benchmark's temporary folder, which is how the clean-up
finds the children of an agent killed with SIGKILL: they outlive it, in their own sessions.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
SWEEPCTL = VENV_BIN / "sweepctl"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# What an agent prints when something went wrong, whatever the run did.
BAD_OUTPUT = ("error", "traceback", "database is locked")


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the venv first on PATH and no default store."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("SWEEPCTL_STORAGE", None)  # every command is given --storage
    env.update(extra or {})
    return env


def sweepctl(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run one sweepctl command to completion; its stdout, or an error with its stderr."""
    done = subprocess.run(
        [str(SWEEPCTL), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"sweepctl {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


def create_sweep(workdir: Path, sweep_file: str, url: str, env: dict[str, str]) -> str:
    """Store the sweep file as a new sweep; its id."""
    out = sweepctl(["create", sweep_file, "--quiet", "--storage", url], workdir, env)
    return out.strip().splitlines()[-1]


def runs_json(sweep_id: str, url: str, workdir: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """`sweepctl runs ID --json`: every run with its state and config."""
    return json.loads(sweepctl(["runs", sweep_id, "--json", "--storage", url], workdir, env))


def sweep_json(sweep_id: str, url: str, workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """The sweep's entry in `sweepctl ls --json`."""
    every = json.loads(sweepctl(["ls", "--json", "--storage", url], workdir, env))
    return next(s for s in every if s["sweep_id"] == sweep_id)


@dataclass
class AgentProc:
    """One `sweepctl agent` process and where its output goes."""

    index: int
    proc: subprocess.Popen
    stdout: Path
    stderr: Path
    launched: float
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """stdout and stderr together, for the checks on what an agent printed."""
        return "".join(p.read_text(errors="replace") for p in (self.stdout, self.stderr))


@dataclass
class Fleet:
    """The agents of one sweep, each started on demand; ``close`` leaves no process behind."""

    workdir: Path
    url: str
    sweep_id: str
    env: dict[str, str]
    logs: Path
    agents: list[AgentProc] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)  # e.g. `ip netns exec NS`: another host

    def start(self, *extra: str, prefix: list[str] | None = None, url: str = "") -> AgentProc:
        index = len(self.agents)
        self.logs.mkdir(parents=True, exist_ok=True)
        out, err = self.logs / f"agent-{index}.out", self.logs / f"agent-{index}.err"
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(
                [
                    *(self.prefix if prefix is None else prefix),
                    str(SWEEPCTL),
                    *("agent", self.sweep_id, "--storage", url or self.url, *extra),
                ],
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=fo,
                stderr=fe,
                start_new_session=True,
            )
        agent = AgentProc(index, proc, out, err, time.monotonic())
        self.agents.append(agent)
        return agent

    def alive(self) -> list[AgentProc]:
        return [a for a in self.agents if a.alive()]

    def kill(self, agent: AgentProc) -> None:
        """SIGKILL the agent process alone: its running child is left to outlive it."""
        agent.killed = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(agent.pid, signal.SIGKILL)
        agent.proc.wait()

    def wait_all(self, deadline: float) -> bool:
        """Wait for every agent to exit by ``deadline`` (monotonic); False if one is still up."""
        for agent in self.agents:
            left = deadline - time.monotonic()
            try:
                agent.proc.wait(timeout=max(left, 0.01))
            except subprocess.TimeoutExpired:
                return False
        return True

    def close(self) -> int:
        """Kill every agent and every process left in the work folder; how many were left."""
        left = 0
        for agent in self.agents:
            if agent.alive():
                left += 1
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(agent.pid, signal.SIGKILL)
                agent.proc.wait()
        for pid in processes_in(self.workdir):
            left += 1
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def processes_in(folder: Path) -> list[int]:
    """Pids of the processes (not this one) whose working directory is ``folder``."""
    target = str(folder.resolve())
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and _cwd(int(entry)) == target:
            pids.append(int(entry))
    return pids


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def parent_pid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # The command name is in parentheses and may hold spaces: split after it.
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


@contextlib.contextmanager
def postgres_schema(base: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh schema on the PostgreSQL server, dropped afterwards; yields its store URL."""
    import sqlalchemy as sa

    schema = f"sweepctl_bench_{secrets.token_hex(4)}"
    engine = sa.create_engine("postgresql+psycopg://" + base.split("://", 1)[1])
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


def postgres_version(base: str = POSTGRES_URL) -> str:
    """The server's version, or why it is not known."""
    try:
        import sqlalchemy as sa

        engine = sa.create_engine("postgresql+psycopg://" + base.split("://", 1)[1])
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar_one()
        engine.dispose()
        return str(version)
    except Exception as exc:  # the header says so rather than failing the benchmark
        return f"unreachable ({type(exc).__name__})"


def environment_lines(with_postgres: bool) -> list[str]:
    """Date, machine and versions, as Markdown list items."""
    import sqlite3

    import sqlalchemy

    import sweepctl

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "?"

    with open("/proc/cpuinfo") as fh:
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?")
    dirty = (
        " + uncommitted changes in sweepctl/" if git("status", "--porcelain", "sweepctl") else ""
    )
    stores = f"SQLite {sqlite3.sqlite_version}"
    if with_postgres:
        import psycopg

        stores += f", PostgreSQL server {postgres_version()} (psycopg {psycopg.__version__})"
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.platform()}, shared with other work",
        f"- Python {platform.python_version()}, sweepctl {sweepctl.__version__} "
        f"(git {git('rev-parse', '--short', 'HEAD')}{dirty}), SQLAlchemy "
        f"{sqlalchemy.__version__}, {stores}",
    ]


def load_line(start: tuple[float, ...]) -> str:
    """Load averages at start and end: other work on the cores moves every wall time."""
    end = os.getloadavg()
    return (
        f"- load average (1, 5, 15 min) at start {start[0]:.2f} {start[1]:.2f} {start[2]:.2f}, "
        f"at end {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}, on {os.cpu_count()} cores"
    )


def bad_lines(text: str) -> list[str]:
    """The lines of an agent's output that say something went wrong."""
    return [ln for ln in text.splitlines() if any(b in ln.lower() for b in BAD_OUTPUT)]


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt, so ``finally`` blocks clean up on it too."""

    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
