"""Helpers for end-to-end tests: the real CLI in subprocesses, on a real SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = str(Path(sys.executable).parent)


@dataclass
class Workspace:
    """A folder with a store, sweep files and programs, and a way to run `sweepctl` in it."""

    root: Path
    env: dict[str, str]

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


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    env = dict(os.environ)
    # `${interpreter}` is the `python` on PATH, as with W&B: make it this virtualenv's.
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["SWEEPCTL_STORAGE"] = f"sqlite:///{tmp_path / 'store' / 'sweepctl.db'}"
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(tmp_path))
    for key in ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "SWEEPCTL_METRICS_FILE"):
        env.pop(key, None)
    return Workspace(tmp_path, env)


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
