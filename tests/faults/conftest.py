"""Fixtures for the fault tests: a second host (a network namespace) that reaches the real
PostgreSQL server through a veth link, and a sweep workspace whose agents run on either side.

The server listens on 127.0.0.1 only, so the namespace reaches it through a small TCP
forwarder (tests/faults/forwarder.py) bound to the host end of the link; cutting the link
cuts every connection of the namespace's agents, while the forwarder's own connections to the
server stay up, as a server's do when the network between it and a client fails.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from postgres_server import fresh_schema, schema_url

from sweepctl.store.postgres import engine_arguments

from .netns import Namespace, NetnsUnavailable
from .private_postgres import PrivatePostgres, PrivatePostgresUnavailable

BIN = str(Path(sys.executable).parent)
FORWARDER = Path(__file__).with_name("forwarder.py")
# Short client limits, so a cut connection is given up in seconds rather than the default
# ~30 s (the defaults themselves are checked in tests/store/test_postgres_timeouts.py).
# SWEEPCTL_FAULTS_DEFAULT_LIMITS=1 runs the partition tests with sweepctl's defaults instead.
FAST_LIMITS = (
    "connect_timeout=3&keepalives_idle=2&keepalives_interval=1&keepalives_count=2"
    "&tcp_user_timeout=5000&idle_in_transaction_session_timeout=5s"
)
if os.environ.get("SWEEPCTL_FAULTS_DEFAULT_LIMITS") == "1":
    FAST_LIMITS = ""


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what or predicate}")


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The next line of a child's stdout, waiting at most ``timeout`` s."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output from {proc.args} within {timeout:g}s")
    return proc.stdout.readline()


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """End a child this fixture started: SIGTERM, then SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A network namespace linked to this host; removed afterwards, whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    try:
        ns = Namespace()
    except (NetnsUnavailable, FileNotFoundError) as exc:
        pytest.skip(f"network namespaces or tc cannot be used here: {exc}")
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL of a fresh schema on the real PostgreSQL server, dropped afterwards."""
    with fresh_schema() as (base, schema):
        yield schema_url(base, schema)


@dataclass
class Linked:
    """A fresh schema on the real server, reachable from the host and from the namespace."""

    ns: Namespace
    direct_url: str  # from this host (127.0.0.1)
    link_url: str  # from inside the namespace, through the forwarder on the link
    port: int


@pytest.fixture
def linked_postgres(netns: Namespace) -> Iterator[Linked]:
    with fresh_schema() as (base, schema):
        forwarder = subprocess.Popen(
            [sys.executable, str(FORWARDER), netns.host_ip, "127.0.0.1", "5432"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            word, port = read_line(forwarder, 30).split()
            assert word == "ready"
            query = f"options=-csearch_path%3D{schema}" + (f"&{FAST_LIMITS}" if FAST_LIMITS else "")
            user = sa.engine.make_url(base).username
            yield Linked(
                netns,
                direct_url=f"{base}?{query}",
                link_url=f"postgresql://{user}@{netns.host_ip}:{port}/test?{query}",
                port=int(port),
            )
        finally:
            stop(forwarder)


@dataclass
class Workspace:
    """A folder with a sweep file and program; runs `sweepctl` on this host or in a namespace."""

    root: Path
    env: dict[str, str]
    url: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def file(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def run(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "sweepctl", *args, "--storage", self.url],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"sweepctl {args} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def agent(self, sweep: str, *args: str, url: str | None = None, prefix=()) -> subprocess.Popen:
        """An agent, started in the background (``prefix``: e.g. ``ip netns exec NS``)."""
        argv = [*prefix, sys.executable, "-m", "sweepctl", "agent", sweep, *args]
        proc = subprocess.Popen(
            [*argv, "--storage", url or self.url],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def sql(self, query: str) -> list[tuple]:
        target, args = engine_arguments(
            self.url.replace("postgresql://", "postgresql+psycopg://", 1)
        )
        engine = sa.create_engine(target, connect_args=args)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(query))]
        finally:
            engine.dispose()


def make_workspace(root: Path, url: str) -> Workspace:
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(root))
    env["WANDB_AGENT_DISABLE_FLAPPING"] = "true"
    for key in ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "SWEEPCTL_METRICS_FILE", "SWEEPCTL_STORAGE"):
        env.pop(key, None)
    return Workspace(root, env, url)


@pytest.fixture
def workspace_factory(tmp_path: Path) -> Iterator[Callable[[str], Workspace]]:
    """Workspaces on a store URL; every agent they started is ended afterwards."""
    made: list[Workspace] = []

    def make(url: str, root: Path | None = None) -> Workspace:
        ws = make_workspace(root or tmp_path, url)
        made.append(ws)
        return ws

    try:
        yield make
    finally:
        for ws in made:
            for proc in ws.procs:
                stop(proc)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, to stop and start; removed afterwards."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'sweepctl[postgres]')")
    try:
        server = PrivatePostgres()
    except PrivatePostgresUnavailable as exc:
        pytest.skip(f"a private PostgreSQL server cannot be started here: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs file system, mounted for this test and unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        # Lazy: a process of a failed test may still hold a file open there.
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` up with one file; returns it (delete it to free)."""
    filler = folder / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb") as fh:
        for _ in range(1 << 16):  # 4 GiB at most: far more than any test's file system
            try:
                fh.write(chunk)
                fh.flush()
            except OSError:
                break
    return filler
