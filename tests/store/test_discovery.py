"""A store found by walking up must be this user's and writable only by this user (#24 item
2, as git's safe.directory): another user's world-writable store in a parent folder must not
capture a sweep or run its commands. Through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def sweepctl(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SWEEPCTL_STORAGE"}
    return subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def parent_store(tmp_path: Path) -> tuple[Path, Path]:
    """A store made by `create` in tmp_path, and a project folder below it."""
    (tmp_path / "sweep.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
    made = sweepctl(tmp_path, "create", "sweep.yaml", "-q")
    assert made.returncode == 0, made.stderr
    below = tmp_path / "projects" / "mine"
    below.mkdir(parents=True)
    return tmp_path / ".sweepctl" / "sweepctl.db", below


def test_ones_own_store_is_found_from_below(parent_store) -> None:
    store, below = parent_store
    assert oct(store.stat().st_mode & 0o777) == "0o600"
    done = sweepctl(below, "ls", "--json")
    assert done.returncode == 0 and '"sweep_id"' in done.stdout


def test_a_store_writable_by_everyone_is_refused(parent_store) -> None:
    store, below = parent_store
    store.parent.chmod(0o777)
    done = sweepctl(below, "ls")
    assert done.returncode == 2
    assert f"the store found at {store} is not used: {store.parent} is writable by every user" in (
        done.stderr
    )
    assert f"--storage {store}" in done.stderr
    # Nothing was created or run in its place; named explicitly, it is used.
    assert not (below / ".sweepctl").exists()
    named = sweepctl(below, "ls", "--storage", str(store))
    assert named.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_another_users_store_is_refused(parent_store) -> None:
    store, below = parent_store
    os.chown(store, 65534, 65534)  # nobody
    done = sweepctl(below, "runs", "x")
    assert done.returncode == 2
    assert f"{store} is owned by another user (uid 65534)" in done.stderr
    # create refuses too: quietly making a second store below would hide the problem.
    created = sweepctl(below, "create", str(store.parent.parent / "sweep.yaml"))
    assert created.returncode == 2 and "is owned by another user" in created.stderr
