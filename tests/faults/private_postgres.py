"""A private PostgreSQL server for tests that stop and start one: initdb into a temporary
folder with the Debian binaries, run as the `postgres` user on a free port of 127.0.0.1.

The shared server on 5432 is used by other tests at the same time; restarting it would break
them, so the restart tests stop and start this one instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN_ROOT = Path("/usr/lib/postgresql")
TIMEOUT = 60  # seconds for initdb, a start or a stop


class PrivatePostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, no `postgres` user or no root here (the reason is the message)."""


def _bin_dir() -> Path:
    versions = sorted(
        (p for p in PG_BIN_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PrivatePostgresUnavailable(f"no initdb under {PG_BIN_ROOT}/*/bin")
    return versions[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    """One server of our own: ``url``, ``stop()``, ``start()``, ``close()`` (removes it)."""

    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise PrivatePostgresUnavailable("starting a server as `postgres` needs root")
        if shutil.which("runuser") is None:
            raise PrivatePostgresUnavailable("runuser is not installed")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            raise PrivatePostgresUnavailable("there is no `postgres` user") from None
        self.bin = _bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="sweepctl-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.running = False
        try:
            shutil.chown(self.folder, "postgres", "postgres")
            self._as_postgres(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "--no-sync",
            )  # fmt: skip
            self.start()
        except BaseException:
            self.close()
            raise

    def _as_postgres(self, *argv: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            cwd=self.folder,
        )
        if proc.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise PrivatePostgresUnavailable(
                f"`{' '.join(argv)}` failed: {proc.stderr.strip()} {proc.stdout.strip()} {tail}"
            )
        return proc

    def _ctl(self, *args: str) -> None:
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), *args)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._ctl("-l", str(self.log), "-o", options, "-w", "-t", str(TIMEOUT), "start")
        self.running = True

    def stop(self) -> None:
        """A fast shutdown, as `pg_ctlcluster ... stop -m fast` does: sessions are ended."""
        self._ctl("-m", "fast", "-w", "-t", str(TIMEOUT), "stop")
        self.running = False

    def close(self) -> None:
        try:
            if self.running or (self.data / "postmaster.pid").exists():
                self._ctl("-m", "immediate", "-w", "-t", str(TIMEOUT), "stop")
        except (PrivatePostgresUnavailable, subprocess.TimeoutExpired):
            pass
        finally:
            self.running = False
            shutil.rmtree(self.folder, ignore_errors=True)
