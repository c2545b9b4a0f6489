"""Hyperband early termination, decided exactly as W&B's `sweeps` 0.3.0 decides it.

Source: ``sweeps/hyperband_stopping.py (hyperband_stop_runs)``; the fixtures in
``tests/stopping/fidelity/hyperband.json`` record that function's decisions and the tests
compare these functions with them.

The rule, in brief:

* ``bands``: the iterations at which runs are compared (``[3, 9]`` for max_iter 27, s 2, eta 3).
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

from sweepctl.search import RunRecord
from sweepctl.spec.model import Metric, SweepSpec

# W&B's min_iter form always lists this many bands, however large they grow.
MIN_ITER_BANDS = 100


def bands(early_terminate: Mapping[str, Any]) -> list[int]:
    """The iterations at which hyperband compares runs, ascending, with W&B's arithmetic.

    ``max_iter``/``s`` form: divide ``max_iter`` by ``eta`` up to ``s`` times, stop below 1,
    truncate each with ``int()``. ``min_iter`` form: ``min_iter`` multiplied by ``eta`` again
    and again, truncated, 100 bands (``max_iter`` wins when both are given, as in W&B).

    Raises ``ValueError`` where W&B's controller fails: no band at all (``s`` < 1 or
    ``max_iter`` < ``eta``), ``max_iter`` without ``s``, ``s`` not a whole number (W&B calls
    ``range(s)``), ``eta`` not above 1. One deliberate difference: with a float ``eta`` so
    large that the min_iter bands overflow a float, W&B raises ``OverflowError``; here the
    list ends at the last finite band (no run logs 1e308 values).
    """
    eta = early_terminate.get("eta", 3)
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 1:
        raise ValueError(f"hyperband `eta` must be a number above 1, not {eta!r}")
    found: list[int] = []
    if "max_iter" in early_terminate:
        if "s" not in early_terminate:
            raise ValueError(
                "hyperband `max_iter` needs `s` (W&B reads `max_iter` first and then fails);"
                " add `s`, or drop `max_iter` to use `min_iter`"
            )
        s = early_terminate["s"]
        if isinstance(s, bool) or not isinstance(s, int):
            raise ValueError(f"hyperband `s` must be a whole number like 2, not {s!r}")
        band = early_terminate["max_iter"]
        for _ in range(s):
            band /= eta
            if band < 1:
                break
            found.append(int(band))
        found.sort()
        if not found:
            raise ValueError(
                f"hyperband with max_iter {early_terminate['max_iter']}, s {s} and eta {eta:g}"
                " has no band to stop runs at (max_iter / eta is below 1 or s is below 1);"
                " raise max_iter or s, or lower eta"
            )
    elif "min_iter" in early_terminate:
        band = early_terminate["min_iter"]
        for _ in range(MIN_ITER_BANDS):
            if isinstance(band, float) and math.isinf(band):
                break
            found.append(int(band))
            band *= eta
    else:
        raise ValueError("hyperband needs `min_iter`, or `max_iter` together with `s`")
    return found


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
