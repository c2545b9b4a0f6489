"""Storage URLs as they may be shown: no password ever reaches a terminal, a log or JSON."""

from __future__ import annotations

import os
import re


def redact(url: str) -> str:
    """A storage URL fit to print: any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def is_shared_storage(storage: str | None) -> bool:
    """Whether ``--storage`` (or ``SWEEPCTL_STORAGE``) names a server that agents on other
    machines share (PostgreSQL), rather than a file on this one."""
    storage = storage or os.environ.get("SWEEPCTL_STORAGE") or ""
    return storage.startswith(("postgres://", "postgresql://", "postgresql+"))
