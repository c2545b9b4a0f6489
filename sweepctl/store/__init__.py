"""The store: the only code that speaks SQL.

SQLAlchemy Core over SQLite (the embedded default) or PostgreSQL. Writes that must be atomic
with a read (claiming a run) go through :meth:`Store.claim`, which holds a per-sweep lock for
the whole read-suggest-insert transaction.
"""

from sweepctl.store.base import Run, Store, Sweep, open_store, resolve_url

__all__ = ["Run", "Store", "Sweep", "open_store", "resolve_url"]
