"""The report as one self-contained interactive page: its sections, and every figure
description drawn by Plotly's JavaScript, inlined with the data.

The page needs no network when it is opened: ``plotly.min.js`` is read from the installed
``plotly`` package and written into the page, and every figure is a JavaScript literal in it.
Text that plotly reads as markup (titles, names, labels, hover) is HTML-escaped.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from sweepctl.outfile import write_output
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
from sweepctl.results.report.markdown import Section, Table

FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", "size": 12}
GAPS = {COLUMNS: 0.08, ROWS: 0.12}  # between panels, as a part of the plot area


def plotly_js() -> str:
    """The minified plotly.js bundled with the ``plotly`` Python package."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def write_page(title: str, content: list[Section], figures: list[Figure], out: Path) -> Path:
    """Write ``report.html``: the sections of ``content`` and every figure, interactive."""
    write_output(out, page(title, content, figures))
    return out


def page(title: str, content: list[Section], figures: list[Figure]) -> str:
    body = []
    for section in content:
        body.append(_section(section))
        if section.key == "best" and figures:
            body.append(_plots(figures))
    plots = [plot for figure in figures for plot in plotly_figures(figure)]
    script = _script_literal(
        json.dumps([{"id": p["id"], "data": p["data"], "layout": p["layout"]} for p in plots])
    )
    heading = escape(title)
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


def _plots(figures: list[Figure]) -> str:
    """The plot elements: a figure's GRID panels as small plots under its title."""
    parts = ['<section id="plots"><h2>Plots</h2>']
    for figure in figures:
        divs = "".join(
            f'<div class="plot" id="{p["id"]}" style="height:{p["height"]}px"></div>'
            for p in plotly_figures(figure)
        )
        if figure.arrange == GRID:
            parts.append(f'<h3>{escape(figure.title)}</h3><div class="grid">{divs}</div>')
        else:
            parts.append(divs)
    parts.append("</section>")
    return "\n".join(parts)


# -- figures ----------------------------------------------------------------------------------


def plotly_figures(figure: Figure) -> list[dict[str, Any]]:
    """A description as ``{id, data, layout, height}`` for Plotly.newPlot: one per GRID panel."""
    element = f"plot-{figure.id}"
    if figure.parallel is not None:
        return [_parallel(element, figure, figure.parallel)]
    if figure.arrange == GRID:
        return [
            _plot(f"{element}-{panel.key}", panel.title, [panel], figure, small=True)
            for panel in figure.panels
        ]
    return [_plot(element, figure.title, list(figure.panels), figure)]


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": f"<b>{escape(title)}</b>", "x": 0.01, "xanchor": "left"},
        "font": FONT,
        "margin": {"l": 60, "r": 30, "t": 60, "b": 50},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "closest",
        **extra,
    }


def _axis(axis: Axis, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "title": {"text": escape(axis.title)},
        "gridcolor": "#e5e5e5",
        "zeroline": axis.zero_line,
        "zerolinecolor": "#444",
        "linecolor": "#444",
        "showline": True,
        "ticks": "outside",
    }
    if axis.categorical:
        out.update(
            type="category",
            categoryorder="array",
            categoryarray=[escape(c) for c in axis.categories],
        )
    elif axis.log:
        out["type"] = "log"
    if axis.reverse:
        out["autorange"] = "reversed"
    if axis.range is not None:
        out["range"] = list(axis.range)
    if axis.from_zero:
        out["rangemode"] = "tozero"
    return {**out, **extra}


def _plot(
    element: str, title: str, panels: list[Panel], figure: Figure, *, small: bool = False
) -> dict[str, Any]:
    """Panels in one plot: side by side (COLUMNS, one y axis) or one above the other."""
    gap = GAPS.get(figure.arrange, 0.0)
    share = (1 - gap * (len(panels) - 1)) / len(panels)
    layout = _layout(title)
    traces: list[dict[str, Any]] = []
    named: set[str] = set()
    for index, panel in enumerate(panels):
        suffix = "" if index == 0 else str(index + 1)
        x, y = f"x{suffix}", "y" if figure.arrange == COLUMNS else f"y{suffix}"
        start = round(index * (share + gap), 9)  # plotly refuses -1e-17 as a domain
        if figure.arrange == COLUMNS:
            layout[f"xaxis{suffix}"] = _axis(panel.x, domain=[start, start + share])
            layout["yaxis"] = _axis(panel.y, ticks="", automargin=True)  # names of the rows
        else:
            top = 1 - start
            bottom = max(0.0, round(top - share, 9))
            layout[f"xaxis{suffix}"] = _axis(panel.x, anchor=y)
            layout[f"yaxis{suffix}"] = _axis(panel.y, anchor=x, domain=[bottom, top])
            if panel.title and not small:
                layout.setdefault("annotations", []).append(_panel_title(panel.title, top))
        # Front traces last, so they are drawn over the others; the legend keeps the order.
        first = len(traces)
        for rank, trace in sorted(enumerate(panel.traces), key=lambda p: p[1].front):
            drawn = _trace(trace, panel, x, y, f"stack{suffix}", named)
            traces.append({**drawn, "legendrank": first + rank})
    boxes = sum(t["type"] == "box" for t in traces)
    # As plotly does by default: a legend of one entry says nothing the title does not.
    layout.update(boxmode="group" if boxes > 1 else "overlay", showlegend=len(named) > 1)
    if figure.legend_title:
        layout["legend"] = {"title": {"text": escape(figure.legend_title)}}
    if any(t.kind == AREA for p in panels for t in p.traces):
        layout["hovermode"] = "x unified"  # how many runs in each state at one moment
    if small:
        layout["legend"] = {"orientation": "h", "y": -0.3}
        layout["margin"] = {"l": 60, "r": 20, "t": 50, "b": 50}
    return {"id": element, "data": traces, "layout": layout, "height": figure.height}


def _panel_title(text: str, top: float) -> dict[str, Any]:
    return {
        "text": f"<b>{escape(text)}</b>",
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": top,
        "xanchor": "left",
        "yanchor": "bottom",
        "showarrow": False,
    }


def _hover(lines: str) -> str:
    head, *rest = [escape(line) for line in lines.split("\n")]
    return "<br>".join([f"<b>{head}</b>" if rest else head, *rest])


def _values(axis: Axis, values: tuple[Any, ...]) -> list[Any]:
    return [escape(v) for v in values] if axis.categorical else list(values)


def _trace(
    trace: Trace, panel: Panel, x: str, y: str, stack: str, named: set[str]
) -> dict[str, Any]:
    colour = list(trace.colour) if isinstance(trace.colour, tuple) else trace.colour
    out: dict[str, Any] = {
        "x": _values(panel.x, trace.x),
        "y": _values(panel.y, trace.y),
        "xaxis": x,
        "yaxis": y,
        "name": escape(trace.name),
        "legendgroup": escape(trace.name),
        "showlegend": trace.legend and bool(trace.name) and trace.name not in named,
    }
    if out["showlegend"]:
        named.add(trace.name)
    if trace.hover:
        out.update(hovertext=[_hover(h) for h in trace.hover], hoverinfo="text")
    marker = {"color": colour, "size": trace.size, "opacity": trace.opacity}
    if trace.kind == POINTS and panel.x.categorical and not trace.front:
        # Many runs share a category: a box of their spread, every point shaken beside it.
        out.update(
            type="box",
            boxpoints="all",
            jitter=0.5,
            pointpos=0,
            line={"color": colour, "width": 1},
            fillcolor="rgba(0,0,0,0)",
            marker=marker,
        )
    elif trace.kind == POINTS:
        out.update(
            type="scatter",
            mode="markers",
            marker={**marker, "symbol": trace.marker},
        )
    elif trace.kind in (LINE, STEP, AREA):
        out.update(
            type="scatter",
            mode="lines+markers" if trace.markers else "lines",
            line={
                "color": colour,
                "width": 0.5 if trace.kind == AREA else trace.width,
                "shape": "linear" if trace.kind == LINE else "hv",
            },
            opacity=trace.opacity,
        )
        if trace.markers:
            out["marker"] = {"color": colour, "size": trace.size}
        if trace.kind == AREA:
            out.update(stackgroup=stack, fillcolor=colour)
    elif trace.kind == HBAR:
        out.update(
            type="bar",
            orientation="h",
            marker={"color": colour},
            text=[escape(t) for t in trace.text],
            textposition="outside",
        )
    else:
        raise ValueError(f"no way to draw a {trace.kind!r} trace")
    return out


def _dimension(dimension: Dimension) -> dict[str, Any]:
    """A parcoords axis; categories at their index, log as log10, missing values at the foot.

    Plotly reads tags in the axis title but writes tick labels as plain text: only the title
    is escaped.
    """
    positions = dimension.positions()
    missing = any(p is None for p in positions)
    lo, hi = dimension.span()
    foot = -1.0 if dimension.categories else lo - 0.1 * ((hi - lo) or 1.0)
    # Plotly picks the ticks of a plain numeric axis itself.
    ticks = dimension.ticks() if dimension.categories or dimension.log or missing else []
    if missing:
        ticks = [(foot, "(none)"), *ticks]
    out: dict[str, Any] = {
        "label": escape(dimension.label),
        "values": [foot if p is None else p for p in positions],
    }
    if ticks:
        out["tickvals"] = [p for p, _ in ticks]
        out["ticktext"] = [t for _, t in ticks]
    if dimension.categories and len(ticks) > 1:
        out["range"] = [ticks[0][0] - 0.1, ticks[-1][0] + 0.1]
    return out


def _parallel(element: str, figure: Figure, parallel: Parallel) -> dict[str, Any]:
    dimensions = [_dimension(d) for d in parallel.dimensions]
    trace = {
        "type": "parcoords",
        "dimensions": dimensions,
        "line": {
            "color": list(parallel.colour),
            "colorscale": "Viridis",
            "reversescale": parallel.reverse_scale,
            "showscale": True,
            "colorbar": {"title": {"text": escape(parallel.colour_title)}},
        },
        "labelangle": 0,
        "labelside": "top",
        "labelfont": {"size": 13},
        "tickfont": {"size": 11},
    }
    # The first axis's tick labels sit to its left: leave them room.
    first = max((len(t) for t in dimensions[0].get("ticktext", ["0.000"])), default=5)
    layout = _layout(
        figure.title,
        margin={"l": max(70, 20 + 7 * first), "r": 40, "t": 110, "b": 30},
    )
    return {"id": element, "data": [trace], "layout": layout, "height": figure.height}


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
