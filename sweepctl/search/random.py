"""Random search, draw for draw as W&B's ``sweeps.random_search.random_search_next_runs``.

W&B takes one ``random.uniform(0, 1)`` per parameter, constants included, in its parameter
order, from Python's global ``random``. Seeding ``random`` with N in W&B and passing
``random.Random(N)`` here gives the same stream of configs.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sweepctl.search.contract import RunRecord
from sweepctl.search.space import run_config, sample, wandb_order
from sweepctl.spec.model import SweepSpec

# Draws skipped per getrandbits() call: 64 bits are the two 32-bit words one random() uses.
_SKIP_CHUNK = 1 << 16


def skip_draws(rng: random.Random, count: int) -> None:
    """Advance ``rng`` as ``count`` calls of ``rng.random()`` would, without making them."""
    while count > 0:
        chunk = min(count, _SKIP_CHUNK)
        rng.getrandbits(64 * chunk)
        count -= chunk


def suggest(
    spec: SweepSpec, history: Sequence[RunRecord], rng: random.Random
) -> dict[str, Any] | None:
    """The next random config; ``rng`` is fresh, so the runs in ``history`` are skipped first.

    With ``rng = random.Random(seed)`` the k-th run of a sweep (k = len(history)) gets the k-th
    config of W&B's stream for that seed.
    """
    params = wandb_order(spec.params)
    skip_draws(rng, len(history) * len(params))
    return run_config((p, sample(p, rng.uniform(0.0, 1.0))) for p in params)
