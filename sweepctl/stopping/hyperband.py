"""Hyperband early termination, decided exactly as W&B's `sweeps` 0.3.0 decides it.

Source: ``sweeps/hyperband_stopping.py (hyperband_stop_runs)``; the fixtures in
``tests/stopping/fidelity/hyperband.json`` record that function's decisions and the tests
compare these functions with them.

The rule, in brief:

* ``bands``: the iterations at which runs are compared (``[3, 9]`` for max_iter 27, s 2, eta 3),
  defined in ``sweepctl.spec.early_terminate``, where the file checks use it too.
* An iteration is a position in the run's metric history: ``RunRecord.history`` holds the
  sweep metric's finite values in logged order (``agent.metrics.metric_history``), so the
  value at band ``b`` is ``history[b - 1]``. Rows without the metric do not count.
* The threshold of band ``b`` is taken over every run of the sweep with at least ``b`` values,
  in any state and including the run being judged: ``sorted(values)[int((1 / eta) * n)]``.
* Only runs in state ``running`` are judged, each at the largest band it has reached: the
  value at that band (``strict: true``, the default) or the best value of its whole history
  (``strict: false``) must not be worse than the threshold; equal survives.
* ``goal: maximize`` negates every value first, so "worse" means "lower" there.

Where W&B crashes on a file that passes its schema, ``bands`` raises ``ValueError`` with a
message a person can act on (see its docstring).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweepctl.search.contract import RunRecord
from sweepctl.spec.early_terminate import MIN_ITER_BANDS, bands
from sweepctl.spec.model import Metric, SweepSpec

# bands and MIN_ITER_BANDS are defined with the sweep file, whose checks use them too.
__all__ = ["MIN_ITER_BANDS", "Check", "bands", "checks", "should_stop", "thresholds"]


def thresholds(
    band_list: Sequence[int], histories: Sequence[Sequence[float]], eta: float
) -> list[float]:
    """Each band's threshold over ``histories`` (already negated for maximize); +inf if empty."""
    r = 1.0 / eta  # W&B multiplies by 1/eta: int(r * n) differs from int(n / eta) (eta 49, n 49)
    longest = max((len(h) for h in histories), default=0)
    out = []
    for band in band_list:
        if band > longest:
            out.append(math.inf)
            continue
        values = sorted(h[band - 1] for h in histories if len(h) >= band)
        out.append(values[int(r * len(values))])
    return out


@dataclass(frozen=True)
class Check:
    """How hyperband judged one running run that has reached a band.

    ``value`` and ``threshold`` are in the metric's own sign (not negated for maximize).
    """

    run_id: str
    metric: str
    maximize: bool
    iterations: int  # metric values the run has logged
    band: int  # the largest band it has reached: the only one checked
    value: float  # the value at the band (strict) or its best value so far (not strict)
    threshold: float
    reached: int  # runs of the sweep with at least `band` values, this one included
    eta: float
    strict: bool
    stop: bool

    @property
    def reason(self) -> str:
        """One line saying why the run is stopped (or kept)."""
        value, threshold = _show(self.value, self.threshold)
        if self.strict:
            what = f"{self.metric} {value} at iteration {self.band}"
        else:
            what = f"best {self.metric} {value} in {self.iterations} iterations"
        verdict = "is worse than" if self.stop else "is not worse than"
        runs = "run" if self.reached == 1 else "runs"
        return (
            f"{what} {verdict} the band-{self.band} threshold {threshold}"
            f" (eta {self.eta:g}, {self.reached} {runs} reached it)"
        )


def _show(value: float, threshold: float) -> tuple[str, str]:
    # Short numbers, unless rounding would make a stopped run's value look equal to the bar.
    short = (f"{value:.4g}", f"{threshold:.4g}")
    if short[0] == short[1] and value != threshold:
        return repr(value), repr(threshold)
    return short


def checks(
    early_terminate: Mapping[str, Any], metric: Metric, runs: Sequence[RunRecord]
) -> list[Check]:
    """Hyperband's verdict on every running run that has reached a band, in ``runs`` order."""
    band_list = bands(early_terminate)
    eta = early_terminate.get("eta", 3)
    # W&B tests `strict is True`: anything but a real True is the lenient rule.
    strict = early_terminate.get("strict", True) is True
    sign = -1 if metric.maximize else 1
    histories = [[sign * v for v in run.history] for run in runs]
    limits = thresholds(band_list, [h for h in histories if h], eta)
    out = []
    for run, history in zip(runs, histories, strict=True):
        if run.state != "running":
            continue
        passed = [(b, t) for b, t in zip(band_list, limits, strict=True) if b <= len(history)]
        if not passed:
            continue
        band, threshold = passed[-1]
        value = history[band - 1] if strict else min(history)
        out.append(
            Check(
                run_id=run.run_id,
                metric=metric.name,
                maximize=metric.maximize,
                iterations=len(history),
                band=band,
                value=sign * value,
                threshold=sign * threshold,
                reached=sum(1 for h in histories if len(h) >= band),
                eta=eta,
                strict=strict,
                stop=value > threshold,
            )
        )
    return out


def should_stop(spec: SweepSpec, runs: Sequence[RunRecord]) -> dict[str, str]:
    """The running runs hyperband stops: ``{run_id: reason}`` (the ``stopping`` interface)."""
    if spec.early_terminate is None:
        return {}
    if spec.metric is None:
        raise ValueError("hyperband early termination needs a `metric` to compare runs on")
    return {c.run_id: c.reason for c in checks(spec.early_terminate, spec.metric, runs) if c.stop}
