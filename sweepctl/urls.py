"""Storage URLs as they may be shown: no password ever reaches a terminal, a log or JSON.

The password is found the way the URL parser finds it (``urllib.parse``: the user information
ends at the *last* ``@`` of the authority, the password starts at its first ``:``), so
``user:p@ss@host`` hides ``p@ss`` and ``:secret@host`` hides ``secret``; a ``password=``
query option (libpq reads one) is hidden too.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, urlencode, urlsplit

MASK = "***"
_SECRET_OPTIONS = {"password", "passwd", "pass", "pwd"}


def _split(url: str) -> tuple[str, str, str, str, str] | None:
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: parsed as nothing, hidden as a whole
        return None
    return parts.scheme, parts.netloc, parts.path, parts.query, parts.fragment


def has_password(url: str) -> bool:
    """Whether ``url`` carries a password (in its user information or a query option)."""
    parts = _split(url)
    if parts is None:
        return "@" in url
    _, netloc, _, query, _ = parts
    userinfo, at, _ = netloc.rpartition("@")
    if at and ":" in userinfo:
        return True
    return any(k.lower() in _SECRET_OPTIONS for k, _ in parse_qsl(query, keep_blank_values=True))


def redact(url: str) -> str:
    """A storage URL fit to print: any password replaced by ``***``."""
    parts = _split(url)
    if parts is None:
        scheme, sep, _ = url.partition("://")
        return f"{scheme}://{MASK}" if sep and "@" in url else url
    _, netloc, _, query, _ = parts
    shown = url
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        # The authority comes first after "scheme://": replace it there, nothing else changes.
        shown = shown.replace(netloc, f"{userinfo.partition(':')[0]}:{MASK}@{host}", 1)
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(k.lower() in _SECRET_OPTIONS for k, _ in pairs):
        hidden = urlencode(
            [(k, MASK if k.lower() in _SECRET_OPTIONS else v) for k, v in pairs], safe="*"
        )
        shown = shown[: shown.rindex(query)] + hidden + shown[shown.rindex(query) + len(query) :]
    return shown


def is_shared_storage(storage: str | None) -> bool:
    """Whether ``--storage`` (or ``SWEEPCTL_STORAGE``) names a server that agents on other
    machines share (PostgreSQL), rather than a file on this one."""
    storage = storage or os.environ.get("SWEEPCTL_STORAGE") or ""
    return storage.startswith(("postgres://", "postgresql://", "postgresql+"))
