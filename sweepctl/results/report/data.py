"""What a report shows, gathered once: the sweeps, their runs, the parameters as columns.

Plain Python over :class:`~sweepctl.records.Sweep` and :class:`~sweepctl.records.Run`
values, read from any source of runs (a backend, a store).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sweepctl import ranking
from sweepctl.domain import config_key
from sweepctl.errors import UsageError
from sweepctl.results.export import best_run, flatten
from sweepctl.run_metric import metric_history
from sweepctl.spec.checks import did_you_mean

if TYPE_CHECKING:
    from sweepctl.records import Run, Sweep
    from sweepctl.spec.model import Metric

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
SWEEP_COLUMN = "sweep"


class RunSource(Protocol):
    """Where a report reads runs from: a backend (:class:`sweepctl.backends.base.Backend`)."""

    def runs(self, sweep_id: str) -> list[Run]: ...

    def history(self, run_id: str) -> list[dict[str, Any]]: ...


class _Missing:
    """A parameter a run's config does not have (another sweep's, in a comparison)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
        key = config_key(value)
        for index, level in enumerate(self.levels):
            if config_key(level) == key:
                return index
        raise KeyError(value)


@dataclass
class ReportData:
    """Everything a report shows, gathered once from the source."""

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
        return ranking.rank(self.metric, self.scored).top(n) if self.metric else []

    def is_best(self, run: Run) -> bool:
        return self.best is not None and run.id == self.best.id


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
        levels.setdefault(config_key(value), value)
    seen = [column.get(r) for r in runs]
    extra = {config_key(v): v for v in seen if v is not MISSING and config_key(v) not in levels}
    ordered = list(levels.values()) + sorted(extra.values(), key=_level_order)
    return replace(column, categorical=True, log=False, levels=tuple(ordered))


def _level_order(value: Any) -> tuple[int, float, str]:
    # Numbers in numeric order, then everything else by its JSON text.
    if is_number(value):
        return (0, float(value), "")
    return (1, 0.0, config_key(value))


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
    known = [c.name for c in columns] + [k for k in keys if k not in {c.name for c in columns}]
    raise UsageError(
        f"--group-by {name!r}: no run has this parameter",
        hint=did_you_mean(name, known) or f"parameters: {', '.join(known) or 'none'}",
    )


def collect(
    source: RunSource,
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
    runs = [r for s in unique for r in source.runs(s.id)]
    # The runs the ranking counts (finished or stopped, with a value), in creation order.
    scored = [r for r in runs if ranking.counts(r.state, r.metric)] if metric else []
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
            r.id: metric_curve(source.history(r.id), metric.name) for r in data.top(curves)
        }
    return data


def metric_curve(rows: list[dict[str, Any]], name: str) -> list[tuple[float, float]]:
    """(step, value) for each logged row with a finite value of the metric (W&B's lookup)."""
    points = []
    for index, row in enumerate(rows):
        found = metric_history([row], name)
        if found:
            step = row.get("_step", index)
            x = step if isinstance(step, (int, float)) and not isinstance(step, bool) else index
            points.append((float(x), found[0]))
    return points
