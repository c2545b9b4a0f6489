"""The report's PNG plots, drawn with matplotlib's Agg renderer.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through pyplot, so
nothing here selects a GUI backend or leaves global figure state behind.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
from matplotlib.figure import Figure

from sweepctl.results.report import (
    BEST_COLOUR,
    HISTORY_RUNS,
    MISSING,
    OTHER_STATE_COLOUR,
    PLOTS,
    STATE_COLOURS,
    SWEEP_COLOURS,
    Column,
    Importance,
    ReportData,
    best_so_far,
    format_metric,
    state_timelines,
    time_unit,
    value_label,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sweepctl.records import Run

STYLE = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlepad": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}
DPI = 100
MAX_TICK_LABELS = 12
MAX_FEATURES = 20
QUANTIZE_ABOVE = 150_000  # bytes: larger PNGs are stored with a 256-colour palette


def write_plots(data: ReportData, importance: Importance, out_dir: Path) -> list[Path]:
    """Draw every plot the data allows into ``out_dir``; returns the files written."""
    drawers: dict[str, Callable[[], Figure | None]] = {
        "parallel_coordinates.png": lambda: parallel_coordinates(data),
        "importance.png": lambda: importance_bars(data, importance),
        "metric_vs_params.png": lambda: metric_vs_params(data),
        "best_so_far.png": lambda: best_so_far_plot(data),
        "history.png": lambda: history_plot(data),
        "states.png": lambda: states_plot(data),
    }
    assert set(drawers) == set(PLOTS)
    written = []
    with mpl.rc_context(STYLE):
        for name, draw in drawers.items():
            figure = draw()
            if figure is None:
                continue
            path = out_dir / name
            save(figure, path)
            written.append(path)
    return written


def save(figure: Figure, path: Path) -> None:
    """Write a PNG atomically (a crash never leaves half an image)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    png = buffer.getvalue()
    if len(png) > QUANTIZE_ABOVE:
        png = _quantized(png)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(png)
    tmp.replace(path)


def _quantized(png: bytes) -> bytes:
    # Many translucent lines make millions of colours; 256 look the same at a quarter the size.
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    buffer = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()


def _metric_cmap(data: ReportData):
    # The best runs are always the bright end, whichever way the goal points.
    cmap = mpl.colormaps["viridis"]
    return cmap if data.metric is None or data.metric.maximize else cmap.reversed()


def _ordered_for_drawing(data: ReportData, runs: Sequence[Run]) -> list[Run]:
    """Worst first, so the best runs are drawn on top."""
    maximize = data.metric is None or data.metric.maximize
    return sorted(runs, key=lambda r: r.metric if maximize else -r.metric)


def _tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3g}"


class _Axis:
    """One vertical axis of the parallel-coordinates plot: a value -> 0..1 map and its ticks."""

    def __init__(self, label: str, values: list[Any], column: Column | None, log: bool) -> None:
        self.label = label
        self.column = column
        self.log = log
        numbers = [self._raw(v) for v in values]
        numbers = [v for v in numbers if v is not None]
        if column is not None and column.categorical:
            count = len(column.levels)
            self.lo, self.hi = 0.0, float(max(1, count - 1))
            step = max(1, math.ceil(count / MAX_TICK_LABELS))
            self.ticks = [(self.norm(level), value_label(level)) for level in column.levels[::step]]
            return
        self.lo = min(numbers) if numbers else 0.0
        self.hi = max(numbers) if numbers else 1.0
        if self.hi == self.lo:
            self.ticks = [(0.5, _tick(self._shown(self.lo)))]
            return
        self.ticks = [
            (i / 4, _tick(self._shown(self.lo + (self.hi - self.lo) * i / 4))) for i in range(5)
        ]

    def _raw(self, value: Any) -> float | None:
        if value is MISSING or value is None:
            return None
        if self.column is not None and self.column.categorical:
            return float(self.column.position(value))
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if self.log:
            return math.log10(value) if value > 0 else None
        return float(value)

    def _shown(self, raw: float) -> float:
        return 10**raw if self.log else raw

    def norm(self, value: Any) -> float:
        raw = self._raw(value)
        if raw is None:
            return math.nan
        if self.hi == self.lo:
            return 0.5
        return (raw - self.lo) / (self.hi - self.lo)


def parallel_coordinates(data: ReportData) -> Figure | None:
    """Each run a line through its parameters and the metric, coloured by the metric."""
    if data.metric is None or not data.scored:
        return None
    runs = _ordered_for_drawing(data, data.scored)
    axes = [
        _Axis(c.name, [data.value(c, r) for r in runs], c, c.log and not c.categorical)
        for c in data.columns
    ]
    axes.append(_Axis(data.metric.name, [r.metric for r in runs], None, False))
    n = len(axes)
    figure = Figure(figsize=(max(7.5, 1.7 * n + 1.5), 4.8))
    ax = figure.add_subplot()
    cmap = _metric_cmap(data)
    metric_axis = axes[-1]
    for run in runs:
        ys = [axis.norm(data.value(axis.column, run)) for axis in axes[:-1]]
        ys.append(metric_axis.norm(run.metric))
        # A parameter the run's sweep does not have: the line goes straight past that axis.
        points = [(x, y) for x, y in enumerate(ys) if not math.isnan(y)]
        colour = cmap(metric_axis.norm(run.metric) if metric_axis.hi > metric_axis.lo else 1.0)
        best = data.best is not None and run.id == data.best.id
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color=BEST_COLOUR if best else colour,
            linewidth=2.6 if best else 1.2,
            alpha=1.0 if best else 0.75,
            zorder=3 if best else 2,
            label=f"best run {run.id}" if best else None,
        )
    for x, axis in enumerate(axes):
        ax.axvline(x, color="#444444", linewidth=1.0, zorder=1)
        for y, text in axis.ticks:
            ax.text(
                x - 0.04,
                y,
                text,
                ha="right",
                va="center",
                fontsize=8,
                color="#333333",
                zorder=4,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        suffix = " (log)" if axis.log else ""
        ax.text(x, 1.06, axis.label + suffix, ha="center", va="bottom", fontsize=9, weight="bold")
    ax.set_xlim(-0.45, n - 1 + 0.15)
    ax.set_ylim(-0.05, 1.05)
    ax.axis("off")
    norm = mpl.colors.Normalize(vmin=min(r.metric for r in runs), vmax=max(r.metric for r in runs))
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
    bar = figure.colorbar(mappable, ax=ax, pad=0.02, fraction=0.03)
    bar.set_label(data.metric.name)
    if data.best is not None:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=1)
    ax.set_title(f"Parallel coordinates: {len(runs)} runs, coloured by {data.metric.name}", y=1.1)
    return figure


def importance_bars(data: ReportData, importance: Importance) -> Figure | None:
    """W&B's parameter-importance panel: forest importance beside correlation."""
    if not importance.features or data.metric is None:
        return None
    features = list(importance.features[:MAX_FEATURES])[::-1]  # the most important on top
    names = [f.name for f in features]
    height = max(2.4, 0.36 * len(features) + 1.3)
    figure = Figure(figsize=(9.0, height))
    left, right = figure.subplots(1, 2, sharey=True, gridspec_kw={"wspace": 0.08})
    ys = list(range(len(features)))
    left.barh(ys, [f.importance for f in features], color="#4c72b0", height=0.6)
    left.set_yticks(ys, names)
    left.set_xlabel("importance (random forest)")
    left.set_xlim(0, max(0.05, max(f.importance for f in features) * 1.15))
    for y, feature in zip(ys, features, strict=True):
        left.text(feature.importance, y, f" {feature.importance:.2f}", va="center", fontsize=8)
    correlations = [f.correlation or 0.0 for f in features]
    colours = ["#2ca02c" if c >= 0 else "#d62728" for c in correlations]
    right.barh(ys, correlations, color=colours, height=0.6)
    right.axvline(0, color="#444444", linewidth=0.8)
    right.set_xlim(-1.05, 1.05)
    right.set_xlabel(f"correlation with {data.metric.name}")
    right.tick_params(axis="y", left=False)
    for y, feature in zip(ys, features, strict=True):
        c = feature.correlation
        text = "n/a" if c is None else f"{c:+.2f}"
        right.text(
            (c or 0.0) + (0.03 if (c or 0.0) >= 0 else -0.03),
            y,
            text,
            va="center",
            ha="left" if (c or 0.0) >= 0 else "right",
            fontsize=8,
        )
    for ax in (left, right):
        ax.grid(axis="y", visible=False)
    figure.suptitle(
        f"Parameter importance for {data.metric.name} ({importance.runs} runs)",
        fontsize=11,
        weight="bold",
    )
    return figure


def _jitter(count: int) -> list[float]:
    rng = random.Random(0)  # the same picture every time
    return [rng.uniform(-0.18, 0.18) for _ in range(count)]


def _sweep_colour(data: ReportData, run: Run) -> str:
    index = [s.id for s in data.sweeps].index(run.sweep_id)
    return SWEEP_COLOURS[index % len(SWEEP_COLOURS)]


def metric_vs_params(data: ReportData) -> Figure | None:
    """One scatter per parameter: the metric against its values (log x on a log scale)."""
    params = data.params
    if data.metric is None or not data.scored or not params:
        return None
    ncols = min(3, len(params))
    nrows = math.ceil(len(params) / ncols)
    figure = Figure(figsize=(3.6 * ncols + 0.6, 3.0 * nrows + 0.6), layout="constrained")
    grid = figure.subplots(nrows, ncols, squeeze=False)
    runs = data.scored
    colours = [_sweep_colour(data, r) if data.comparison else "#4c72b0" for r in runs]
    for index, column in enumerate(params):
        ax: Axes = grid[index // ncols][index % ncols]
        xs, ys, cs, best = [], [], [], None
        jitter = _jitter(len(runs))
        for run, colour, shake in zip(runs, colours, jitter, strict=True):
            value = data.value(column, run)
            if column.categorical:
                if value is MISSING:
                    continue
                x = column.position(value) + shake
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                x = float(value)
            else:
                continue
            xs.append(x)
            ys.append(run.metric)
            cs.append(colour)
            if data.best is not None and run.id == data.best.id:
                best = (x, run.metric)
        ax.scatter(xs, ys, c=cs, s=22, alpha=0.75, edgecolors="white", linewidths=0.4)
        if best is not None:
            ax.scatter(
                [best[0]],
                [best[1]],
                marker="*",
                s=160,
                color=BEST_COLOUR,
                zorder=3,
                edgecolors="white",
                linewidths=0.6,
                label="best run",
            )
        if column.categorical:
            labels = [value_label(level) for level in column.levels]
            ax.set_xticks(range(len(labels)), labels)
            ax.set_xlim(-0.6, len(labels) - 0.4)
            if max((len(t) for t in labels), default=0) * len(labels) > 40:
                ax.tick_params(axis="x", labelrotation=30)
        elif column.log and xs and min(xs) > 0:
            ax.set_xscale("log")
        ax.set_xlabel(column.name + (" (log)" if column.log else ""))
        if index % ncols == 0:
            ax.set_ylabel(data.metric.name)
    for index in range(len(params), nrows * ncols):
        grid[index // ncols][index % ncols].set_visible(False)
    handles = []
    if data.comparison:
        handles = [
            mpl.lines.Line2D(
                [], [], marker="o", linestyle="", color=_sweep_colour(data, run), label=tag
            )
            for tag, run in _first_run_per_sweep(data).items()
        ]
    if data.best is not None:
        handles.append(
            mpl.lines.Line2D(
                [],
                [],
                marker="*",
                linestyle="",
                markersize=11,
                color=BEST_COLOUR,
                label="best run",
            )
        )
    if handles:
        figure.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    figure.suptitle(
        f"{data.metric.name} against each parameter ({len(runs)} runs)",
        fontsize=11,
        weight="bold",
    )
    return figure


def _first_run_per_sweep(data: ReportData) -> dict[str, Run]:
    out: dict[str, Run] = {}
    for run in data.runs:
        out.setdefault(data.tags[run.sweep_id], run)
    return out


def best_so_far_plot(data: ReportData) -> Figure | None:
    """The metric of each run in order, and the best so far as a step line."""
    series = best_so_far(data)
    if data.metric is None or not any(series.values()):
        return None
    figure = Figure(figsize=(8.0, 4.0), layout="constrained")
    ax = figure.add_subplot()
    for index, (tag, points) in enumerate(series.items()):
        if not points:
            continue
        colour = SWEEP_COLOURS[index % len(SWEEP_COLOURS)] if data.comparison else "#4c72b0"
        xs = [p[0] for p in points]
        ax.scatter(xs, [p[1] for p in points], color=colour, alpha=0.45, s=18, edgecolors="none")
        label = f"{tag}: best so far" if data.comparison else "best so far"
        ax.step(xs, [p[2] for p in points], where="post", color=colour, linewidth=2, label=label)
    ax.scatter([], [], color="#888888", alpha=0.6, s=18, label="each run")
    ax.set_xlabel("run (in the order they were created)")
    ax.set_ylabel(data.metric.name)
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    goal = "higher" if data.metric.maximize else "lower"
    ax.set_title(f"Best {data.metric.name} so far ({goal} is better)")
    ax.legend(loc="best")
    return figure


def history_plot(data: ReportData) -> Figure | None:
    """The metric as each of the top runs logged it, step by step."""
    if data.metric is None or not any(data.curves.values()):
        return None
    figure = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = figure.add_subplot()
    top = data.top(HISTORY_RUNS)
    cmap = mpl.colormaps["viridis"]
    shown = 0
    for index, run in enumerate(top):
        points = data.curves.get(run.id) or []
        if not points:
            continue
        best = data.best is not None and run.id == data.best.id
        colour = BEST_COLOUR if best else cmap(0.85 * index / max(1, len(top) - 1))
        where = f", {data.tags[run.sweep_id]}" if data.comparison else ""
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color=colour,
            linewidth=2.4 if best else 1.3,
            alpha=1.0 if best else 0.85,
            zorder=3 if best else 2,
            marker="o" if len(points) <= 30 else None,
            markersize=3,
            label=f"#{index + 1} {run.id} ({format_metric(run.metric, 4)}{where})",
        )
        shown += 1
    ax.set_xlabel("step")
    ax.set_ylabel(data.metric.name)
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.set_title(f"{data.metric.name} during the top {shown} runs")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title="rank, run (best value)")
    return figure


def states_plot(data: ReportData) -> Figure | None:
    """How many runs were running, finished, failed... at each moment; one panel a sweep."""
    timelines = state_timelines(data)
    if not timelines:
        return None
    scale, unit = time_unit(max(times[-1] for times, _ in timelines.values()))
    figure = Figure(figsize=(8.0, 1.2 + 2.4 * len(timelines)), layout="constrained")
    panels = figure.subplots(len(timelines), 1, squeeze=False, sharex=True)[:, 0]
    shown: dict[str, Any] = {}
    for ax, (tag, (times, series)) in zip(panels, timelines.items(), strict=True):
        xs = [t / scale for t in times]
        states = [s for s, counts in series.items() if any(counts)]
        areas = ax.stackplot(
            xs,
            *(series[s] for s in states),
            colors=[STATE_COLOURS.get(s, OTHER_STATE_COLOUR) for s in states],
            step="post",
            alpha=0.85,
        )
        for state, area in zip(states, areas, strict=True):
            shown.setdefault(state, area)
        ax.set_ylabel("runs")
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.set_xlim(left=0)
        if data.comparison:
            ax.set_title(tag, fontsize=10, loc="left")
    panels[-1].set_xlabel(f"{unit} since the sweep's first run started")
    figure.suptitle(f"Runs by state over time ({len(data.runs)} runs)", fontsize=11, weight="bold")
    figure.legend(list(shown.values()), list(shown), loc="outside right upper")
    return figure
