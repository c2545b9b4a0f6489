"""The report as one self-contained interactive page: Plotly's JavaScript and the data inline.

The page needs no network when it is opened: ``plotly.min.js`` is read from the installed
``plotly`` package and written into the page, and every figure is a JavaScript literal in it.
"""

from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

from sweepctl.results.export import write_text
from sweepctl.results.report import (
    BEST_COLOUR,
    HISTORY_RUNS,
    MISSING,
    OTHER_STATE_COLOUR,
    STATE_COLOURS,
    SWEEP_COLOURS,
    Column,
    Importance,
    ReportData,
    Section,
    Table,
    best_so_far,
    format_metric,
    format_value,
    state_timelines,
    time_unit,
    title,
    value_label,
)

FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}
MAX_FEATURES = 20
# viridis at ten steps: the top runs' curves, best rank darkest (as in the PNG).
VIRIDIS_10 = (
    "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
)  # fmt: skip


def plotly_js() -> str:
    """The minified plotly.js bundled with the ``plotly`` Python package."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_page(data: ReportData, importance: Importance, content: list[Section], out: Path) -> Path:
    """Write ``report.html``: the tables of ``content`` and every figure, interactive."""
    write_text(out, page(data, importance, content))
    return out


def page(data: ReportData, importance: Importance, content: list[Section]) -> str:
    figures = build_figures(data, importance)
    body = []
    for section in content:
        body.append(_section(section))
        if section.key == "best" and figures:
            body.append(_plots(figures))
    script = _script_literal(
        json.dumps([{"id": f["id"], "data": f["data"], "layout": f["layout"]} for f in figures])
    )
    heading = escape(title(data))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="sweepctl">
<title>{heading}</title>
<style>{CSS}</style>
<script>{_script_literal(plotly_js())}</script>
</head>
<body>
<main>
<h1>{heading}</h1>
{"".join(body)}
</main>
<script>
const FIGURES = {script};
{PAGE_JS}
</script>
</body>
</html>
"""


def _script_literal(text: str) -> str:
    # Inside <script>, only "</" can end the element early; "<\\/" means the same to JavaScript.
    return text.replace("</", "<\\/")


def _section(section: Section) -> str:
    parts = [f'<section id="{escape(section.key)}"><h2>{escape(section.title)}</h2>']
    for block in section.blocks:
        if isinstance(block, Table):
            parts.append(_table(block, sortable=section.key == "top"))
        else:
            parts.append(f"<p>{escape(block)}</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _table(table: Table, *, sortable: bool) -> str:
    def cell(tag: str, text: str, index: int) -> str:
        align = ' class="num"' if index in table.right else ""
        return f"<{tag}{align}>{escape(text)}</{tag}>"

    head = "".join(cell("th", h, i) for i, h in enumerate(table.headers))
    rows = "".join(
        "<tr>" + "".join(cell("td", c, i) for i, c in enumerate(row)) + "</tr>"
        for row in table.rows
    )
    plain = not any(table.headers)
    header = "" if plain else f"<thead><tr>{head}</tr></thead>"
    kind = ' class="sortable"' if sortable else (' class="facts"' if plain else "")
    return f'<div class="scroll"><table{kind}>{header}<tbody>{rows}</tbody></table></div>'


def _plots(figures: list[dict[str, Any]]) -> str:
    parts = ['<section id="plots"><h2>Plots</h2>']
    grid: list[str] = []
    for figure in figures:
        div = f'<div class="plot" id="{figure["id"]}" style="height:{figure["height"]}px"></div>'
        if figure.get("small"):
            if not grid:
                parts.append(f"<h3>{escape(figure['small'])}</h3>")
            grid.append(div)
            continue
        if grid:
            parts.append('<div class="grid">' + "".join(grid) + "</div>")
            grid = []
        parts.append(div)
    if grid:
        parts.append('<div class="grid">' + "".join(grid) + "</div>")
    parts.append("</section>")
    return "\n".join(parts)


# -- figures ----------------------------------------------------------------------------------


def build_figures(data: ReportData, importance: Importance) -> list[dict[str, Any]]:
    """Every figure the data allows, as ``{id, data, layout, height}`` for Plotly.newPlot."""
    figures: list[dict[str, Any]] = []
    if data.metric is not None and data.scored:
        figures.append(_parallel(data))
    if data.metric is not None and importance.features:
        figures.append(_importance(data, importance))
    if data.metric is not None and data.scored:
        figures.extend(_metric_vs(data, column) for column in data.params)
        figures.append(_best_so_far(data))
    if data.metric is not None and any(data.curves.values()):
        figures.append(_history(data))
    if data.runs:
        figures.append(_states(data))
    return figures


def _layout(title_: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": f"<b>{escape(title_)}</b>", "x": 0.01, "xanchor": "left"},
        "font": FONT,
        "margin": {"l": 60, "r": 30, "t": 60, "b": 50},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "closest",
        **extra,
    }


def _axis(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": escape(text)},
        "gridcolor": "#e5e5e5",
        "zeroline": False,
        "linecolor": "#444",
        "showline": True,
        "ticks": "outside",
        **extra,
    }


def _hover(data: ReportData, run: Any) -> str:
    lines = [f"<b>run {escape(run.id)}</b>"]
    if data.comparison:
        lines.append(f"sweep: {escape(data.tags[run.sweep_id])}")
    lines.append(f"{escape(data.metric_name)}: {format_metric(run.metric)}")
    lines.extend(
        f"{escape(c.name)}: {escape(format_value(data.value(c, run)))}" for c in data.params
    )
    lines.append(f"state: {escape(run.state)}")
    return "<br>".join(lines)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _dimension(data: ReportData, column: Column, runs: list[Any]) -> dict[str, Any]:
    """A parcoords axis; categoricals at positions, log scales as log10, missing at the foot."""
    raw = [data.value(column, r) for r in runs]
    if column.categorical:
        values = [-1 if v is MISSING else column.position(v) for v in raw]
        labels = [value_label(level) for level in column.levels]
        ticks = list(range(len(labels)))
        if any(v == -1 for v in values):
            ticks, labels = [-1, *ticks], ["(none)", *labels]
        return {
            "label": column.name,
            "values": values,
            "tickvals": ticks,
            "ticktext": labels,
            "range": [min(ticks) - 0.1, max(ticks) + 0.1] if len(ticks) > 1 else None,
        }
    numbers = [_number(v) for v in raw]
    log = column.log and all(n is None or n > 0 for n in numbers)
    shown = [None if n is None else (math.log10(n) if log else n) for n in numbers]
    known = [v for v in shown if v is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 1.0)
    foot = lo - 0.1 * ((hi - lo) or 1.0)
    values = [foot if v is None else v for v in shown]
    dimension: dict[str, Any] = {"label": column.name + (" (log)" if log else ""), "values": values}
    if log and known:
        ticks = [lo + (hi - lo) * i / 4 for i in range(5)] if hi > lo else [lo]
        dimension["tickvals"] = ticks
        dimension["ticktext"] = [f"{10**t:.3g}" for t in ticks]
    if any(v is None for v in shown):
        dimension.setdefault("tickvals", [lo + (hi - lo) * i / 4 for i in range(5)])
        dimension.setdefault("ticktext", [f"{t:.3g}" for t in dimension["tickvals"]])
        dimension["tickvals"] = [foot, *dimension["tickvals"]]
        dimension["ticktext"] = ["(none)", *dimension["ticktext"]]
    return dimension


def _parallel(data: ReportData) -> dict[str, Any]:
    runs = data.scored
    metric = data.metric
    assert metric is not None
    dimensions = [_dimension(data, c, runs) for c in data.columns]
    dimensions.append({"label": metric.name, "values": [r.metric for r in runs]})
    for dimension in dimensions:
        if dimension.get("range") is None:
            dimension.pop("range", None)
    trace = {
        "type": "parcoords",
        "dimensions": dimensions,
        "line": {
            "color": [r.metric for r in runs],
            "colorscale": "Viridis",
            "reversescale": not metric.maximize,
            "showscale": True,
            "colorbar": {"title": {"text": escape(metric.name)}},
        },
        "labelangle": 0,
        "labelside": "top",
        "labelfont": {"size": 13},
        "tickfont": {"size": 11},
    }
    # The first axis's tick labels sit to its left: leave them room.
    first = max((len(str(t)) for t in dimensions[0].get("ticktext", ["0.000"])), default=5)
    layout = _layout(
        f"Parallel coordinates: {len(runs)} runs, coloured by {metric.name}",
        margin={"l": max(70, 20 + 7 * first), "r": 40, "t": 110, "b": 30},
    )
    return {"id": "plot-parallel", "data": [trace], "layout": layout, "height": 480}


def _importance(data: ReportData, importance: Importance) -> dict[str, Any]:
    features = list(importance.features[:MAX_FEATURES])
    names = [escape(f.name) for f in features]
    correlations = [f.correlation for f in features]
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "y": names,
            "x": [f.importance for f in features],
            "marker": {"color": "#4c72b0"},
            "name": "importance",
            "text": [f"{f.importance:.2f}" for f in features],
            "textposition": "outside",
            "hovertemplate": "%{y}: importance %{x:.3f}<extra></extra>",
        },
        {
            "type": "bar",
            "orientation": "h",
            "y": names,
            "x": [c or 0.0 for c in correlations],
            "xaxis": "x2",
            "marker": {"color": ["#2ca02c" if (c or 0) >= 0 else "#d62728" for c in correlations]},
            "name": "correlation",
            "text": ["n/a" if c is None else f"{c:+.2f}" for c in correlations],
            "textposition": "outside",
            "hovertemplate": "%{y}: correlation %{x:+.3f}<extra></extra>",
        },
    ]
    top = max(0.05, max(f.importance for f in features) * 1.2)
    layout = _layout(
        f"Parameter importance for {data.metric_name} ({importance.runs} runs)",
        showlegend=False,
        xaxis=_axis("importance (random forest)", domain=[0, 0.46], range=[0, top]),
        xaxis2=_axis(f"correlation with {data.metric_name}", domain=[0.54, 1], range=[-1.15, 1.15]),
        yaxis=_axis("", autorange="reversed", automargin=True, ticks=""),
        margin={"l": 140, "r": 30, "t": 60, "b": 50},
    )
    height = max(260, 34 * len(features) + 130)
    return {"id": "plot-importance", "data": traces, "layout": layout, "height": height}


def _metric_vs(data: ReportData, column: Column) -> dict[str, Any]:
    runs = data.scored
    sweeps = data.sweeps if data.comparison else data.sweeps[:1]
    traces = []
    for index, sweep in enumerate(sweeps):
        mine = [r for r in runs if not data.comparison or r.sweep_id == sweep.id]
        mine = [r for r in mine if data.value(column, r) is not MISSING]
        colour = SWEEP_COLOURS[index % len(SWEEP_COLOURS)] if data.comparison else "#4c72b0"
        trace: dict[str, Any] = {
            "name": escape(data.tags[sweep.id]),
            "showlegend": data.comparison,
            "legendgroup": sweep.id,
            "y": [r.metric for r in mine],
            "text": [_hover(data, r) for r in mine],
            "hovertemplate": "%{text}<extra></extra>",
            "marker": {"color": colour, "size": 7, "opacity": 0.75},
        }
        if column.categorical:
            trace.update(
                type="box",
                x=[escape(value_label(data.value(column, r))) for r in mine],
                boxpoints="all",
                jitter=0.5,
                pointpos=0,
                line={"color": colour, "width": 1},
                fillcolor="rgba(0,0,0,0)",
            )
        else:
            trace.update(
                type="scatter",
                mode="markers",
                x=[_number(data.value(column, r)) for r in mine],
            )
        traces.append(trace)
    best = data.best
    if best is not None and data.value(column, best) is not MISSING:
        value = data.value(column, best)
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "best run",
                "showlegend": False,
                "x": [escape(value_label(value)) if column.categorical else _number(value)],
                "y": [best.metric],
                "text": [_hover(data, best)],
                "hovertemplate": "<b>best</b> %{text}<extra></extra>",
                "marker": {"symbol": "star", "size": 16, "color": BEST_COLOUR},
            }
        )
    xaxis = _axis(column.name + (" (log)" if column.log else ""))
    if column.categorical:
        xaxis.update(
            type="category",
            categoryorder="array",
            categoryarray=[escape(value_label(level)) for level in column.levels],
        )
    elif column.log:
        xaxis["type"] = "log"
    layout = _layout(
        column.name,
        xaxis=xaxis,
        yaxis=_axis(data.metric_name),
        boxmode="group" if data.comparison else "overlay",
        showlegend=data.comparison,
        legend={"orientation": "h", "y": -0.3},
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
    )
    return {
        "id": f"plot-metric-vs-{_slug(column.name)}",
        "data": traces,
        "layout": layout,
        "height": 340,
        "small": f"{data.metric_name} against each parameter ({len(runs)} runs)",
    }


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _best_so_far(data: ReportData) -> dict[str, Any]:
    traces = []
    for index, (tag, points) in enumerate(best_so_far(data).items()):
        if not points:
            continue
        colour = SWEEP_COLOURS[index % len(SWEEP_COLOURS)] if data.comparison else "#4c72b0"
        name = escape(tag) + ": " if data.comparison else ""
        xs = [p[0] for p in points]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": f"{name}each run",
                "x": xs,
                "y": [p[1] for p in points],
                "marker": {"color": colour, "opacity": 0.45, "size": 7},
                "hovertemplate": "run #%{x}: %{y}<extra></extra>",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{name}best so far",
                "x": xs,
                "y": [p[2] for p in points],
                "line": {"color": colour, "width": 2.5, "shape": "hv"},
                "hovertemplate": "best after run #%{x}: %{y}<extra></extra>",
            }
        )
    goal = "higher" if data.metric and data.metric.maximize else "lower"
    layout = _layout(
        f"Best {data.metric_name} so far ({goal} is better)",
        xaxis=_axis("run (in the order they were created)"),
        yaxis=_axis(data.metric_name),
    )
    return {"id": "plot-best-so-far", "data": traces, "layout": layout, "height": 380}


def _history(data: ReportData) -> dict[str, Any]:
    traces = []
    for index, run in enumerate(data.top(HISTORY_RUNS)):
        points = data.curves.get(run.id) or []
        if not points:
            continue
        best = data.best is not None and run.id == data.best.id
        where = f", {data.tags[run.sweep_id]}" if data.comparison else ""
        traces.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": escape(f"#{index + 1} {run.id} ({format_metric(run.metric, 4)}{where})"),
                "x": [p[0] for p in points],
                "y": [p[1] for p in points],
                "line": {"width": 3 if best else 1.5, **({"color": BEST_COLOUR} if best else {})},
                "marker": {"size": 4},
            }
        )
    layout = _layout(
        f"{data.metric_name} during the top {len(traces)} runs",
        xaxis=_axis("step"),
        yaxis=_axis(data.metric_name),
        legend={"title": {"text": "rank, run (best value)"}},
        colorway=VIRIDIS_10,
    )
    return {"id": "plot-history", "data": traces, "layout": layout, "height": 420}


def _states(data: ReportData) -> dict[str, Any]:
    timelines = state_timelines(data)
    scale, unit = time_unit(max(times[-1] for times, _ in timelines.values()))
    count = len(timelines)
    gap = 0.12 if count > 1 else 0.0
    height = (1 - gap * (count - 1)) / count
    traces: list[dict[str, Any]] = []
    layout = _layout(
        f"Runs by state over time ({len(data.runs)} runs)",
        hovermode="x unified",
        annotations=[],
    )
    legend: set[str] = set()
    for index, (tag, (times, series)) in enumerate(timelines.items()):
        suffix = "" if index == 0 else str(index + 1)
        top = 1 - index * (height + gap)
        for state, counts in series.items():
            if not any(counts):
                continue
            colour = STATE_COLOURS.get(state, OTHER_STATE_COLOUR)
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "stackgroup": f"states{suffix}",
                    "name": state,
                    "legendgroup": state,
                    "showlegend": state not in legend,
                    "x": [t / scale for t in times],
                    "y": counts,
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                    "line": {"shape": "hv", "width": 0.5, "color": colour},
                    "fillcolor": colour,
                }
            )
            legend.add(state)
        last = index == count - 1
        layout[f"xaxis{suffix}"] = _axis(
            f"{unit} since the sweep's first run started" if last else "",
            anchor=f"y{suffix}",
            rangemode="tozero",
        )
        layout[f"yaxis{suffix}"] = _axis(
            "runs", anchor=f"x{suffix}", domain=[top - height, top], rangemode="tozero"
        )
        if data.comparison:
            layout["annotations"].append(
                {
                    "text": f"<b>{escape(tag)}</b>",
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0,
                    "y": top,
                    "xanchor": "left",
                    "yanchor": "bottom",
                    "showarrow": False,
                }
            )
    return {"id": "plot-states", "data": traces, "layout": layout, "height": 120 + 220 * count}


CSS = """
body { margin: 0; background: #f6f7f9; color: #1d2430;
  font: 14px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 24px; margin: 8px 0 16px; }
h2 { font-size: 18px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 16px 0 4px 12px; }
section { background: white; border: 1px solid #e1e4e8; border-radius: 8px;
  padding: 16px 20px; margin: 16px 0; }
p { margin: 8px 0; color: #444; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 12px; border-bottom: 1px solid #eceef1; text-align: left;
  white-space: nowrap; }
th { background: #f3f4f6; font-weight: 600; }
td.num, th.num { text-align: right; }
table.facts td:first-child { font-weight: 600; color: #555; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { background: #e6e9ee; }
tbody tr:hover { background: #f8fafc; }
.plot { width: 100%; margin: 8px 0 20px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr));
  gap: 8px 16px; }
.grid .plot { margin: 0; }
"""

# Plots every figure, then marks the page: data-rendered (figures drawn) or data-errors.
PAGE_JS = """
window.addEventListener("error", (e) => {
  document.body.dataset.errors = (document.body.dataset.errors || "") + e.message + "\\n";
});
const CONFIG = {responsive: true, displaylogo: false};
Promise.all(FIGURES.map((f) => Plotly.newPlot(f.id, f.data, f.layout, CONFIG)))
  .then(() => { document.body.dataset.rendered = String(FIGURES.length); })
  .catch((e) => { document.body.dataset.errors = String(e); });
for (const table of document.querySelectorAll("table.sortable")) {
  table.querySelectorAll("th").forEach((th, index) => {
    th.addEventListener("click", () => {
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      const up = th.dataset.order !== "asc";
      const key = (row) => {
        const text = row.cells[index].textContent;
        const number = parseFloat(text);
        return Number.isNaN(number) ? text : number;
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const order = typeof x === "number" && typeof y === "number" ? x - y
          : String(x).localeCompare(String(y));
        return up ? order : -order;
      });
      th.dataset.order = up ? "asc" : "desc";
      rows.forEach((row) => body.appendChild(row));
    });
  });
}
"""
