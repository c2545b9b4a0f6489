"""The registry of search methods: each name in :data:`sweepctl.domain.METHODS` and its
suggest function. Kept apart from the package so that importing one method (grid, for a
grid's size) does not load the others."""

from __future__ import annotations

from sweepctl.search import bayes, grid, random
from sweepctl.search.contract import Suggest

# Every method of :data:`sweepctl.domain.METHODS`, by name (tests/search checks the match).
SUGGEST: dict[str, Suggest] = {
    "grid": grid.suggest,
    "random": random.suggest,
    "bayes": bayes.suggest,
}


def method(name: str) -> Suggest:
    """The suggest function for a sweep method (bayes imports its optimiser only when used)."""
    try:
        return SUGGEST[name]
    except KeyError:
        raise ValueError(f"unknown search method {name!r}") from None
