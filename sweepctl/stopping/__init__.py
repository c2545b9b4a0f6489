"""Early-termination rules: pure functions that say which running runs to stop, and why.

Every rule has the same signature::

    should_stop(spec: SweepSpec, runs: Sequence[RunRecord]) -> dict[str, str]

``runs`` are all the runs of the sweep, in any state; a rule judges from their states and
``RunRecord.history`` (the sweep metric's finite values in logged order). It returns
``{run_id: reason}`` for each run in state ``running`` that should stop now, with a one-line
reason a person can read; runs it keeps are absent. No I/O, no clock, no randomness: the same
runs give the same answer in any order, so a controller may ask as often as it likes. A rule
stops nothing when ``spec.early_terminate`` is None. Stopping the runs, and recording that
they were stopped early, is the caller's job.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from sweepctl.domain import RULES
from sweepctl.search.contract import RunRecord
from sweepctl.spec.model import SweepSpec
from sweepctl.stopping import hyperband

ShouldStop = Callable[[SweepSpec, Sequence[RunRecord]], "dict[str, str]"]

# Every rule of :data:`sweepctl.domain.RULES`, by name (tests/stopping checks the match).
SHOULD_STOP: dict[str, ShouldStop] = {"hyperband": hyperband.should_stop}


def rule(name: str) -> ShouldStop:
    """The should_stop function for an ``early_terminate.type``."""
    try:
        return SHOULD_STOP[name]
    except KeyError:
        raise ValueError(
            f"unknown early_terminate type {name!r}; sweepctl knows {list(RULES)}"
        ) from None


def should_stop(spec: SweepSpec, runs: Sequence[RunRecord]) -> dict[str, str]:
    """The sweep's own rule applied to ``runs``; ``{}`` when it has no ``early_terminate``."""
    if spec.early_terminate is None:
        return {}
    return rule(spec.early_terminate.get("type", ""))(spec, runs)


def saved_iterations(runs: Sequence[RunRecord], stopped: Collection[str]) -> dict[str, int]:
    """Iterations each early-stopped run did not run: an estimate of the compute saved.

    ``stopped`` holds the ids of the runs that early termination stopped. A stopped run is
    taken to have been going to log as many metric values as the longest history among the
    runs that were not stopped early (any state; all runs if every run was stopped); it saved
    that many minus the values it did log, never below 0. Running runs can still raise the
    longest history, so the estimate only grows while the sweep runs.
    """
    kept = [len(r.history) for r in runs if r.run_id not in stopped]
    horizon = max(kept or [len(r.history) for r in runs] or [0])
    return {r.run_id: max(0, horizon - len(r.history)) for r in runs if r.run_id in stopped}
