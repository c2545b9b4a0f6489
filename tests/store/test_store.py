"""The store on its own: permissions, secrets, schema versions, exactly-once claims."""

from __future__ import annotations

import sqlite3
import stat
import sys
import threading

import pytest
from postgres_server import postgres_url

from sweepctl.errors import UsageError
from sweepctl.store import Store
from sweepctl.store import tables as t
from sweepctl.store.base import redact

CONFIG = {"method": "grid", "parameters": {"a": {"values": [1, 2, 3]}}}


def test_sqlite_store_and_its_folder_are_owner_only(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'new' / 'sweepctl.db'}")
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "new" / "sweepctl.db").stat().st_mode) == 0o600
    assert store.schema_version() == t.SCHEMA_VERSION


def test_passwords_never_reach_output(tmp_path, capsys):
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    from sweepctl.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["ls", "--storage", "postgresql://me:s3cret@127.0.0.1:1/nowhere"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 1
    assert "s3cret" not in out + err and "me:***@127.0.0.1:1" in err


def test_an_older_store_is_migrated_in_place(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # version 1 had no `history` column
        Store(f"sqlite:///{path}")  # create the current tables, then make them version 1
        _make_version_2(conn)
        conn.execute("ALTER TABLE sweepctl_runs DROP COLUMN history")
        conn.execute("UPDATE sweepctl_meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute(
            "INSERT INTO sweepctl_sweeps VALUES ('s1', 'kept', NULL, NULL, 'grid', 'running',"
            ' NULL, \'{"method": "grid", "parameters": {"a": {"value": 1}}}\', NULL, 0, 0)'
        )
    store = Store(f"sqlite:///{path}")
    assert store.schema_version() == t.SCHEMA_VERSION
    assert store.get_sweep("s1").name == "kept"  # nothing dropped
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(sweepctl_runs)")]
    assert "history" in columns


def _make_version_2(conn: sqlite3.Connection) -> None:
    """Take away what version 3 added: the agents' SLURM columns and the jobs table."""
    conn.execute("ALTER TABLE sweepctl_agents DROP COLUMN slurm_job")
    conn.execute("ALTER TABLE sweepctl_agents DROP COLUMN slurm_task")
    conn.execute("DROP TABLE sweepctl_slurm_jobs")
    conn.execute("UPDATE sweepctl_meta SET value = '2' WHERE key = 'schema_version'")


def test_a_version_2_store_gains_slurm_jobs_and_agents_keep_their_rows(tmp_path):
    path = tmp_path / "v2.db"
    store = Store(f"sqlite:///{path}")
    sweep = store.create_sweep(CONFIG, name="old")
    old_agent = store.register_agent(sweep.id, "node1", 42)
    store.engine.dispose()
    with sqlite3.connect(path) as conn:
        _make_version_2(conn)
    store = Store(f"sqlite:///{path}")
    assert store.schema_version() == 3
    (agent,) = store.agents(sweep.id)
    assert (agent.id, agent.host, agent.pid, agent.slurm_label) == (old_agent, "node1", 42, None)
    store.register_agent(sweep.id, "node2", 7, slurm_job="1234", slurm_task=2)
    store.add_slurm_job(sweep.id, "1234", tasks=3, output="/x/%A_%a.out")
    assert [a.slurm_label for a in store.agents(sweep.id)] == [None, "1234_2"]
    assert [(j.job_id, j.tasks) for j in store.slurm_jobs(sweep.id)] == [("1234", 3)]


def test_a_newer_store_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE sweepctl_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(UsageError, match="written by a newer sweepctl"):
        Store(f"sqlite:///{path}")


def test_claims_from_many_threads_hand_out_each_point_once(tmp_path):
    from sweepctl.backends.local.controller import next_run
    from sweepctl.spec import build_spec

    config = {"method": "grid", "parameters": {"a": {"min": 1, "max": 40}}}
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sweep = store.create_sweep(config)
    spec = build_spec(config)
    got: list[int] = []
    lock = threading.Lock()

    def agent() -> None:
        while True:
            action, run = next_run(store, sweep.id, "agent", spec)
            if action != "run":
                return
            with lock:
                got.append(run.config["a"])

    threads = [threading.Thread(target=agent) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == list(range(1, 41))


def test_unknown_ids_and_prefixes(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sweep = store.create_sweep(CONFIG, name="named")
    assert store.get_sweep(sweep.id[:3]).id == sweep.id
    assert store.get_sweep("named").id == sweep.id
    with pytest.raises(UsageError, match="no sweep 'zzzz' in this store"):
        store.get_sweep("zzzz")


def test_a_name_that_begins_another_sweeps_id_is_ambiguous(tmp_path):
    """The name of one sweep may be how another's random id begins; neither is picked."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    other = store.create_sweep(CONFIG)
    named = store.create_sweep(CONFIG, name=other.id[0])
    with pytest.raises(UsageError, match="matches several sweeps") as raised:
        store.get_sweep(other.id[0])
    assert other.id in str(raised.value) and named.id in str(raised.value)
    assert store.get_sweep(other.id[:8]).id == other.id  # the full id still picks one


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux file modes")
def test_run_logs_are_owner_only(tmp_path):
    from sweepctl.agent.process import Child

    log = tmp_path / "runs" / "out.log"
    child = Child([sys.executable, "-c", "print('hi')"], env={}, cwd=tmp_path, log_path=log)
    assert child.wait(30) == 0
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert log.read_text() == "hi\n"


@pytest.mark.postgres
def test_a_missing_postgresql_database_says_how_to_create_it(capsys):
    url, reason = postgres_url()
    if url is None:
        pytest.skip(reason)
    from sweepctl.cli import main

    missing = f"sweepctl_nosuch_{threading.get_ident()}"
    user = url.split("://", 1)[1].split("@", 1)[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["ls", "--storage", url.rsplit("/", 1)[0] + f"/{missing}"])
    _, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert f"the PostgreSQL server has no database '{missing}'" in err
    assert f"createdb -h 127.0.0.1 -p 5432 -U {user} {missing}" in err
