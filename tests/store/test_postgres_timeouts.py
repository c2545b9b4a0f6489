"""Every PostgreSQL connection carries time limits (connect, statement, keepalives), and a
storage URL can change each of them."""

from __future__ import annotations

import pytest
from postgres_server import fresh_schema

from sweepctl.store import Store
from sweepctl.store.postgres import CLIENT_DEFAULTS, engine_arguments


def test_defaults_are_added_and_the_url_keeps_its_own_values():
    target, args = engine_arguments(
        "postgresql+psycopg://u@h/db?connect_timeout=3&statement_timeout=5s"
        "&options=-csearch_path%3Dmine"
    )
    assert "connect_timeout" not in args  # the URL's 3 reaches the driver unchanged
    assert target.query["connect_timeout"] == "3"
    assert "statement_timeout" not in target.query  # not a libpq name: moved to options
    assert args["options"] == (
        "-csearch_path=mine -c statement_timeout=5s -c idle_in_transaction_session_timeout=60s"
    )
    assert args["keepalives"] == "1" and args["tcp_user_timeout"] == "30000"

    _, args = engine_arguments("postgresql+psycopg://u@h/db?options=-c%20statement_timeout%3D0")
    assert args["options"] == "-c statement_timeout=0 -c idle_in_transaction_session_timeout=60s"


@pytest.fixture
def pg_schema():
    with fresh_schema() as found:
        yield found


def _settings(store: Store) -> tuple[dict[str, str], dict[str, str]]:
    """What the server says its session settings are, and the driver's connection parameters."""
    names = ("statement_timeout", "idle_in_transaction_session_timeout", "search_path")
    with store.engine.connect() as conn:
        server = {n: conn.exec_driver_sql(f"SHOW {n}").scalar_one() for n in names}
        client = conn.connection.driver_connection.info.get_parameters()
    return server, client


@pytest.mark.postgres
def test_a_real_connection_carries_the_default_limits(pg_schema):
    base, schema = pg_schema
    store = Store(
        f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}"
        f"?options=-csearch_path%3D{schema}"
    )
    try:
        server, client = _settings(store)
    finally:
        store.engine.dispose()
    assert server == {
        "statement_timeout": "1min",
        "idle_in_transaction_session_timeout": "1min",
        "search_path": schema,  # the URL's own options survive
    }
    for key, value in CLIENT_DEFAULTS.items():
        assert client.get(key) == value, key


@pytest.mark.postgres
def test_the_storage_url_changes_the_limits(pg_schema):
    base, schema = pg_schema
    url = (
        f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}?connect_timeout=4"
        f"&keepalives_idle=30&statement_timeout=2500ms&options=-csearch_path%3D{schema}"
        "%20-cidle_in_transaction_session_timeout%3D0"
    )
    store = Store(url)
    try:
        server, client = _settings(store)
    finally:
        store.engine.dispose()
    assert server["statement_timeout"] == "2500ms"
    assert server["idle_in_transaction_session_timeout"] == "0"
    assert client["connect_timeout"] == "4" and client["keepalives_idle"] == "30"
