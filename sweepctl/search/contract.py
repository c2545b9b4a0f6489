"""The contract every search method keeps: what it may know about a run, and its signature.

A module of its own, below the methods, so that each method and the stopping rules can import
it while ``sweepctl.search`` imports the methods.
"""

from __future__ import annotations

import random
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


Suggest = Callable[[SweepSpec, Sequence[RunRecord], random.Random], "dict[str, Any] | None"]
