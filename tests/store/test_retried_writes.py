"""Writes the store tries again after a dropped connection may already have been committed:
doing one twice changes nothing."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from postgres_server import postgres_url

from sweepctl.store import Store

CONFIG = {"method": "grid", "parameters": {"a": {"values": [1, 2]}}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield Store(f"sqlite:///{tmp_path / 'store.db'}")
        return
    base, reason = postgres_url()
    if base is None:
        pytest.skip(reason)
    base = base.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"sweepctl_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    store = Store(f"{base}?options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _claimed(store: Store):
    sweep = store.create_sweep(CONFIG)
    action, run = store.claim(sweep.id, "agent", lambda s, runs: ("run", {"a": 1}))
    assert action == "run"
    return run


def test_metrics_written_twice_are_stored_once(store):
    run = _claimed(store)
    rows = [{"loss": 1.0, "_step": 0}, {"loss": 0.5, "_step": 1}]
    for _ in range(2):  # the second time: the first commit's answer was lost
        store.record_metrics(run.id, 0, rows, {"loss": 0.5, "_step": 1}, 0.5)
    assert store.history(run.id) == rows
    assert store.get_run(run.id).steps == 2


def test_an_end_written_twice_is_recorded_once(store):
    run = _claimed(store)
    for _ in range(2):
        store.finish_run(run.id, "finished", exit_code=0)
    ended = store.get_run(run.id)
    assert ended.state == "finished" and ended.reason is None
    # A run marked crashed meanwhile still gets its late end noted, once.
    other = _claimed(store)
    store.write(
        lambda c: c.exec_driver_sql(
            f"UPDATE sweepctl_runs SET state = 'crashed', reason = 'lost' WHERE id = '{other.id}'"
        )
    )
    store.finish_run(other.id, "finished", exit_code=0)
    assert store.get_run(other.id).reason == "lost; it ended later as finished (exit code 0)"
