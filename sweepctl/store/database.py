"""The connection to a store: the engine (SQLite's locking set up for many agents), one
transaction at a time with retries while the database is busy or reconnecting, the schema and
its migrations."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sweepctl.errors import DiskFull, StoreGoneError, SweepctlError, UsageError
from sweepctl.store import tables as t
from sweepctl.store.postgres import engine_arguments
from sweepctl.urls import redact

# How SQLite ("database or disk is full") and PostgreSQL (SQLSTATE 53100, "could not extend
# file ...: No space left on device") say that the disk is full.
DISK_FULL = ("disk is full", "no space left", "could not extend file", "disk full")


class Database:
    """An engine for ``url`` with the schema in place; :class:`~sweepctl.store.base.Store`
    adds what sweepctl stores."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._engine(url)
        self._identity: tuple[int, int] | None = None
        self._ensure_schema()
        if self.is_sqlite:
            # Which file this is: one deleted or replaced under a running agent is noticed at
            # the next transaction, not written into a ghost while results are lost.
            self._identity = self._file_identity()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.url.removeprefix("sqlite:///"))
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def check_file(self) -> None:
        """Raise :class:`StoreGoneError` if the SQLite file was deleted or replaced."""
        if self._identity is not None and self._file_identity() != self._identity:
            path = self.url.removeprefix("sqlite:///")
            raise StoreGoneError(
                f"the store {path} was deleted or replaced while sweepctl was using it; "
                "results from here on cannot be saved",
                hint="keep the store (and its .sweepctl folder) while agents run",
            )

    def _engine(self, url: str) -> Engine:
        if self.is_sqlite:
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                # Sweeps and their runs' configs are the user's business: owner only.
                path.touch(mode=0o600)
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection: Any, _record: Any) -> None:
                # Take transactions into our own hands: pysqlite's implicit BEGIN is DEFERRED,
                # and a deferred read that later writes can fail with "database is locked".
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

            @sa.event.listens_for(engine, "begin")
            def _on_begin(connection: Connection) -> None:
                mode = (
                    "IMMEDIATE" if connection.get_execution_options().get("write") else "DEFERRED"
                )
                connection.exec_driver_sql(f"BEGIN {mode}")

            return engine
        target, connect_args = engine_arguments(url)
        try:
            return sa.create_engine(target, pool_pre_ping=True, connect_args=connect_args)
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"the PostgreSQL driver is not installed ({exc.name})",
                hint="pip install 'sweepctl[postgres]'",
            ) from None

    def write(self, fn: Callable[[Connection], Any], attempts: int = 8) -> Any:
        """Run ``fn`` in one write transaction (SQLite: BEGIN IMMEDIATE)."""
        return self._transaction(fn, write=True, attempts=attempts)

    def read(self, fn: Callable[[Connection], Any], attempts: int = 8) -> Any:
        """Run ``fn`` in one read transaction."""
        return self._transaction(fn, write=False, attempts=attempts)

    def _transaction(self, fn: Callable[[Connection], Any], *, write: bool, attempts: int) -> Any:
        """One transaction, retried with backoff while the database is busy or reconnecting.

        A busy SQLite file, a PostgreSQL serialisation failure or a dropped connection (a
        server restart) are worth waiting for: about ten seconds in all before giving up.
        """
        self.check_file()
        delay = 0.05
        for attempt in range(attempts):
            try:
                with self.engine.connect().execution_options(write=write) as conn, conn.begin():
                    return fn(conn)
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                text = str(exc.orig).lower()
                if "does not exist" in text and "database" in text:
                    raise self._missing_database() from None  # no retry brings it
                if any(s in text for s in DISK_FULL):
                    raise DiskFull(
                        f"the disk holding the store is full: {str(exc.orig).strip()}",
                        hint=f"free space there (store: {redact(self.url)}), then start the "
                        "agent again",
                    ) from None
                busy = (
                    "locked" in text
                    or "busy" in text
                    or "could not serialize" in text
                    or "statement timeout" in text  # a lock held by a peer cut off mid-claim
                )
                lost = exc.connection_invalidated or "connection" in text or "terminating" in text
                if not (busy or lost) or attempt == attempts - 1:
                    # libpq adds hint lines ("Is the server running on that host ...?").
                    why = (str(exc.orig).strip().splitlines() or [""])[0]
                    raise SweepctlError(
                        f"the store could not be {'written' if write else 'read'}: {why}",
                        hint=f"store: {redact(self.url)}",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _missing_database(self) -> UsageError:
        """The PostgreSQL server is there, the database is not: say how to make it."""
        url = sa.engine.make_url(self.url)
        user = f" -U {url.username}" if url.username else ""
        where = f" -h {url.host}" + (f" -p {url.port}" if url.port else "") if url.host else ""
        return UsageError(
            f"the PostgreSQL server has no database {url.database!r}",
            hint=f"create it once with `createdb{where}{user} {url.database}`, "
            "or name one that exists in --storage / SWEEPCTL_STORAGE",
        )

    def _ensure_schema(self) -> None:
        """Create the tables on first use; refuse a store written by a newer sweepctl."""
        try:
            with self.engine.connect() as conn:
                stored = conn.execute(
                    sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")
                ).scalar_one()
        except (sa.exc.ProgrammingError, sa.exc.OperationalError, sa.exc.NoResultFound):
            stored = None  # no tables yet, or the server is down: `setup` will tell which
        except sa.exc.DatabaseError as exc:  # SQLite: "file is not a database"
            raise UsageError(
                f"{redact(self.url)} is not a sweepctl store: {exc.orig}",
                hint="point --storage / SWEEPCTL_STORAGE at a sweepctl store, or at a new file",
            ) from None
        version = self._version(stored) if stored is not None else None
        if version is not None:
            if version > t.SCHEMA_VERSION:
                raise UsageError(
                    f"this store was written by a newer sweepctl (schema {version}, "
                    f"this version knows {t.SCHEMA_VERSION})",
                    hint="upgrade sweepctl",
                )
            if version < t.SCHEMA_VERSION:
                self._migrate(version)
            return

        def setup(conn: Connection) -> None:
            t.metadata.create_all(conn)
            exists = conn.execute(
                sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(t.meta).values(key="schema_version", value=str(t.SCHEMA_VERSION))
                )

        self.write(setup)

    def _version(self, stored: Any) -> int:
        try:
            return int(stored)
        except (TypeError, ValueError):
            raise UsageError(
                f"the store {redact(self.url)} records the schema version {stored!r}, "
                "which is not a number",
                hint="the store was edited outside sweepctl or is damaged; restore it from a copy",
            ) from None

    def _migrate(self, version: int) -> None:
        """Upgrade an older store in place, one version at a time; nothing is dropped."""

        def upgrade(conn: Connection) -> None:
            current = int(
                conn.execute(
                    sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")
                ).scalar_one()
            )
            for target in range(current + 1, t.SCHEMA_VERSION + 1):
                steps = t.MIGRATIONS[target]
                for statement in (*steps.get("*", ()), *steps.get(conn.dialect.name, ())):
                    conn.exec_driver_sql(statement)
                conn.execute(
                    sa.update(t.meta)
                    .where(t.meta.c.key == "schema_version")
                    .values(value=str(target))
                )

        self.write(upgrade)

    def schema_version(self) -> int:
        return int(
            self.read(
                lambda c: c.execute(
                    sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")
                ).scalar_one()
            )
        )
