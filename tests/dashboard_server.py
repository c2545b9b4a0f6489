"""`sweepctl dashboard` as a real process on a free port, for the tests that talk to it."""

from __future__ import annotations

import re
import selectors
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def dashboard(storage: str, *args: str, cwd: Path | None = None):
    """Start ``sweepctl dashboard --port 0 ARGS``; yields (url it printed, process)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweepctl", "dashboard", "--storage", storage, "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield first_url(proc), proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def first_url(proc: subprocess.Popen, timeout: float = 60) -> str:
    """The URL the dashboard prints on stdout once it listens."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.5):
            line = proc.stdout.readline()
            found = re.search(r"dashboard: (http://\S+)", line)
            if found:
                return found.group(1)
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise AssertionError(f"the dashboard printed no URL; stderr:\n{proc.stderr.read()}")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of a GET, errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
