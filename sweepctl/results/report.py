"""Reports people can look at: ``runs.csv``, ``summary.md``, PNG plots and an interactive page.

This module gathers the numbers (plain Python) and writes the CSV and the Markdown;
:mod:`sweepctl.results.plots` draws the PNGs with matplotlib and :mod:`sweepctl.results.html`
builds one self-contained page with Plotly. Parameter importance (scikit-learn) is computed
here once and shared by all three. numpy, scikit-learn, matplotlib and plotly are imported
only when a report needs them, never when ``sweepctl`` starts.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepctl import __version__
from sweepctl.duration import format_duration
from sweepctl.errors import UsageError
from sweepctl.results.export import (
    best_run,
    csv_text,
    flat_row,
    flatten,
    iso,
    rank,
    scored_runs,
    write_text,
)

if TYPE_CHECKING:
    from sweepctl.spec.model import Metric
    from sweepctl.store import Run, Store, Sweep

LOG_DISTRIBUTIONS = frozenset(
    {
        "log_uniform",
        "log_uniform_values",
        "q_log_uniform",
        "q_log_uniform_values",
        "log_normal",
        "q_log_normal",
    }
)
CATEGORICAL_DISTRIBUTIONS = frozenset({"categorical", "categorical_w_probabilities"})
# The order states are listed and stacked in; any other state comes after these.
STATE_ORDER = (
    "finished",
    "running",
    "stopped",
    "failed",
    "crashed",
    "preempted",
    "killed",
    "timeout",
)
# The PNG files a report draws, with their titles (the Markdown links them in this order).
PLOTS = {
    "parallel_coordinates.png": "Parallel coordinates",
    "importance.png": "Parameter importance",
    "metric_vs_params.png": "Metric against each parameter",
    "best_so_far.png": "Best so far",
    "history.png": "Metric history of the top runs",
    "states.png": "Runs by state over time",
}
# Colours shared by the PNGs and the page.
STATE_COLOURS = {
    "finished": "#2ca02c",
    "running": "#1f77b4",
    "stopped": "#ff7f0e",
    "failed": "#d62728",
    "crashed": "#8c1c13",
    "preempted": "#7f7f7f",
    "killed": "#9467bd",
    "timeout": "#bcbd22",
}
OTHER_STATE_COLOUR = "#bbbbbb"
SWEEP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
BEST_COLOUR = "#d62728"
HISTORY_RUNS = 10  # the most top runs whose metric curves are drawn
IMPORTANCE_MIN_RUNS = 4
FOREST_TREES = 100
SWEEP_COLUMN = "sweep"
REPORT_EXTRA = "pip install 'sweepctl[report]'"


class _Missing:
    """A parameter a run's config does not have (another sweep's, in a comparison)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def value_key(value: Any) -> str:
    """A hashable key for any config value (lists and dicts included)."""
    return json.dumps(value, sort_keys=True, default=str)


def value_label(value: Any) -> str:
    """How a categorical value is written: strings as they are, the rest as JSON (``true``)."""
    if value is MISSING:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def format_value(value: Any) -> str:
    """A config value for a table cell: floats to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value_label(value)


def format_metric(value: float | None, digits: int = 6) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


@dataclass(frozen=True)
class Column:
    """A parameter as the report shows it: numeric or categorical, on a log scale or not."""

    name: str
    path: tuple[str, ...]  # empty for the sweep itself (comparisons)
    categorical: bool
    log: bool = False
    distribution: str = ""
    levels: tuple[Any, ...] = ()  # categorical values: the sweep file's order, then others

    def get(self, run: Run) -> Any:
        """The value in ``run``'s config at this parameter's path, or :data:`MISSING`."""
        value: Any = run.config
        for key in self.path:
            if not isinstance(value, dict) or key not in value:
                return MISSING
            value = value[key]
        return value

    def position(self, value: Any) -> int:
        """Where a categorical value sits on an axis: its index among the levels."""
        key = value_key(value)
        for index, level in enumerate(self.levels):
            if value_key(level) == key:
                return index
        raise KeyError(value)


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


@dataclass
class ReportData:
    """Everything a report shows, gathered once from the store."""

    sweeps: list[Sweep]
    metric: Metric | None
    columns: list[Column]  # the searched parameters (and the sweep, in a comparison)
    runs: list[Run]  # every run, sweep by sweep, in creation order
    scored: list[Run]  # what statistics use: finished runs with a value, else any with one
    best: Run | None
    tags: dict[str, str]  # sweep id -> the name the report gives it
    groups: list[Column]  # group statistics: the sweep (in a comparison), then parameters
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    generated_at: float = field(default_factory=time.time)

    @property
    def comparison(self) -> bool:
        return len(self.sweeps) > 1

    @property
    def params(self) -> list[Column]:
        """The searched parameters, without the sweep column."""
        return [c for c in self.columns if c.path]

    @property
    def metric_name(self) -> str:
        return self.metric.name if self.metric else "metric"

    def value(self, column: Column, run: Run) -> Any:
        """The value of ``column`` for ``run``, or :data:`MISSING`."""
        return column.get(run) if column.path else self.tags[run.sweep_id]

    def top(self, n: int) -> list[Run]:
        return rank(self.metric, self.scored)[:n] if self.metric else []


# -- gathering --------------------------------------------------------------------------------


def default_out_dir(sweeps: Sequence[Sweep]) -> Path:
    """``reports/<id>`` for one sweep, ``reports/compare-<id>-<id>...`` for several."""
    # W&B sweeps are entity/project/id: one folder name each, not nested folders.
    ids = list(dict.fromkeys(s.id.replace("/", "-") for s in sweeps))
    if len(ids) == 1:
        return Path("reports") / ids[0]
    return Path("reports") / ("compare-" + "-".join(ids))


def _tags(sweeps: Sequence[Sweep]) -> dict[str, str]:
    labels = Counter(s.label for s in sweeps)
    return {s.id: s.label if labels[s.label] == 1 else f"{s.label} ({s.id})" for s in sweeps}


def _same_metric(sweeps: Sequence[Sweep]) -> Metric | None:
    metrics = {(m.name, m.goal) if m else None: m for m in (s.spec.metric for s in sweeps)}
    if len(metrics) > 1:
        said = ", ".join(
            f"{s.label}: {s.spec.metric.name} ({s.spec.metric.goal})"
            if s.spec.metric
            else f"{s.label}: no metric"
            for s in sweeps
        )
        raise UsageError(
            f"these sweeps do not share a metric, so their runs cannot be compared ({said})",
            hint="report them one at a time",
        )
    return next(iter(metrics.values()))


def _columns(sweeps: Sequence[Sweep], runs: list[Run]) -> list[Column]:
    """The union of the sweeps' searched parameters; categorical if any sweep says so."""
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for sweep in sweeps:
        for param in sweep.spec.searched:
            entry = found.setdefault(
                param.path,
                {"name": param.name, "distributions": [], "values": []},
            )
            entry["distributions"].append(param.distribution)
            entry["values"].extend(param.values)
    columns = []
    for path, entry in found.items():
        distributions = entry["distributions"]
        categorical = any(d in CATEGORICAL_DISTRIBUTIONS for d in distributions)
        column = Column(
            name=entry["name"],
            path=path,
            categorical=categorical,
            log=not categorical and all(d in LOG_DISTRIBUTIONS for d in distributions),
            distribution="/".join(dict.fromkeys(distributions)),
        )
        if categorical:
            column = _with_levels(column, entry["values"], runs)
        columns.append(column)
    return columns


def _with_levels(column: Column, declared: list[Any], runs: list[Run]) -> Column:
    levels: dict[str, Any] = {}
    for value in declared:
        levels.setdefault(value_key(value), value)
    seen = [column.get(r) for r in runs]
    extra = {value_key(v): v for v in seen if v is not MISSING and value_key(v) not in levels}
    ordered = list(levels.values()) + sorted(extra.values(), key=_level_order)
    return replace(column, categorical=True, log=False, levels=tuple(ordered))


def _level_order(value: Any) -> tuple[int, float, str]:
    # Numbers in numeric order, then everything else by its JSON text.
    if _is_number(value):
        return (0, float(value), "")
    return (1, 0.0, value_key(value))


def _group_column(name: str, columns: list[Column], runs: list[Run]) -> Column:
    """The column ``--group-by NAME`` means: a parameter, else any (dotted) config key."""
    for column in columns:
        if column.name == name:
            return column if column.categorical else _with_levels(column, [], runs)
    keys = sorted({k for r in runs for k in flatten("", r.config, {})})
    if name in keys:
        return _with_levels(
            Column(name=name, path=tuple(name.split(".")), categorical=True), [], runs
        )
    from sweepctl.spec.checks import did_you_mean

    known = [c.name for c in columns] + [k for k in keys if k not in {c.name for c in columns}]
    raise UsageError(
        f"--group-by {name!r}: no run has this parameter",
        hint=did_you_mean(name, known) or f"parameters: {', '.join(known) or 'none'}",
    )


def collect(
    store: Store,
    sweeps: Sequence[Sweep],
    *,
    group_by: Sequence[str] = (),
    curves: int = 0,
) -> ReportData:
    """Read the sweeps' runs, and the metric history of the best ``curves`` runs."""
    if not sweeps:
        raise UsageError("no sweep to report on", hint="give one or more sweep ids")
    unique = list({s.id: s for s in sweeps}.values())
    metric = _same_metric(unique)
    runs = [r for s in unique for r in store.runs(s.id)]
    scored = scored_runs(runs) if metric else []
    tags = _tags(unique)
    columns = _columns(unique, runs)
    if len(unique) > 1:
        sweep_column = Column(
            name=SWEEP_COLUMN,
            path=(),
            categorical=True,
            distribution="sweep",
            levels=tuple(tags[s.id] for s in unique),
        )
        columns.insert(0, sweep_column)
    if group_by:
        groups = [_group_column(name, columns, runs) for name in dict.fromkeys(group_by)]
    else:
        groups = [c for c in columns if c.categorical]
    if len(unique) > 1 and not any(not g.path for g in groups):
        groups.insert(0, columns[0])
    data = ReportData(
        sweeps=unique,
        metric=metric,
        columns=columns,
        runs=runs,
        scored=scored,
        best=best_run(metric, runs),
        tags=tags,
        groups=groups,
    )
    if curves and metric is not None:
        data.curves = {
            r.id: metric_curve(store.history(r.id), metric.name) for r in data.top(curves)
        }
    return data


def metric_curve(rows: list[dict[str, Any]], name: str) -> list[tuple[float, float]]:
    """(step, value) for each logged row with a finite value of the metric (W&B's lookup)."""
    from sweepctl.agent.metrics import metric_history

    points = []
    for index, row in enumerate(rows):
        found = metric_history([row], name)
        if found:
            step = row.get("_step", index)
            x = step if isinstance(step, (int, float)) and not isinstance(step, bool) else index
            points.append((float(x), found[0]))
    return points


# -- statistics -------------------------------------------------------------------------------


def group_stats(data: ReportData, column: Column) -> list[Group]:
    """The metric's mean ± std, count and best per value of ``column``; best mean first."""
    everyone: dict[str, list[Run]] = {}
    labels: dict[str, str] = {}
    for level in column.levels:
        everyone.setdefault(value_key(level), [])
        labels[value_key(level)] = value_label(level)
    for run in data.runs:
        value = data.value(column, run)
        if value is MISSING:
            continue
        key = value_key(value)
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
    values = [
        v
        for v in (data.value(column, r) for r in data.runs)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ]
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
        value_key(v) for v in (data.value(column, r) for r in data.runs) if v is not MISSING
    )
    return [(value_label(level), counts.get(value_key(level), 0)) for level in column.levels]


def state_counts(runs: Sequence[Run]) -> dict[str, int]:
    """Runs per state, in :data:`STATE_ORDER` (states without runs left out)."""
    counts = Counter(r.state for r in runs)
    ordered = [s for s in STATE_ORDER if s in counts] + sorted(set(counts) - set(STATE_ORDER))
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
    events: list[tuple[float, str, int]] = []
    for run in runs:
        start = run.started_at or run.created_at
        events.append((start, "running", 1))
        if run.ended_at is not None:
            end = max(run.ended_at, start)
            events += [(end, "running", -1), (end, run.state, 1)]
    events.sort(key=lambda e: e[0])
    t0 = events[0][0]
    last = events[-1][0]
    if any(r.ended_at is None for r in runs):
        last = max(last, now or time.time())  # still running: up to now
    states = list(state_counts(runs))
    if "running" not in states:
        states.append("running")
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
        if column.categorical and not all(_is_number(v) for v in present):
            levels = list(dict.fromkeys(value_key(v) for v in present))
            ordered = [value_key(level) for level in column.levels if value_key(level) in levels]
            levels = ordered + [k for k in levels if k not in ordered]
            label = {value_key(v): value_label(v) for v in present}
            for key in levels[:1] if len(levels) == 2 else levels:
                names.append(f"{column.name}={label[key]}")
                columns.append(
                    [nan if v is MISSING else float(value_key(v) == key) for v in values]
                )
        else:
            log = column.log and all(_is_number(v) and v > 0 for v in present)
            names.append(column.name)
            columns.append(
                [(math.log10(v) if log else float(v)) if _is_number(v) else nan for v in values]
            )
    keep = [i for i, col in enumerate(columns) if len({v for v in col if v == v}) > 1]
    rows = [[columns[i][j] for i in keep] for j in range(len(data.scored))]
    return [names[i] for i in keep], rows


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


# -- the Markdown -----------------------------------------------------------------------------


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    right: tuple[int, ...] = ()  # the columns to align right (numbers)


@dataclass
class Section:
    """A heading and its blocks: paragraphs (str) and tables, shared by Markdown and HTML."""

    key: str
    title: str
    blocks: list[str | Table] = field(default_factory=list)


def _md_text(text: str) -> str:
    text = re.sub(r"([\\`*<|])", r"\\\1", text)
    return re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)


def _md_table(table: Table) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(_md_text(c).replace("\n", " ") for c in cells) + " |"

    rule = ["---:" if i in table.right else "---" for i in range(len(table.headers))]
    return "\n".join([row(table.headers), "| " + " | ".join(rule) + " |", *map(row, table.rows)])


def markdown(title: str, sections: list[Section], plots: Sequence[Path] = ()) -> str:
    """The report as Markdown; ``plots`` are linked after the best run."""
    parts = [f"# {_md_text(title)}"]
    for section in sections:
        parts.append(f"## {_md_text(section.title)}")
        for block in section.blocks:
            parts.append(_md_table(block) if isinstance(block, Table) else _md_text(block))
        if section.key == "best" and plots:
            parts.append("## Plots")
            parts.extend(f"![{PLOTS.get(p.name, p.stem)}]({p.name})" for p in plots)
    return "\n\n".join(parts) + "\n"


def title(data: ReportData) -> str:
    if data.comparison:
        return "Sweep comparison: " + ", ".join(data.tags[s.id] for s in data.sweeps)
    sweep = data.sweeps[0]
    return f"Sweep report: {sweep.label}" + (f" ({sweep.id})" if sweep.name else "")


def _states_text(runs: Sequence[Run]) -> str:
    counts = state_counts(runs)
    return f"{len(runs)}" + (
        " (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")" if counts else ""
    )


def _goal(data: ReportData) -> str:
    return f"{data.metric.name} ({data.metric.goal})" if data.metric else "none"


def sections(data: ReportData, *, top: int, importance: Importance) -> list[Section]:
    """The report's content, as the Markdown and the page both show it."""
    out = [_overview(data), _best(data)]
    if data.metric is not None and data.scored:
        out.append(_top(data, top))
    for column in data.groups:
        out.append(_groups(data, column))
    out.append(_parameters(data))
    out.append(_importance(data, importance))
    out.append(_states(data))
    return out


def _overview(data: ReportData) -> Section:
    section = Section("overview", "Overview")
    generated = f"Generated by sweepctl {__version__} at {iso(data.generated_at)}."
    if data.comparison:
        rows = []
        for sweep in data.sweeps:
            mine = [r for r in data.runs if r.sweep_id == sweep.id]
            best = best_run(data.metric, mine)
            rows.append(
                [
                    data.tags[sweep.id],
                    sweep.id,
                    sweep.method,
                    sweep.state,
                    _states_text(mine),
                    format_metric(best.metric if best else None),
                    best.id if best else "-",
                ]
            )
        section.blocks = [
            f"Metric: {_goal(data)}. {generated}",
            Table(
                ["Sweep", "Id", "Method", "State", "Runs", f"Best {data.metric_name}", "Best run"],
                rows,
                (5,),
            ),
        ]
        return section
    sweep = data.sweeps[0]
    state = sweep.state + (f" ({sweep.state_reason})" if sweep.state_reason else "")
    rows = [
        ["Sweep", f"{sweep.label} ({sweep.id})" if sweep.name else sweep.id],
        ["Method", sweep.method],
        ["State", state],
        ["Metric", _goal(data)],
        ["Runs", _states_text(data.runs)],
        ["Created", iso(sweep.created_at) or "-"],
    ]
    if sweep.source:
        rows.append(["Source", sweep.source])
    section.blocks = [Table(["", ""], rows), generated]
    return section


def _best(data: ReportData) -> Section:
    section = Section("best", "Best run")
    run = data.best
    if data.metric is None:
        section.blocks = ["The sweep has no metric, so no run is best."]
        return section
    if run is None:
        section.blocks = [f"No run has logged {data.metric.name} yet."]
        return section
    where = f"sweep {data.tags[run.sweep_id]}, " if data.comparison else ""
    section.blocks = [
        f"Run {run.id} ({where}run #{run.number + 1}): {data.metric.name} = "
        f"{format_metric(run.metric)}, {run.state} in {format_duration(run.duration)}.",
        Table(
            ["Parameter", "Value"],
            [[k, format_value(v)] for k, v in flatten("", run.config, {}).items()],
        ),
    ]
    return section


def _top(data: ReportData, top: int) -> Section:
    ranked = data.top(top)
    params = data.params
    headers = ["#", "Run"] + (["Sweep"] if data.comparison else [])
    headers += [data.metric_name, "State", "Duration", *(c.name for c in params)]
    rows = []
    for index, run in enumerate(ranked, 1):
        row = [str(index), run.id] + ([data.tags[run.sweep_id]] if data.comparison else [])
        row += [format_metric(run.metric), run.state, format_duration(run.duration)]
        row += [format_value(data.value(c, run)) for c in params]
        rows.append(row)
    skip = 3 if data.comparison else 2
    numeric = [i for i, c in enumerate(params, skip + 3) if _numeric_column(data, c)]
    right = (0, skip, skip + 2, *numeric)
    title_ = f"Top {len(ranked)} runs" if len(ranked) > 1 else "Top run"
    return Section("top", f"{title_} by {data.metric_name}", [Table(headers, rows, right)])


def _numeric_column(data: ReportData, column: Column) -> bool:
    values = [data.value(column, r) for r in data.runs]
    return all(_is_number(v) for v in values if v is not MISSING)


def _groups(data: ReportData, column: Column) -> Section:
    name = data.metric_name
    section = Section(f"group-{column.name}", f"{name} by {column.name}")
    if data.metric is None:
        section.blocks = ["The sweep has no metric."]
        return section
    rows = []
    for group in group_stats(data, column):
        if group.mean is None:
            spread = "-"
        elif group.std is None:
            spread = f"{group.mean:.4g}"
        else:
            spread = f"{group.mean:.4g} ± {group.std:.2g}"
        rows.append(
            [
                group.label,
                spread,
                str(len(group.values)),
                format_metric(group.best, 4),
                group.best_run.id if group.best_run else "-",
            ]
        )
    section.blocks = [
        Table([column.name, f"{name} mean ± std", "Runs", "Best", "Best run"], rows, (1, 2, 3)),
        _pool_note(data),
    ]
    return section


def _pool_note(data: ReportData) -> str:
    finished = all(r.state == "finished" for r in data.scored)
    which = "finished runs" if finished else "runs (none has finished yet)"
    return (
        f"Over the {len(data.scored)} {which} that logged {data.metric_name}; "
        "std is the sample standard deviation (n - 1), best is the "
        f"{'highest' if data.metric and data.metric.maximize else 'lowest'} value."
    )


def _parameters(data: ReportData) -> Section:
    section = Section("parameters", "Parameters")
    numeric = [c for c in data.params if not c.categorical]
    categorical = [c for c in data.params if c.categorical]
    if numeric:
        rows = []
        for column in numeric:
            found = numeric_summary(data, column)
            rows.append(
                [
                    column.name,
                    column.distribution,
                    format_value(found["min"]) if found["runs"] else "-",
                    format_value(found["max"]) if found["runs"] else "-",
                    format_value(found["mean"]) if found["runs"] else "-",
                    str(found["runs"]),
                ]
            )
        section.blocks.append(
            Table(["Parameter", "Distribution", "Min", "Max", "Mean", "Runs"], rows, (2, 3, 4, 5))
        )
    if categorical:
        rows = [
            [c.name, ", ".join(f"{label}: {n}" for label, n in value_counts(data, c))]
            for c in categorical
        ]
        section.blocks.append(Table(["Parameter", "Runs per value"], rows))
    if not data.params:
        section.blocks.append("The sweep searches no parameter.")
    else:
        section.blocks.append(f"Among all {len(data.runs)} runs.")
    return section


def _importance(data: ReportData, importance: Importance) -> Section:
    section = Section("importance", f"Parameter importance for {data.metric_name}")
    if importance.reason:
        section.blocks = [f"Not computed: {importance.reason}."]
        return section
    rows = [
        [f.name, f"{f.importance:.3f}", "-" if f.correlation is None else f"{f.correlation:+.3f}"]
        for f in importance.features
    ]
    section.blocks = [
        Table(["Parameter", "Importance", "Correlation"], rows, (1, 2)),
        f"Importance: a random forest ({FOREST_TREES} trees) predicting {data.metric_name} "
        f"from the configs of {importance.runs} runs (sums to 1). Correlation: Pearson's r "
        "with the metric (log10 of log-scale parameters). Categoricals of numbers keep their "
        "numbers; others are one-hot, name=value (one column for two values).",
    ]
    return section


def _states(data: ReportData) -> Section:
    section = Section("states", "Runs by state")
    total = state_counts(data.runs)
    if not data.comparison:
        rows = [[s, str(n)] for s, n in total.items()]
        section.blocks = [Table(["State", "Runs"], rows, (1,))] if rows else ["No runs yet."]
        return section
    per = {s.id: state_counts([r for r in data.runs if r.sweep_id == s.id]) for s in data.sweeps}
    rows = [
        [state, *(str(per[s.id].get(state, 0)) for s in data.sweeps), str(n)]
        for state, n in total.items()
    ]
    headers = ["State", *(data.tags[s.id] for s in data.sweeps), "Total"]
    section.blocks = [Table(headers, rows, tuple(range(1, len(headers))))]
    return section


# -- writing ----------------------------------------------------------------------------------


def runs_csv(data: ReportData) -> str:
    """Every run as export's flat rows, each tagged with its sweep."""
    rows = [
        {"sweep_id": r.sweep_id, "sweep": data.tags[r.sweep_id], **flat_row(r)} for r in data.runs
    ]
    return csv_text(rows)


def _require(modules: dict[str, str], what: str, instead: str) -> None:
    missing = [package for module, package in modules.items() if not has_module(module)]
    if missing:
        which = "it is" if len(missing) == 1 else "they are"
        raise UsageError(
            f"{what} need {' and '.join(missing)}, and {which} not installed",
            hint=f"{REPORT_EXTRA}, or {instead}",
        )


def write_report(
    store: Store,
    sweeps: Sequence[Sweep],
    out_dir: Path,
    *,
    top: int = 10,
    group_by: Sequence[str] = (),
    plots: bool = True,
    html: bool = False,
) -> list[Path]:
    """Write runs.csv, summary.md, the PNG plots and (with ``html``) report.html to ``out_dir``.

    Several sweeps make one comparison report. Returns the files written, in that order.
    """
    if top < 1:
        raise UsageError("--top must be at least 1")
    if plots:
        _require(
            {"matplotlib": "matplotlib", "sklearn": "scikit-learn"},
            "the plots",
            "pass --no-plots",
        )
    if html:
        _require(
            {"plotly": "plotly", "sklearn": "scikit-learn"},
            "the HTML page",
            "leave out --html",
        )
    curves = min(top, HISTORY_RUNS) if plots or html else 0
    data = collect(store, sweeps, group_by=group_by, curves=curves)
    out_dir = Path(out_dir)
    written = []
    path = out_dir / "runs.csv"
    write_text(path, runs_csv(data))
    written.append(path)
    importance = parameter_importance(data)
    content = sections(data, top=top, importance=importance)
    pictures: list[Path] = []
    if plots:
        from sweepctl.results.plots import write_plots

        pictures = write_plots(data, importance, out_dir)
    path = out_dir / "summary.md"
    write_text(path, markdown(title(data), content, pictures))
    written.append(path)
    written.extend(pictures)
    if html:
        from sweepctl.results.html import write_page

        written.append(write_page(data, importance, content, out_dir / "report.html"))
    return written
