"""Search methods: pure functions of (spec, history, rng) that pick the next run's config.

Every method has the same signature::

    suggest(spec: SweepSpec, history: Sequence[RunRecord], rng: random.Random) -> dict | None

It returns the next run's config as a plain dict (``{name: value}``, nested dicts for nested
parameters, keys in W&B's order), or None when the method has nothing left to offer (an
exhausted grid). No I/O, no clock: everything a method needs is in its arguments.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweepctl.spec.model import SweepSpec


@dataclass(frozen=True)
class RunRecord:
    """What a search method may know about one run of the sweep."""

    run_id: str
    state: str  # running, finished, failed, crashed, stopped, killed, timeout, preempted
    config: dict[str, Any]  # the plain run config, as suggest() returned it
    metric: float | None = None  # the run's value of the sweep metric (W&B's rule), if any
    history: tuple[float, ...] = field(default_factory=tuple)  # metric values in logged order


Suggest = Callable[[SweepSpec, Sequence[RunRecord], _random.Random], "dict[str, Any] | None"]


def method(name: str) -> Suggest:
    """The suggest function for a sweep method (imported lazily: bayes pulls in an optimiser)."""
    if name == "grid":
        from sweepctl.search.grid import suggest
    elif name == "random":
        from sweepctl.search.random import suggest
    elif name == "bayes":
        from sweepctl.search.bayes import suggest
    else:
        raise ValueError(f"unknown search method {name!r}")
    return suggest
