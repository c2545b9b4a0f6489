"""Finding the store: ``--storage``, ``SWEEPCTL_STORAGE``, or the nearest
``.sweepctl/sweepctl.db`` walking up from here, like git's ``.git``."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import sqlalchemy as sa

from sweepctl.errors import UsageError
from sweepctl.spec.suggest import closest
from sweepctl.store.postgres import SERVER_DEFAULTS
from sweepctl.urls import redact

STORE_DIR = ".sweepctl"
STORE_FILE = "sweepctl.db"


def find_default_store(start: Path | None = None) -> Path | None:
    """The nearest ``.sweepctl/sweepctl.db`` in ``start`` or its parents, like git's ``.git``,
    once it is checked to be this user's (:func:`check_discovered`)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIR / STORE_FILE
        if candidate.is_file():
            check_discovered(candidate)
            return candidate
    return None


def check_discovered(store: Path) -> None:
    """Refuse a store found by walking up that another user owns or others may write, as git
    refuses such a repository (``safe.directory``): its sweeps' commands would run as this
    user. A store named with ``--storage`` or ``SWEEPCTL_STORAGE`` is trusted as named."""
    me = os.geteuid()
    for path in (store.parent, store):
        info = path.stat()
        problem = None
        if info.st_uid != me:
            problem = f"is owned by another user (uid {info.st_uid})"
        elif info.st_mode & 0o002:
            problem = "is writable by every user"
        if problem is not None:
            raise UsageError(
                f"the store found at {store} is not used: {path} {problem}, so its sweeps' "
                "commands could be anyone's",
                hint=f"if you trust it, name it: --storage {store}; else create your own "
                "sweep here, or fix its owner and mode",
            )


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
        return postgres_url(storage)
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


# libpq's connection keywords, the options a postgresql:// URL may carry.
LIBPQ_OPTIONS = frozenset(
    [
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "passfile",
        "require_auth",
        "channel_binding",
        "connect_timeout",
        "client_encoding",
        "options",
        "application_name",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "gssencmode",
        "sslmode",
        "requiressl",
        "sslcompression",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslcertmode",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslsni",
        "sslnegotiation",
        "requirepeer",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "krbsrvname",
        "gsslib",
        "gssdelegation",
        "service",
        "target_session_attrs",
        "load_balance_hosts",
    ]
)


def postgres_url(storage: str) -> str:
    """The SQLAlchemy URL for a ``postgresql://`` storage URL, split as ``urllib.parse`` splits
    it (the same split :func:`sweepctl.urls.redact` hides the password by); a port that is not
    a number or an option libpq does not know is a usage error."""
    shown = redact(storage)
    hint = "postgresql://user:password@host:5432/database"
    try:
        parts = urlsplit(storage)
    except ValueError as exc:
        raise UsageError(f"cannot read the storage URL {shown}: {exc}", hint=hint) from None
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"the port in the storage URL {shown} is not a number (or not 0-65535)", hint=hint
        ) from None
    userinfo, at, _ = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    options = parse_qsl(parts.query, keep_blank_values=True)
    known = LIBPQ_OPTIONS | set(SERVER_DEFAULTS)  # and the server limits sweepctl sets
    for key, _ in options:
        if key not in known:
            near = closest(key, sorted(known))
            raise UsageError(
                f"the storage URL {shown} has an option PostgreSQL does not know: {key!r}",
                hint=(f"did you mean {near!r}? " if near else "")
                + "options are libpq's connection keywords (sslmode, options, ...) and "
                + ", ".join(SERVER_DEFAULTS),
            )
    url = sa.engine.URL.create(
        "postgresql+psycopg",
        username=unquote(user) if at and user else None,
        password=unquote(password) if at and colon else None,
        host=parts.hostname,
        port=port,
        database=unquote(parts.path.lstrip("/")) or None,
        query=dict(options),
    )
    return url.render_as_string(hide_password=False)
