"""Time limits on every PostgreSQL connection, so that no store call waits forever.

A lost network rarely says so: packets are dropped, and a connection without limits waits for
an answer that never comes. Each connection therefore gets, unless its URL says otherwise:

- ``connect_timeout`` (libpq): give up connecting after this many seconds;
- TCP keepalives (``keepalives_idle/interval/count``, libpq): a silent peer is declared gone
  after idle + interval x count seconds, also while waiting for a query's answer;
- ``tcp_user_timeout`` (libpq, milliseconds): data sent but not acknowledged for that long
  drops the connection (keepalives do not cover unacknowledged data);
- ``statement_timeout`` (server): a statement running or waiting for a lock longer is canceled;
- ``idle_in_transaction_session_timeout`` (server): a session that left a transaction open
  that long is ended, so an agent cut off in the middle of a claim frees the sweep's lock.

libpq's names may be given in the URL's query (``?connect_timeout=5&keepalives_idle=30``);
the two server settings too (``?statement_timeout=2min``), or in libpq's own
``options=-c statement_timeout=2min``. A value given either way wins over the default.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

# libpq connection parameters: passed to the driver as they are.
CLIENT_DEFAULTS: dict[str, str] = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "tcp_user_timeout": "30000",
}
# Server settings: sent in the startup packet as ``options=-c name=value``.
SERVER_DEFAULTS: dict[str, str] = {
    "statement_timeout": "60s",
    "idle_in_transaction_session_timeout": "60s",
}


def engine_arguments(url: str) -> tuple[sa.engine.URL, dict[str, Any]]:
    """The URL to give ``create_engine`` (sweepctl's own keys taken out of its query) and the
    ``connect_args`` that add the default limits the URL does not set itself."""
    parsed = sa.engine.make_url(url)
    query = dict(parsed.query)
    connect_args: dict[str, Any] = {
        key: value for key, value in CLIENT_DEFAULTS.items() if key not in query
    }
    options = _one(query.get("options", ""))
    extra = []
    for key, default in SERVER_DEFAULTS.items():
        value = _one(query.get(key, "")) or default
        if f"{key}=" not in options:
            extra.append(f"-c {key}={value}")
    if extra:
        # connect_args win over the URL's query: the user's own options are kept in front.
        connect_args["options"] = " ".join(filter(None, [options, *extra]))
    return parsed.difference_update_query(list(SERVER_DEFAULTS)), connect_args


def _one(value: str | tuple[str, ...]) -> str:
    """A query value given once (a repeated key keeps its last value)."""
    return value[-1] if isinstance(value, tuple) else value
