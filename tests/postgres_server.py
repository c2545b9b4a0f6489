"""The real PostgreSQL server the tests use (127.0.0.1:5432, database `test`), if it answers."""

from __future__ import annotations

import os

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
