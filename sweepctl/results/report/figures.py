"""The report's figures, each described once (:mod:`.figure`) from the gathered data.

Which figures a report has, and what each shows: the same descriptions become the PNGs, the
page's interactive plots and the live dashboard's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sweepctl.domain import RunState
from sweepctl.results.export import rank
from sweepctl.results.report.data import (
    MISSING,
    Column,
    ReportData,
    format_metric,
    format_value,
    is_number,
    value_label,
)
from sweepctl.results.report.figure import (
    AREA,
    COLUMNS,
    GRID,
    HBAR,
    LINE,
    POINTS,
    ROWS,
    STEP,
    Axis,
    Dimension,
    Figure,
    Panel,
    Parallel,
    Trace,
)
from sweepctl.results.report.stats import (
    Importance,
    best_so_far,
    state_timelines,
    time_unit,
)
from sweepctl.results.report.theme import (
    BEST_COLOUR,
    HISTORY_RUNS,
    MAX_FEATURES,
    NEGATIVE_COLOUR,
    PLAIN_COLOUR,
    POSITIVE_COLOUR,
    state_colour,
    sweep_colour,
    viridis,
)

if TYPE_CHECKING:
    from sweepctl.records import Run


def figures(data: ReportData, importance: Importance) -> list[Figure]:
    """Every figure the data allows, in the order of :data:`~.theme.PLOTS` (their files)."""
    made = [
        parallel_coordinates(data),
        importance_bars(data, importance),
        metric_vs_params(data),
        best_so_far_plot(data),
        history_plot(data),
        states_plot(data),
    ]
    return [f for f in made if f is not None]


def parallel_coordinates(data: ReportData) -> Figure | None:
    """Each run a line through its parameters and the metric, coloured by the metric."""
    metric = data.metric
    if metric is None or not data.scored:
        return None
    # Worst first, so the best runs are drawn on top.
    runs = sorted(data.scored, key=lambda r: r.metric if metric.maximize else -r.metric)
    dimensions = [_dimension(data, c, runs) for c in data.columns]
    dimensions.append(Dimension(metric.name, tuple(r.metric for r in runs)))
    best = next((i for i, r in enumerate(runs) if data.is_best(r)), None)
    return Figure(
        id="parallel",
        file="parallel_coordinates.png",
        title=f"Parallel coordinates: {len(runs)} runs, coloured by {metric.name}",
        parallel=Parallel(
            dimensions=tuple(dimensions),
            colour=tuple(r.metric for r in runs),
            colour_title=metric.name,
            reverse_scale=not metric.maximize,
            highlight=best,
            highlight_label=f"best run {runs[best].id}" if best is not None else "",
        ),
        width=max(750, 170 * len(dimensions) + 150),
        height=480,
    )


def _dimension(data: ReportData, column: Column, runs: list[Run]) -> Dimension:
    raw = [data.value(column, r) for r in runs]
    if column.categorical:
        return Dimension(
            column.name,
            tuple(None if v is MISSING else value_label(v) for v in raw),
            categories=tuple(value_label(level) for level in column.levels),
        )
    numbers = [v if is_number(v) else None for v in raw]
    log = column.log and all(n is None or n > 0 for n in numbers)
    return Dimension(column.name + (" (log)" if log else ""), tuple(numbers), log=log)


def importance_bars(data: ReportData, importance: Importance) -> Figure | None:
    """W&B's parameter-importance panel: forest importance beside correlation."""
    if data.metric is None or not importance.features:
        return None
    features = importance.features[:MAX_FEATURES]
    names = tuple(f.name for f in features)
    rows = Axis(categories=names, reverse=True)  # the most important on top
    sizes = tuple(f.importance for f in features)
    correlations = [f.correlation for f in features]
    left = Trace(
        HBAR,
        x=sizes,
        y=names,
        legend=False,
        text=tuple(f"{s:.2f}" for s in sizes),
        hover=tuple(f"{n}: importance {s:.3f}" for n, s in zip(names, sizes, strict=True)),
    )
    right = Trace(
        HBAR,
        x=tuple(c or 0.0 for c in correlations),
        y=names,
        legend=False,
        colour=tuple(POSITIVE_COLOUR if (c or 0.0) >= 0 else NEGATIVE_COLOUR for c in correlations),
        text=tuple("n/a" if c is None else f"{c:+.2f}" for c in correlations),
        hover=tuple(
            f"{n}: correlation {'n/a' if c is None else f'{c:+.3f}'}"
            for n, c in zip(names, correlations, strict=True)
        ),
    )
    top = max(0.05, max(sizes) * 1.2)
    return Figure(
        id="importance",
        file="importance.png",
        title=f"Parameter importance for {data.metric.name} ({importance.runs} runs)",
        panels=(
            Panel(Axis("importance (random forest)", range=(0.0, top)), rows, (left,)),
            Panel(
                Axis(f"correlation with {data.metric.name}", range=(-1.15, 1.15), zero_line=True),
                rows,
                (right,),
            ),
        ),
        arrange=COLUMNS,
        width=900,
        height=max(260, 35 * len(features) + 130),
    )


def metric_vs_params(data: ReportData) -> Figure | None:
    """One panel per parameter: the metric against its values (log x on a log scale)."""
    if data.metric is None or not data.scored or not data.params:
        return None
    return Figure(
        id="metric-vs",
        file="metric_vs_params.png",
        title=f"{data.metric.name} against each parameter ({len(data.scored)} runs)",
        panels=tuple(_metric_vs(data, column) for column in data.params),
        arrange=GRID,
        width=360,
        height=320,
    )


def _metric_vs(data: ReportData, column: Column) -> Panel:
    def x(run: Run) -> Any:
        value = data.value(column, run)
        if column.categorical:
            return None if value is MISSING else value_label(value)
        return float(value) if is_number(value) else None

    traces = []
    for index, sweep in enumerate(data.sweeps if data.comparison else data.sweeps[:1]):
        mine = [r for r in data.scored if not data.comparison or r.sweep_id == sweep.id]
        mine = [r for r in mine if x(r) is not None]
        traces.append(
            Trace(
                POINTS,
                x=tuple(x(r) for r in mine),
                y=tuple(r.metric for r in mine),
                name=data.tags[sweep.id],
                legend=data.comparison,
                colour=sweep_colour(index) if data.comparison else PLAIN_COLOUR,
                opacity=0.75,
                hover=tuple(_hover(data, r) for r in mine),
            )
        )
    xs = [v for t in traces for v in t.x]
    best = data.best
    if best is not None and x(best) is not None:
        traces.append(
            Trace(
                POINTS,
                x=(x(best),),
                y=(best.metric,),
                name="best run",
                colour=BEST_COLOUR,
                size=16,
                marker="star",
                front=True,
                hover=("best " + _hover(data, best),),
            )
        )
    x_axis = Axis(
        column.name + (" (log)" if column.log else ""),
        log=column.log and not column.categorical and all(v > 0 for v in xs),
        categories=tuple(value_label(v) for v in column.levels) if column.categorical else (),
    )
    return Panel(
        x_axis, Axis(data.metric_name), tuple(traces), title=column.name, key=_slug(column.name)
    )


def _hover(data: ReportData, run: Run) -> str:
    lines = [f"run {run.id}"]
    if data.comparison:
        lines.append(f"sweep: {data.tags[run.sweep_id]}")
    lines.append(f"{data.metric_name}: {format_metric(run.metric)}")
    lines.extend(f"{c.name}: {format_value(data.value(c, run))}" for c in data.params)
    lines.append(f"state: {run.state}")
    return "\n".join(lines)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def best_so_far_plot(data: ReportData) -> Figure | None:
    """The metric of each run in order, and the best so far as a step line."""
    series = best_so_far(data)
    if data.metric is None or not any(series.values()):
        return None
    traces = []
    for index, (tag, points) in enumerate(series.items()):
        if not points:
            continue
        colour = sweep_colour(index) if data.comparison else PLAIN_COLOUR
        prefix = f"{tag}: " if data.comparison else ""
        xs = tuple(p[0] for p in points)
        traces.append(
            Trace(
                POINTS,
                x=xs,
                y=tuple(p[1] for p in points),
                name=f"{prefix}each run",
                colour=colour,
                opacity=0.45,
                size=6,
                hover=tuple(f"run #{n}: {format_metric(v)}" for n, v, _ in points),
            )
        )
        traces.append(
            Trace(
                STEP,
                x=xs,
                y=tuple(p[2] for p in points),
                name=f"{prefix}best so far",
                colour=colour,
                width=2.8,
                hover=tuple(f"best after run #{n}: {format_metric(b)}" for n, _, b in points),
            )
        )
    goal = "higher" if data.metric.maximize else "lower"
    return Figure(
        id="best-so-far",
        file="best_so_far.png",
        title=f"Best {data.metric.name} so far ({goal} is better)",
        panels=(
            Panel(
                Axis("run (in the order they were created)", integer=True),
                Axis(data.metric.name),
                tuple(traces),
            ),
        ),
    )


def history_plot(data: ReportData) -> Figure | None:
    """The metric as each of the top runs logged it, step by step."""
    if data.metric is None or not any(data.curves.values()):
        return None
    top = data.top(HISTORY_RUNS)
    traces = []
    for index, run in enumerate(top):
        points = data.curves.get(run.id) or []
        if not points:
            continue
        best = data.is_best(run)
        where = f", {data.tags[run.sweep_id]}" if data.comparison else ""
        traces.append(
            Trace(
                LINE,
                x=tuple(p[0] for p in points),
                y=tuple(p[1] for p in points),
                name=f"#{index + 1} {run.id} ({format_metric(run.metric, 4)}{where})",
                # The best rank darkest; the best run itself stands out.
                colour=BEST_COLOUR if best else viridis(0.85 * index / max(1, len(top) - 1)),
                opacity=1.0 if best else 0.85,
                width=3.2 if best else 1.8,
                size=4,
                markers=len(points) <= 30,
                front=best,
            )
        )
    return Figure(
        id="history",
        file="history.png",
        title=f"{data.metric.name} during the top {len(traces)} runs",
        panels=(Panel(Axis("step", integer=True), Axis(data.metric.name), tuple(traces)),),
        legend_title="rank, run (best value)",
        height=420,
    )


def run_curves(data: ReportData, *, legend_max: int = 12, apart: int = 40) -> Figure | None:
    """The metric of every run, value by value as it logged it: the live dashboard's curves.

    Read from each run's own metric history (``Run.history``), so drawing every run of a
    large sweep costs no extra read. Running runs are drawn in the running colour, the best
    run over the rest, the others shaded along viridis by rank. Past ``apart`` runs, only the
    best, the running and the top ten keep a line of their own; every other run is drawn in
    one shared, pale series (its runs apart by gaps), so thousands of runs stay a
    description small enough to send every second and quick to draw.
    """
    metric = data.metric
    drawn = [r for r in data.runs if r.history]
    if metric is None or not drawn:
        return None
    ranked = rank(metric, data.scored)
    order = {r.id: i for i, r in enumerate(ranked)}
    crowd = len(drawn) > apart
    top = {r.id for r in ranked[:10]}
    traces = []
    rest: list[Run] = []
    for run in drawn:
        best = data.is_best(run)
        running = run.state == RunState.RUNNING.value
        if crowd and not (best or running or run.id in top):
            rest.append(run)
            continue
        if best:
            colour = BEST_COLOUR
        elif running:
            colour = state_colour(run.state)
        else:
            colour = viridis(0.85 * order.get(run.id, len(order)) / max(1, len(order)))
        values = _rounded(run.history)
        traces.append(
            Trace(
                LINE,
                x=tuple(range(len(values))),
                y=values,
                name=f"{run.id} ({run.state}, {format_metric(run.metric, 4)})",
                legend=len(drawn) <= legend_max,
                colour=colour,
                opacity=1.0 if best or running else 0.7,
                width=3.0 if best else 2.2 if running else 1.4,
                size=4,
                markers=len(values) <= 30 and len(drawn) <= legend_max,
                front=best or running,
            )
        )
    if rest:
        xs: list[Any] = []
        ys: list[Any] = []
        for run in rest:
            values = _rounded(run.history)
            xs.extend([*range(len(values)), None])
            ys.extend([*values, None])
        traces.insert(
            0,
            Trace(
                LINE,
                x=tuple(xs),
                y=tuple(ys),
                name=f"{len(rest)} other runs",
                legend=False,
                colour=PLAIN_COLOUR,
                opacity=0.25,
                width=1.0,
            ),
        )
    return Figure(
        id="curves",
        file="curves.png",
        title=f"{metric.name} as each run logged it ({len(drawn)} runs)",
        panels=(
            Panel(Axis("logged value (in order)", integer=True), Axis(metric.name), tuple(traces)),
        ),
        legend_title="run (state, metric)" if len(drawn) <= legend_max else "",
        height=420,
    )


def _rounded(values: list[float]) -> tuple[float, ...]:
    # Five significant digits are more than a plot shows, and keep the description small.
    return tuple(float(f"{v:.5g}") for v in values)


def states_plot(data: ReportData) -> Figure | None:
    """How many runs were running, finished, failed... at each moment; one panel a sweep."""
    timelines = state_timelines(data)
    if not timelines:
        return None
    scale, unit = time_unit(max(times[-1] for times, _ in timelines.values()))
    panels = []
    for index, (tag, (times, series)) in enumerate(timelines.items()):
        last = index == len(timelines) - 1
        xs = tuple(t / scale for t in times)
        traces = tuple(
            Trace(AREA, x=xs, y=tuple(counts), name=state, colour=state_colour(state), opacity=0.85)
            for state, counts in series.items()
            if any(counts)
        )
        panels.append(
            Panel(
                Axis(f"{unit} since the sweep's first run started" if last else "", from_zero=True),
                Axis("runs", integer=True, from_zero=True),
                traces,
                title=tag if data.comparison else "",
                key=_slug(tag),
            )
        )
    return Figure(
        id="states",
        file="states.png",
        title=f"Runs by state over time ({len(data.runs)} runs)",
        panels=tuple(panels),
        arrange=ROWS,
        height=120 + 230 * len(panels),
    )
