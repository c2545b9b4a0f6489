"""Rows and values: ids, JSON columns, Sweep and Run from rows, and the statements every claim
and every run's end use, built once."""

from __future__ import annotations

import functools
import json
import secrets
import string
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sweepctl.errors import UsageError
from sweepctl.records import Run, Sweep
from sweepctl.store import tables as t

_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id(length: int = 8) -> str:
    """A W&B-style id: lower-case letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _loads(text: str, what: str, kind: type) -> Any:
    """A JSON column's value; a damaged one is a clear error, not a crash."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"the store holds damaged data: {what} is not JSON ({exc})",
            hint="the store was edited outside sweepctl or is damaged; restore it from a copy",
        ) from None
    if not isinstance(value, kind):
        raise UsageError(
            f"the store holds damaged data: {what} is not a JSON {kind.__name__}",
            hint="the store was edited outside sweepctl or is damaged; restore it from a copy",
        )
    return value


def sweep_from_row(row: Any) -> Sweep:
    return Sweep(
        id=row.id,
        name=row.name,
        project=row.project,
        entity=row.entity,
        method=row.method,
        state=row.state,
        state_reason=row.state_reason,
        config=_loads(row.spec, f"the spec of sweep {row.id}", dict),
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def run_from_row(row: Any, *, with_summary: bool = True) -> Run:
    """A Run from a row; ``with_summary=False`` for rows selected without the summary column
    (looking a missing column up on a row costs an exception inside SQLAlchemy)."""
    summary = row.summary if with_summary else None
    return Run(
        id=row.id,
        sweep_id=row.sweep_id,
        number=row.number,
        state=row.state,
        config=_loads(row.config, f"the config of run {row.id}", dict),
        agent_id=row.agent_id,
        exit_code=row.exit_code,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        heartbeat_at=row.heartbeat_at,
        summary=_loads(summary, f"the summary of run {row.id}", dict) if summary else {},
        metric=row.metric,
        history=_loads(row.history, f"the history of run {row.id}", list) if row.history else [],
        steps=row.steps or 0,
        reason=row.reason,
        stop_requested=row.stop_requested,
    )


# Columns a freshly claimed run does not have yet.
RUN_OPTIONAL = (
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
SWEEP_FOR_UPDATE = (
    sa.select(t.sweeps).where(t.sweeps.c.id == sa.bindparam("b_sweep")).with_for_update()
)
# Everything a decision may use, but not the summaries: they can be large, and reading them for
# every run at every claim would grow the claim with the sweep.
CLAIM_HISTORY = (
    sa.select(*(c for c in t.runs.c if c.name != "summary"))
    .where(t.runs.c.sweep_id == sa.bindparam("b_sweep"))
    .order_by(t.runs.c.number)
)
INSERT_RUN = sa.insert(t.runs)


@functools.cache
def insert_metrics(dialect: str) -> sa.Insert:
    """History rows, skipping those already there: a write is tried again when the connection
    dropped before its commit was confirmed, and the commit may have happened. Each dialect's
    module is imported on first use (PostgreSQL's costs tens of ms at start-up)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(t.metrics).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(t.metrics).on_conflict_do_nothing()


# SET from the parameters named after columns: state, exit_code, reason, ended_at.
FINISH_RUNNING = sa.update(t.runs).where(
    t.runs.c.id == sa.bindparam("b_run"), t.runs.c.state == "running"
)
MARK_CRASHED_STATEMENT = (
    sa.update(t.runs)
    .where(
        t.runs.c.sweep_id == sa.bindparam("b_sweep"),
        t.runs.c.state == "running",
        t.runs.c.heartbeat_at < sa.bindparam("b_before"),
    )
    .values(state="crashed", ended_at=t.runs.c.heartbeat_at, reason=sa.bindparam("b_reason"))
)


def mark_crashed(conn: Connection, sweep_id: str, stale_after: float) -> int:
    """In a write transaction: running runs unheard of for ``stale_after`` s become crashed."""
    reason = f"no heartbeat for {stale_after:g}s: its agent is gone (killed, or its machine lost)"
    before = time.time() - stale_after
    return conn.execute(
        MARK_CRASHED_STATEMENT, {"b_sweep": sweep_id, "b_before": before, "b_reason": reason}
    ).rowcount
