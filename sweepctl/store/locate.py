"""Finding the store: ``--storage``, ``SWEEPCTL_STORAGE``, or the nearest
``.sweepctl/sweepctl.db`` walking up from here, like git's ``.git``."""

from __future__ import annotations

import os
from pathlib import Path

from sweepctl.errors import UsageError

STORE_DIR = ".sweepctl"
STORE_FILE = "sweepctl.db"


def find_default_store(start: Path | None = None) -> Path | None:
    """The nearest ``.sweepctl/sweepctl.db`` in ``start`` or its parents, like git's ``.git``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / STORE_DIR / STORE_FILE
        if candidate.is_file():
            return candidate
    return None


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
        return "postgresql+psycopg://" + storage.split("://", 1)[1]
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
