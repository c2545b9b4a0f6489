"""Helpers for end-to-end tests: the real CLI in subprocesses, on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from postgres_server import postgres_url

BIN = str(Path(sys.executable).parent)


@dataclass
class Workspace:
    """A folder with a store, sweep files and programs, and a way to run `sweepctl` in it."""

    root: Path
    env: dict[str, str]
    url: str

    def sql(self, query: str) -> list[tuple]:
        """Rows of a query against the store, whichever database it is."""
        engine = sa.create_engine(_sqlalchemy_url(self.url))
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(query))]
        finally:
            engine.dispose()

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def run(
        self, *args: str, check: bool = True, timeout: float = 120, env: dict | None = None
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "sweepctl", *args],
            cwd=self.root,
            env=env or self.env,
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

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "sweepctl", *args],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)

    def create(self, sweep_file: str, *extra: str) -> str:
        return self.run("create", sweep_file, "--quiet", *extra).stdout.strip()


def pids_running(fragment: str, cwd: Path) -> list[int]:
    """Processes started in ``cwd`` whose command line contains ``fragment``.

    Children run ``python prog.py`` with a relative path, so the working directory is what
    tells this workspace's children from any other process on the machine.
    """
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                cmdline = fh.read().replace(b"\0", b" ")
            if fragment.encode() in cmdline and Path(os.readlink(f"/proc/{entry}/cwd")) == cwd:
                found.append(int(entry))
        except OSError:
            continue
    return found


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ws(request, tmp_path: Path):
    """A workspace whose store is a real SQLite file, or a fresh schema on the real server."""
    env = dict(os.environ)
    # `${interpreter}` is the `python` on PATH, as with W&B: make it this virtualenv's.
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(tmp_path))
    for key in ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "SWEEPCTL_METRICS_FILE"):
        env.pop(key, None)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store' / 'sweepctl.db'}"
        env["SWEEPCTL_STORAGE"] = url
        yield Workspace(tmp_path, env, url)
        return
    base, reason = postgres_url()
    if base is None:
        pytest.skip(reason)
    schema = f"sweepctl_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_sqlalchemy_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = f"{base}?options=-csearch_path%3D{schema}"
    env["SWEEPCTL_STORAGE"] = url
    try:
        yield Workspace(tmp_path, env, url)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# A program that records its argv and environment, logs a metric, and exits quickly.
ECHO_PROGRAM = """
import json, os, sys
import sweepctl
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:] if "=" in a)
loss = float(args.get("x", 1)) ** 2 + float(args.get("y", 0))
sweepctl.log({"loss": loss, "argv": sys.argv[1:]})
with open(os.environ["SWEEPCTL_RUN_ID"] + ".env.json", "w") as fh:
    json.dump({k: v for k, v in os.environ.items() if k.startswith(("WANDB_", "SWEEPCTL_"))}, fh)
"""
