"""Fixtures of the dashboard tests: a real SQLite store, filled as agents fill it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dashboard_fixtures import fill

from sweepctl.store import Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}", create=True)


@pytest.fixture
def filled(store: Store) -> dict[str, Any]:
    sweep_id, run_ids = fill(store)
    return {"store": store, "sweep": sweep_id, "runs": run_ids}
