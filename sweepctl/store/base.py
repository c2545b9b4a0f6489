"""The Store class: sweeps, runs, metric history and agents, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import os
import secrets
import string
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sweepctl.errors import SweepctlError, UsageError
from sweepctl.records import Run, Sweep
from sweepctl.spec.checks import closest
from sweepctl.store import tables as t
from sweepctl.urls import redact

STORE_DIR = ".sweepctl"
STORE_FILE = "sweepctl.db"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int = 8) -> str:
    """A W&B-style id: lower-case letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _sweep(row: Any) -> Sweep:
    return Sweep(
        id=row.id,
        name=row.name,
        project=row.project,
        entity=row.entity,
        method=row.method,
        state=row.state,
        state_reason=row.state_reason,
        config=json.loads(row.spec),
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _run(row: Any, *, with_summary: bool = True) -> Run:
    """A Run from a row; ``with_summary=False`` for rows selected without the summary column
    (looking a missing column up on a row costs an exception inside SQLAlchemy)."""
    summary = row.summary if with_summary else None
    return Run(
        id=row.id,
        sweep_id=row.sweep_id,
        number=row.number,
        state=row.state,
        config=json.loads(row.config),
        agent_id=row.agent_id,
        exit_code=row.exit_code,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        heartbeat_at=row.heartbeat_at,
        summary=json.loads(summary) if summary else {},
        metric=row.metric,
        history=json.loads(row.history) if row.history else [],
        steps=row.steps or 0,
        reason=row.reason,
        stop_requested=row.stop_requested,
    )


# -- finding the store -------------------------------------------------------------------------


def find_default_store(start: Path | None = None) -> Path | None:
    """The nearest ``.sweepctl/sweepctl.db`` in ``start`` or its parents, like git's ``.git``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIR / STORE_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve_url(storage: str | None, *, create: bool = False) -> str:
    """The SQLAlchemy URL for ``--storage``, ``SWEEPCTL_STORAGE`` or the default store."""
    storage = storage or os.environ.get("SWEEPCTL_STORAGE") or None
    if storage is None:
        found = find_default_store()
        if found is None:
            if not create:
                raise UsageError(
                    f"no sweepctl store in {Path.cwd()} or its parents",
                    hint="create a sweep first (`sweepctl create FILE`), or pass --storage URL",
                )
            found = Path.cwd() / STORE_DIR / STORE_FILE
        return f"sqlite:///{found}"
    if storage.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + storage.split("://", 1)[1]
    if "://" not in storage:
        storage = f"sqlite:///{Path(storage).resolve()}"
    if storage.startswith("sqlite:///") and not create:
        path = Path(storage.removeprefix("sqlite:///"))
        if not path.is_file():
            raise UsageError(
                f"the store {path} does not exist",
                hint="check --storage / SWEEPCTL_STORAGE, or create a sweep there first",
            )
    return storage


def open_store(storage: str | None = None, *, create: bool = False) -> Store:
    """Open (and with ``create``, make) the store named by ``storage`` or found from here."""
    return Store(resolve_url(storage, create=create))


# -- the store ---------------------------------------------------------------------------------


class Store:
    """All reads and writes of sweeps, runs, metrics and agents."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = self._engine(url)
        # Runs as the last claim read them, by id, with the row they were made from: a claim
        # reads every run of its sweep, and most rows have not changed since the last one.
        self._claimed_runs: dict[str, tuple[tuple[Any, ...], Run]] = {}
        self._ensure_schema()

    # -- connection set-up ---------------------------------------------------------------------
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
        try:
            return sa.create_engine(url, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise UsageError(
                f"the PostgreSQL driver is not installed ({exc.name})",
                hint="pip install 'sweepctl[postgres]'",
            ) from None

    @property
    def files_dir(self) -> Path:
        """Where run files (logs, metrics, param files) live: beside an SQLite store."""
        if self.is_sqlite:
            return Path(self.url.removeprefix("sqlite:///")).parent
        folder = Path.cwd() / STORE_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

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
        delay = 0.05
        for attempt in range(attempts):
            try:
                with self.engine.connect().execution_options(write=write) as conn, conn.begin():
                    return fn(conn)
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                text = str(exc.orig).lower()
                busy = "locked" in text or "busy" in text or "could not serialize" in text
                lost = exc.connection_invalidated or "connection" in text or "terminating" in text
                if not (busy or lost) or attempt == attempts - 1:
                    raise SweepctlError(
                        f"the store could not be {'written' if write else 'read'}: {exc.orig}",
                        hint=f"store: {redact(self.url)}",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _ensure_schema(self) -> None:
        """Create the tables on first use; refuse a store written by a newer sweepctl."""
        try:
            with self.engine.connect() as conn:
                version = int(
                    conn.execute(
                        sa.select(t.meta.c.value).where(t.meta.c.key == "schema_version")
                    ).scalar_one()
                )
        except (sa.exc.ProgrammingError, sa.exc.OperationalError, sa.exc.NoResultFound):
            version = None  # no tables yet, or the server is down: `setup` will tell which
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

    # -- sweeps --------------------------------------------------------------------------------
    def create_sweep(
        self,
        config: dict[str, Any],
        *,
        name: str | None = None,
        project: str | None = None,
        entity: str | None = None,
        source: str | None = None,
    ) -> Sweep:
        now = time.time()
        values = {
            "id": new_id(),
            "name": name,
            "project": project,
            "entity": entity,
            "method": config["method"],
            "state": "running",
            "state_reason": None,
            "spec": _dumps(config),
            "source": source,
            "created_at": now,
            "updated_at": now,
        }
        self.write(lambda c: c.execute(sa.insert(t.sweeps).values(**values)))
        return _sweep(SimpleNamespace(**values))

    def sweeps(self) -> list[Sweep]:
        rows = self.read(
            lambda c: c.execute(sa.select(t.sweeps).order_by(t.sweeps.c.created_at)).all()
        )
        return [_sweep(r) for r in rows]

    def get_sweep(self, ref: str) -> Sweep:
        """A sweep by id, unique id prefix, or name; a clear error otherwise."""
        every = self.sweeps()
        exact = [s for s in every if s.id == ref]
        if exact:
            return exact[0]
        matches = [s for s in every if s.id.startswith(ref)] or [s for s in every if s.name == ref]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(s.id for s in matches[:5])
            raise UsageError(f"{ref!r} matches several sweeps ({shown})", hint="give the full id")
        hint = "list the sweeps with `sweepctl ls`"
        if every:
            near = closest(ref, [s.id for s in every])
            if near:
                hint = f"did you mean {near}? ({hint})"
        raise UsageError(f"no sweep {ref!r} in this store", hint=hint)

    def set_sweep_state(self, sweep_id: str, state: str, reason: str | None = None) -> None:
        self.write(
            lambda c: c.execute(
                sa.update(t.sweeps)
                .where(t.sweeps.c.id == sweep_id)
                .values(state=state, state_reason=reason, updated_at=time.time())
            )
        )

    def sweep_state(self, sweep_id: str) -> str:
        return self.read(
            lambda c: c.execute(
                sa.select(t.sweeps.c.state).where(t.sweeps.c.id == sweep_id)
            ).scalar_one()
        )

    # -- runs ----------------------------------------------------------------------------------
    def runs(self, sweep_id: str, states: Sequence[str] | None = None) -> list[Run]:
        query = sa.select(t.runs).where(t.runs.c.sweep_id == sweep_id)
        if states:
            query = query.where(t.runs.c.state.in_(list(states)))
        rows = self.read(lambda c: c.execute(query.order_by(t.runs.c.number)).all())
        return [_run(r) for r in rows]

    def get_run(self, run_id: str) -> Run:
        row = self.read(lambda c: c.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first())
        if row is None:
            raise UsageError(f"no run {run_id!r} in this store")
        return _run(row)

    def run_counts(self) -> dict[str, dict[str, int]]:
        """``{sweep_id: {state: count}}`` for every sweep."""
        rows = self.read(
            lambda c: c.execute(
                sa.select(t.runs.c.sweep_id, t.runs.c.state, sa.func.count()).group_by(
                    t.runs.c.sweep_id, t.runs.c.state
                )
            ).all()
        )
        counts: dict[str, dict[str, int]] = {}
        for sweep_id, state, n in rows:
            counts.setdefault(sweep_id, {})[state] = n
        return counts

    def claim(
        self,
        sweep_id: str,
        agent_id: str,
        decide: Callable[[Sweep, list[Run]], tuple[str, Any]],
        stale_after: float | None = None,
    ) -> tuple[str, Any]:
        """Lock the sweep, let ``decide(sweep, runs)`` choose, and act on it atomically.

        ``decide`` returns ``("run", config)`` to start a run (returned as ``("run", Run)``),
        ``("wait", reason)`` to start nothing for now, or ``("finish", reason)`` to mark the
        sweep finished. Everything happens in one transaction under the sweep's lock, which
        is what makes grid points exactly-once across agents and machines.
        """

        def transaction(conn: Connection) -> tuple[str, Any]:
            row = conn.execute(_SWEEP_FOR_UPDATE, {"b_sweep": sweep_id}).first()
            if row is None:
                raise UsageError(f"no sweep {sweep_id!r} in this store")
            sweep = _sweep(row)
            if stale_after is not None:
                _mark_crashed(conn, sweep_id, stale_after)
            history = [
                self._history_run(r)
                for r in conn.execute(_CLAIM_HISTORY, {"b_sweep": sweep_id}).all()
            ]
            action, value = decide(sweep, history)
            now = time.time()
            if action == "finish":
                conn.execute(
                    sa.update(t.sweeps)
                    .where(t.sweeps.c.id == sweep_id)
                    .values(state="finished", state_reason=value, updated_at=now)
                )
                return action, value
            if action != "run":
                return action, value
            values = {
                "id": new_id(),
                "sweep_id": sweep_id,
                "number": len(history),
                "state": "running",
                "config": _dumps(value),
                "agent_id": agent_id,
                "created_at": now,
                "started_at": now,
                "heartbeat_at": now,
                "steps": 0,
            }
            conn.execute(_INSERT_RUN, values)
            return "run", _run(SimpleNamespace(**dict.fromkeys(_RUN_OPTIONAL), **values))

        return self.write(transaction)

    def _history_run(self, row: Any) -> Run:
        """The Run of a claim's history row (no summary), reused while its row is unchanged."""
        values = tuple(row)
        seen = self._claimed_runs.get(row.id)
        if seen is not None and seen[0] == values:
            return seen[1]
        run = _run(row, with_summary=False)
        self._claimed_runs[row.id] = (values, run)
        return run

    def reap(self, sweep_id: str, stale_after: float) -> int:
        """Mark running runs whose agent has been silent too long as crashed; how many."""
        return self.write(lambda conn: _mark_crashed(conn, sweep_id, stale_after))

    def record_metrics(
        self,
        run_id: str,
        first_step: int,
        rows: Sequence[dict[str, Any]],
        summary: dict[str, Any],
        metric: float | None,
        metric_history: Sequence[float] | None = None,
    ) -> None:
        """Append history rows (steps ``first_step``...) and update the run's summary."""

        def transaction(conn: Connection) -> None:
            if rows:
                conn.execute(
                    sa.insert(t.metrics),
                    [
                        {"run_id": run_id, "step": first_step + i, "data": _dumps(r)}
                        for i, r in enumerate(rows)
                    ],
                )
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    summary=_dumps(summary),
                    metric=metric,
                    steps=first_step + len(rows),
                    heartbeat_at=time.time(),
                    **({"history": _dumps(list(metric_history))} if metric_history else {}),
                )
            )

        self.write(transaction)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.read(
            lambda c: c.execute(
                sa.select(t.metrics.c.data)
                .where(t.metrics.c.run_id == run_id)
                .order_by(t.metrics.c.step)
            ).all()
        )
        return [json.loads(r.data) for r in rows]

    def finish_run(
        self,
        run_id: str,
        state: str,
        *,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Record how a running run ended.

        A run already marked crashed (its agent was silent too long: a suspended machine, a
        lost connection) keeps that state, because its config may have run again elsewhere;
        the late ending is added to its reason instead, so no grid point ends twice.
        """
        now = time.time()

        def transaction(conn: Connection) -> None:
            ended = conn.execute(
                _FINISH_RUNNING,
                {
                    "b_run": run_id,
                    "state": state,
                    "exit_code": exit_code,
                    "reason": reason,
                    "ended_at": now,
                },
            ).rowcount
            if not ended:
                late = f"; it ended later as {state}" + (
                    f" (exit code {exit_code})" if exit_code is not None else ""
                )
                conn.execute(
                    sa.update(t.runs)
                    .where(t.runs.c.id == run_id)
                    .values(
                        exit_code=exit_code,
                        reason=sa.func.coalesce(t.runs.c.reason, "") + late,
                    )
                )

        self.write(transaction)

    def heartbeat(self, agent_id: str, run_ids: Sequence[str]) -> None:
        now = time.time()

        def transaction(conn: Connection) -> None:
            conn.execute(
                sa.update(t.agents).where(t.agents.c.id == agent_id).values(heartbeat_at=now)
            )
            if run_ids:
                conn.execute(
                    sa.update(t.runs).where(t.runs.c.id.in_(list(run_ids))).values(heartbeat_at=now)
                )

        self.write(transaction)

    def request_stop(self, sweep_id: str, kind: str) -> int:
        """Ask every running run of a sweep to stop (``kind`` says why); returns how many."""
        return self.write(
            lambda c: (
                c.execute(
                    sa.update(t.runs)
                    .where(t.runs.c.sweep_id == sweep_id, t.runs.c.state == "running")
                    .values(stop_requested=kind)
                ).rowcount
            )
        )

    def request_run_stops(self, reasons: dict[str, str]) -> None:
        """Ask single running runs to stop, each with its reason (early termination)."""

        def transaction(conn: Connection) -> None:
            for run_id, reason in reasons.items():
                conn.execute(
                    sa.update(t.runs)
                    .where(
                        t.runs.c.id == run_id,
                        t.runs.c.state == "running",
                        t.runs.c.stop_requested.is_(None),
                    )
                    .values(stop_requested=reason)
                )

        self.write(transaction)

    def control(self, sweep_id: str, run_ids: Sequence[str]) -> tuple[str, dict[str, str]]:
        """What agents poll: the sweep's state and the stop requests for their runs."""

        def query(conn: Connection) -> tuple[str, dict[str, str]]:
            state = conn.execute(
                sa.select(t.sweeps.c.state).where(t.sweeps.c.id == sweep_id)
            ).scalar_one()
            stops: dict[str, str] = {}
            if run_ids:
                for rid, kind in conn.execute(
                    sa.select(t.runs.c.id, t.runs.c.stop_requested).where(
                        t.runs.c.id.in_(list(run_ids)), t.runs.c.stop_requested.is_not(None)
                    )
                ):
                    stops[rid] = kind
            return state, stops

        return self.read(query)

    # -- agents --------------------------------------------------------------------------------
    def register_agent(self, sweep_id: str, host: str, pid: int) -> str:
        agent_id = new_id(12)
        now = time.time()
        self.write(
            lambda c: c.execute(
                sa.insert(t.agents).values(
                    id=agent_id,
                    sweep_id=sweep_id,
                    host=host,
                    pid=pid,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
        )
        return agent_id

    def end_agent(self, agent_id: str) -> None:
        self.write(
            lambda c: c.execute(
                sa.update(t.agents).where(t.agents.c.id == agent_id).values(ended_at=time.time())
            )
        )


# Columns a freshly claimed run does not have yet.
_RUN_OPTIONAL = (
    "exit_code",
    "ended_at",
    "summary",
    "metric",
    "history",
    "reason",
    "stop_requested",
)


# The statements of every claim and every run's end, built once: building a statement and its
# cache key costs more than SQLite takes to run it. Values come as bound parameters ("b_...").
_SWEEP_FOR_UPDATE = (
    sa.select(t.sweeps).where(t.sweeps.c.id == sa.bindparam("b_sweep")).with_for_update()
)
# Everything a decision may use, but not the summaries: they can be large, and reading them for
# every run at every claim would grow the claim with the sweep.
_CLAIM_HISTORY = (
    sa.select(*(c for c in t.runs.c if c.name != "summary"))
    .where(t.runs.c.sweep_id == sa.bindparam("b_sweep"))
    .order_by(t.runs.c.number)
)
_INSERT_RUN = sa.insert(t.runs)
# SET from the parameters named after columns: state, exit_code, reason, ended_at.
_FINISH_RUNNING = sa.update(t.runs).where(
    t.runs.c.id == sa.bindparam("b_run"), t.runs.c.state == "running"
)
_MARK_CRASHED = (
    sa.update(t.runs)
    .where(
        t.runs.c.sweep_id == sa.bindparam("b_sweep"),
        t.runs.c.state == "running",
        t.runs.c.heartbeat_at < sa.bindparam("b_before"),
    )
    .values(state="crashed", ended_at=t.runs.c.heartbeat_at, reason=sa.bindparam("b_reason"))
)


def _mark_crashed(conn: Connection, sweep_id: str, stale_after: float) -> int:
    """In a write transaction: running runs unheard of for ``stale_after`` s become crashed."""
    reason = f"no heartbeat for {stale_after:g}s: its agent is gone (killed, or its machine lost)"
    before = time.time() - stale_after
    return conn.execute(
        _MARK_CRASHED, {"b_sweep": sweep_id, "b_before": before, "b_reason": reason}
    ).rowcount
