"""The real PostgreSQL server the tests use (127.0.0.1:5432, database `test`), if it answers."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

USERS = ("postgres", "root")
URL = os.environ.get("SWEEPCTL_TEST_POSTGRES", "postgresql://{user}@127.0.0.1:5432/test")


def postgres_url() -> tuple[str | None, str]:
    """A working PostgreSQL URL, or None and the reason there is none (for pytest.skip)."""
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed (pip install 'sweepctl[postgres]')"
    reason = ""
    for user in USERS:
        url = URL.format(user=user)
        try:
            psycopg.connect(url, connect_timeout=3).close()
            return url, ""
        except psycopg.Error as exc:
            reason = f"PostgreSQL is not reachable at {url}: {str(exc).strip().splitlines()[0]}"
    return None, reason


@contextlib.contextmanager
def fresh_schema(prefix: str = "sweepctl_test") -> Iterator[tuple[str, str]]:
    """``(server URL, schema)``: a new schema on the real server, dropped afterwards; skips
    the test (saying why) when the server does not answer. A store URL on it is
    ``schema_url(base, schema)``."""
    import pytest
    import sqlalchemy as sa

    base, reason = postgres_url()
    if base is None:
        pytest.skip(reason)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield base, schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def schema_url(base: str, schema: str) -> str:
    """A storage URL whose tables live in ``schema``."""
    return f"{base}?options=-csearch_path%3D{schema}"
