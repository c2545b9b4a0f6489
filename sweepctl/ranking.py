"""One definition of "best", for every view: ``best``, ``runs`` (its order and ``--top``), the
agent's "best so far", ``export-best``, ``refine``, reports and their plots, the Python API.

A run counts when its state is one of :data:`~sweepctl.domain.BEST_STATES` (finished, or
stopped early by the sweep) and it has a finite value of the sweep's metric (W&B's rule for a
run's value, :mod:`sweepctl.run_metric`). Runs best first by that value; ties keep creation
order. Every other run is *left out*, counted by why: its state (a killed, failed, crashed,
preempted or timed-out run's last value is partial) or that it has no value yet. Views list
left-out runs after the ranked ones, or say how many they left out and why.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from sweepctl.domain import BEST_STATES, DISPLAY_ORDER
from sweepctl.records import Run
from sweepctl.spec.model import Metric

NO_VALUE = "no value"  # the reason a run without a finite metric value is left out


def has_value(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def counts(state: str, value: float | None) -> bool:
    """Whether a run in ``state`` with metric ``value`` can be the best run."""
    return state in BEST_STATES and has_value(value)


def better(metric: Metric, value: float, than: float | None) -> bool:
    """Whether ``value`` beats ``than`` (None: nothing yet) by the metric's goal."""
    if than is None:
        return True
    return value > than if metric.maximize else value < than


@dataclass(frozen=True)
class Ranking:
    """A sweep's runs by the one rule: ``ranked`` best first, the rest ``left_out``."""

    ranked: list[Run]
    left_out: list[Run] = field(default_factory=list)

    @property
    def best(self) -> Run | None:
        return self.ranked[0] if self.ranked else None

    def top(self, n: int) -> list[Run]:
        return self.ranked[: max(0, n)]

    @property
    def left_out_by_reason(self) -> dict[str, int]:
        """``{state or "no value": count}`` of the runs left out, in display order."""
        found = Counter(NO_VALUE if not has_value(r.metric) else r.state for r in self.left_out)
        order = [*DISPLAY_ORDER, NO_VALUE]
        return dict(
            sorted(
                found.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)
            )
        )

    def note(self) -> str | None:
        """What was left out and why, for a person; None when nothing was."""
        return describe_left_out(self.left_out_by_reason)


def describe_left_out(reasons: dict[str, int]) -> str | None:
    """``{"killed": 2, "no value": 1}`` as a person reads it; None for nothing left out."""
    if not reasons:
        return None
    partial = [f"{n} {state}" for state, n in reasons.items() if state != NO_VALUE]
    parts = []
    if partial:
        parts.append(", ".join(partial) + " (ended early: partial values)")
    if reasons.get(NO_VALUE):
        parts.append(f"{reasons[NO_VALUE]} without a value")
    return "left out of the ranking: " + "; ".join(parts)


def rank(metric: Metric | None, runs: list[Run]) -> Ranking:
    """The sweep's runs ranked by ``metric`` (no metric: nothing ranks, all left out)."""
    if metric is None:
        return Ranking([], list(runs))
    ranked = [r for r in runs if counts(r.state, r.metric)]
    ranked.sort(key=lambda r: r.metric, reverse=metric.maximize)  # stable: ties by creation
    chosen = {r.id for r in ranked}
    return Ranking(ranked, [r for r in runs if r.id not in chosen])
