"""The numbers a report states: group statistics, parameter summaries, the best so far, runs
by state over time, and parameter importance (a random forest, as W&B's panel).

numpy and scikit-learn are imported only when importance is computed.
"""

from __future__ import annotations

import importlib.util
import math
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sweepctl.domain import DISPLAY_ORDER, RunState, config_key
from sweepctl.results.export import best_run
from sweepctl.results.report.data import (
    MISSING,
    Column,
    ReportData,
    is_number,
    value_label,
)
from sweepctl.results.report.theme import FOREST_TREES, IMPORTANCE_MIN_RUNS, REPORT_EXTRA

if TYPE_CHECKING:
    from sweepctl.records import Run


@dataclass(frozen=True)
class Group:
    """The runs with one value of a group-by column, and their metric statistics."""

    label: str
    values: tuple[float, ...]  # the metric of each of its scored runs
    best_run: Run | None
    runs: int  # every run with this value, scored or not

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """The sample standard deviation (n - 1), as pandas gives it; None for one run."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    @property
    def best(self) -> float | None:
        return self.best_run.metric if self.best_run is not None else None


@dataclass(frozen=True)
class Feature:
    """One encoded parameter: its random-forest importance and correlation with the metric."""

    name: str
    importance: float
    correlation: float | None


@dataclass(frozen=True)
class Importance:
    """Parameter importance as W&B's panel shows it, or why there is none."""

    features: tuple[Feature, ...] = ()
    runs: int = 0
    reason: str | None = None


def group_stats(data: ReportData, column: Column) -> list[Group]:
    """The metric's mean ± std, count and best per value of ``column``; best mean first."""
    everyone: dict[str, list[Run]] = {}
    labels: dict[str, str] = {}
    for level in column.levels:
        everyone.setdefault(config_key(level), [])
        labels[config_key(level)] = value_label(level)
    for run in data.runs:
        value = data.value(column, run)
        if value is MISSING:
            continue
        key = config_key(value)
        everyone.setdefault(key, []).append(run)
        labels.setdefault(key, value_label(value))
    scored = {r.id for r in data.scored}
    groups = []
    for key, members in everyone.items():
        pool = [r for r in members if r.id in scored]
        groups.append(
            Group(
                label=labels[key],
                values=tuple(r.metric for r in pool),
                best_run=best_run(data.metric, pool),
                runs=len(members),
            )
        )
    sign = -1 if data.metric is not None and data.metric.maximize else 1
    # sorted() is stable: groups with equal means keep the order of the values.
    return sorted(groups, key=lambda g: (g.mean is None, sign * (g.mean or 0.0)))


def numeric_summary(data: ReportData, column: Column) -> dict[str, Any]:
    """Min, max and mean of a numeric parameter among the runs that have it."""
    values = [v for v in (data.value(column, r) for r in data.runs) if is_number(v)]
    if not values:
        return {"runs": 0, "min": None, "max": None, "mean": None}
    return {
        "runs": len(values),
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
    }


def value_counts(data: ReportData, column: Column) -> list[tuple[str, int]]:
    """How many runs drew each value of a categorical parameter, in the sweep file's order."""
    counts = Counter(
        config_key(v) for v in (data.value(column, r) for r in data.runs) if v is not MISSING
    )
    return [(value_label(level), counts.get(config_key(level), 0)) for level in column.levels]


def state_counts(runs: Sequence[Run]) -> dict[str, int]:
    """Runs per state, in :data:`sweepctl.domain.DISPLAY_ORDER` (states without runs left out)."""
    counts = Counter(r.state for r in runs)
    ordered = [s for s in DISPLAY_ORDER if s in counts] + sorted(set(counts) - set(DISPLAY_ORDER))
    return {s: counts[s] for s in ordered}


def best_so_far(data: ReportData) -> dict[str, list[tuple[int, float, float]]]:
    """Per sweep: (run number from 1, metric, best metric so far) for each scored run."""
    out: dict[str, list[tuple[int, float, float]]] = {}
    if data.metric is None:
        return out
    pick = max if data.metric.maximize else min
    scored = {r.id for r in data.scored}
    for sweep in data.sweeps:
        best: float | None = None
        points = []
        for run in data.runs:
            if run.sweep_id != sweep.id or run.id not in scored:
                continue
            best = run.metric if best is None else pick(best, run.metric)
            points.append((run.number + 1, run.metric, best))
        out[data.tags[sweep.id]] = points
    return out


def state_timeline(
    runs: Sequence[Run], now: float | None = None
) -> tuple[list[float], dict[str, list[int]]]:
    """Runs in each state at each moment something started or ended (seconds from the first).

    A run counts as running from its start to its end, then as its final state.
    """
    if not runs:
        return [], {}
    running = RunState.RUNNING.value
    events: list[tuple[float, str, int]] = []
    for run in runs:
        start = run.started_at or run.created_at
        events.append((start, running, 1))
        if run.ended_at is not None:
            end = max(run.ended_at, start)
            events += [(end, running, -1), (end, run.state, 1)]
    events.sort(key=lambda e: e[0])
    t0 = events[0][0]
    last = events[-1][0]
    if any(r.ended_at is None for r in runs):
        last = max(last, now or time.time())  # still running: up to now
    states = list(state_counts(runs))
    if running not in states:
        states.append(running)
    series: dict[str, list[int]] = {s: [] for s in states}
    moments = sorted({*(e[0] for e in events), last})
    counts: Counter[str] = Counter()
    index = 0
    for moment in moments:
        while index < len(events) and events[index][0] <= moment:
            counts[events[index][1]] += events[index][2]
            index += 1
        for state in states:
            series[state].append(counts[state])
    return [m - t0 for m in moments], series


def state_timelines(data: ReportData) -> dict[str, tuple[list[float], dict[str, list[int]]]]:
    """:func:`state_timeline` per sweep (each from its own first run), keyed by sweep tag."""
    return {
        data.tags[s.id]: state_timeline([r for r in data.runs if r.sweep_id == s.id])
        for s in data.sweeps
        if any(r.sweep_id == s.id for r in data.runs)
    }


def time_unit(seconds: float) -> tuple[float, str]:
    """The unit to show a span in: (seconds per unit, its name)."""
    if seconds <= 180:
        return 1.0, "seconds"
    if seconds <= 3 * 3600:
        return 60.0, "minutes"
    return 3600.0, "hours"


# -- parameter importance ---------------------------------------------------------------------


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def encode(data: ReportData) -> tuple[list[str], list[list[float]]]:
    """The scored runs' configs as numeric features: W&B's importance-panel encoding.

    Numbers stay numbers (log10 on a log scale), categoricals of numbers are ordinal, other
    categoricals are one-hot (one column for two values); a missing value is NaN.
    """
    names: list[str] = []
    columns: list[list[float]] = []
    nan = float("nan")
    for column in data.columns:
        values = [data.value(column, r) for r in data.scored]
        present = [v for v in values if v is not MISSING]
        if column.categorical and not all(is_number(v) for v in present):
            levels = list(dict.fromkeys(config_key(v) for v in present))
            ordered = [config_key(level) for level in column.levels if config_key(level) in levels]
            levels = ordered + [k for k in levels if k not in ordered]
            label = {config_key(v): value_label(v) for v in present}
            for key in levels[:1] if len(levels) == 2 else levels:
                names.append(f"{column.name}={label[key]}")
                columns.append(
                    [nan if v is MISSING else float(config_key(v) == key) for v in values]
                )
        else:
            log = column.log and all(is_number(v) and v > 0 for v in present)
            names.append(column.name)
            columns.append(
                [(math.log10(v) if log else float(v)) if is_number(v) else nan for v in values]
            )
    keep = [i for i, col in enumerate(columns) if len({v for v in col if v == v}) > 1]
    rows = [[columns[i][j] for i in keep] for j in range(len(data.scored))]
    return [names[i] for i in keep], rows


def parameter_importance(data: ReportData) -> Importance:
    """A random forest's importance of each parameter for the metric, and its correlation.

    As W&B's parameter-importance panel: scikit-learn's ``RandomForestRegressor`` on the
    encoded configs of the scored runs, and Pearson's r of each feature with the metric.
    """
    if data.metric is None:
        return Importance(reason="the sweep has no metric")
    n = len(data.scored)
    if n < IMPORTANCE_MIN_RUNS:
        return Importance(
            runs=n,
            reason=f"{n} run{'s' if n != 1 else ''} with a metric; it needs {IMPORTANCE_MIN_RUNS}",
        )
    names, rows = encode(data)
    if not names:
        return Importance(runs=n, reason="no parameter varies among the runs with a metric")
    y = [r.metric for r in data.scored]
    if len(set(y)) == 1:
        return Importance(runs=n, reason="every run has the same metric")
    if not has_module("sklearn"):
        return Importance(runs=n, reason=f"scikit-learn is not installed ({REPORT_EXTRA})")
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    x = np.asarray(rows, dtype=float)
    target = np.asarray(y, dtype=float)
    forest = RandomForestRegressor(n_estimators=FOREST_TREES, random_state=0, n_jobs=1)
    forest.fit(x, target)
    features = []
    for index, name in enumerate(names):
        column = x[:, index]
        known = ~np.isnan(column)
        correlation = None
        if known.sum() > 2 and column[known].std() > 0 and target[known].std() > 0:
            correlation = float(np.corrcoef(column[known], target[known])[0, 1])
        features.append(Feature(name, float(forest.feature_importances_[index]), correlation))
    features.sort(key=lambda f: -f.importance)
    return Importance(features=tuple(features), runs=n)
