"""Figure descriptions drawn as PNGs with matplotlib's Agg renderer.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through pyplot, so
nothing here selects a GUI backend or leaves global figure state behind. matplotlib is
imported by the functions that draw (it is heavy, and optional: the `report` extra).
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepctl.outfile import write_output
from sweepctl.results.report.figure import (
    AREA,
    COLUMNS,
    GRID,
    HBAR,
    LINE,
    POINTS,
    ROWS,
    SINGLE,
    STEP,
    Axis,
    Figure,
    Panel,
    Parallel,
    Trace,
)
from sweepctl.results.report.theme import BEST_COLOUR

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as Picture

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
POINT = 72 / DPI  # one pixel in points
MAX_TICK_LABELS = 12
GRID_COLUMNS = 3
QUANTIZE_ABOVE = 150_000  # bytes: larger PNGs are stored with a 256-colour palette
MARKERS = {"circle": "o", "star": "*"}


def write_pngs(figures: list[Figure], out_dir: Path) -> list[Path]:
    """Draw each figure into ``out_dir`` as its PNG; returns the files written."""
    import matplotlib as mpl

    written = []
    with mpl.rc_context(STYLE):
        for figure in figures:
            path = out_dir / figure.file
            save(draw(figure), path)
            written.append(path)
    return written


def save(picture: Picture, path: Path) -> None:
    """Write a PNG atomically (a crash never leaves half an image)."""
    buffer = io.BytesIO()
    picture.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.15)
    png = buffer.getvalue()
    if len(png) > QUANTIZE_ABOVE:
        png = _quantized(png)
    write_output(path, png)


def _quantized(png: bytes) -> bytes:
    # Many translucent lines make millions of colours; 256 look the same at a quarter the size.
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    buffer = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
        buffer, format="PNG", optimize=True
    )
    return buffer.getvalue()


def draw(figure: Figure) -> Picture:
    """A matplotlib figure of one description."""
    from matplotlib.figure import Figure as Picture

    if figure.parallel is not None:
        return _parallel(figure, figure.parallel)
    count = len(figure.panels)
    ncols, nrows = {
        SINGLE: (1, 1),
        GRID: (min(GRID_COLUMNS, count), math.ceil(count / GRID_COLUMNS)),
        ROWS: (1, count),
        COLUMNS: (count, 1),
    }[figure.arrange]
    width, height = figure.width / DPI, figure.height / DPI
    if figure.arrange == GRID:
        width, height = width * ncols + 0.6, height * nrows + 0.6
    picture = Picture(figsize=(width, height), layout="constrained")
    grid = picture.subplots(
        nrows,
        ncols,
        squeeze=False,
        sharex=figure.arrange == ROWS,
        sharey=figure.arrange == COLUMNS,
    )
    cells = [ax for row in grid for ax in row]
    for index, (ax, panel) in enumerate(zip(cells, figure.panels, strict=False)):
        _panel(ax, panel)
        if index % ncols:  # the panel to its left says what y is
            ax.set_ylabel("")
            if figure.arrange == COLUMNS:
                ax.tick_params(axis="y", left=False)
    for ax in cells[count:]:
        ax.set_visible(False)
    if figure.arrange == SINGLE:
        cells[0].set_title(figure.title)
    else:
        picture.suptitle(figure.title, fontsize=11, weight="bold")
    _legend(picture, cells[0], figure)
    return picture


def _panel(ax: Axes, panel: Panel) -> None:
    areas = [t for t in panel.traces if t.kind == AREA]
    if areas:
        ax.stackplot(
            _positions(panel.x, areas[0].x),
            *(t.y for t in areas),
            colors=[t.colour for t in areas],
            labels=[t.name for t in areas],
            step="post",
            alpha=areas[0].opacity,
        )
    for trace in panel.traces:
        if trace.kind != AREA:
            _trace(ax, trace, panel)
    _axis(ax, panel.x, "x")
    _axis(ax, panel.y, "y")
    if panel.title:
        ax.set_title(panel.title, fontsize=10, loc="left")


def _positions(axis: Axis, values: tuple[Any, ...], spread: float = 0.0) -> list[float]:
    """Where values sit along an axis; categories at their index, shaken by ``spread``;
    None (a gap in a line) as NaN, which matplotlib leaves undrawn."""
    if not axis.categorical:
        return [math.nan if v is None else float(v) for v in values]
    rng = random.Random(0)  # the same picture every time
    return [axis.position(v) + (rng.uniform(-spread, spread) if spread else 0.0) for v in values]


def _trace(ax: Axes, trace: Trace, panel: Panel) -> None:
    style: dict[str, Any] = {
        "label": trace.name if trace.legend and trace.name else None,
        "alpha": trace.opacity,
        "zorder": 3 if trace.front else 2,
    }
    if trace.kind == POINTS:
        # Points at the same category are shaken sideways so that each can be seen.
        ax.scatter(
            _positions(panel.x, trace.x, spread=0.0 if trace.front else 0.18),
            _positions(panel.y, trace.y),
            **(
                {"c": list(trace.colour)}
                if isinstance(trace.colour, tuple)
                else {"color": trace.colour}
            ),
            s=(trace.size * POINT) ** 2,
            marker=MARKERS[trace.marker],
            edgecolors="white",
            linewidths=0.5,
            **style,
        )
    elif trace.kind in (LINE, STEP):
        ax.plot(
            _positions(panel.x, trace.x),
            _positions(panel.y, trace.y),
            color=trace.colour,
            linewidth=trace.width * POINT,
            marker="o" if trace.markers else None,
            markersize=trace.size * POINT,
            drawstyle="steps-post" if trace.kind == STEP else "default",
            **style,
        )
    elif trace.kind == HBAR:
        ys = _positions(panel.y, trace.y)
        ax.barh(ys, trace.x, color=trace.colour, height=0.6, **style)
        for x, y, text in zip(trace.x, ys, trace.text, strict=False):
            ax.annotate(
                text,
                (x, y),
                xytext=(3 if x >= 0 else -3, 0),
                textcoords="offset points",
                va="center",
                ha="left" if x >= 0 else "right",
                fontsize=8,
            )
    else:
        raise ValueError(f"no way to draw a {trace.kind!r} trace")


def _axis(ax: Axes, axis: Axis, which: str) -> None:
    from matplotlib.ticker import MaxNLocator

    x = which == "x"
    if axis.title:
        (ax.set_xlabel if x else ax.set_ylabel)(axis.title)
    limits = ax.set_xlim if x else ax.set_ylim
    if axis.categorical:
        labels = list(axis.categories)
        (ax.set_xticks if x else ax.set_yticks)(range(len(labels)), labels)
        ends = (-0.6, len(labels) - 0.4)
        limits(*(ends[::-1] if axis.reverse else ends))
        ax.grid(axis=which, visible=False)
        if x and max(map(len, labels), default=0) * len(labels) > 40:
            ax.tick_params(axis="x", labelrotation=30)
    if axis.log:
        (ax.set_xscale if x else ax.set_yscale)("log")
    if axis.integer:
        (ax.xaxis if x else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    if axis.range is not None:
        limits(*axis.range)
    if axis.from_zero:
        limits(0, None)
    if axis.zero_line:
        (ax.axvline if x else ax.axhline)(0, color="#444444", linewidth=0.8)


def _legend(picture: Picture, ax: Axes, figure: Figure) -> None:
    # One entry per name, whichever panels it is drawn in.
    entries: dict[str, Any] = {}
    for axes in picture.axes:
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if not entries:
        return
    handles, labels = list(entries.values()), list(entries)
    if figure.arrange == GRID:
        picture.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    elif figure.arrange != SINGLE:
        picture.legend(handles, labels, loc="outside right upper", title=figure.legend_title)
    elif figure.legend_title or len(labels) > 4:
        ax.legend(
            handles,
            labels,
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
            title=figure.legend_title,
        )
    else:
        ax.legend(handles, labels, loc="best")


def _parallel(figure: Figure, parallel: Parallel) -> Picture:
    """Each line through every dimension's axis (scaled 0 to 1), coloured along viridis."""
    import matplotlib as mpl
    from matplotlib.figure import Figure as Picture

    dimensions = parallel.dimensions
    n = len(dimensions)
    picture = Picture(figsize=(figure.width / DPI, figure.height / DPI))
    ax = picture.add_subplot()
    cmap = mpl.colormaps["viridis"]
    if parallel.reverse_scale:
        cmap = cmap.reversed()
    lo, hi = min(parallel.colour), max(parallel.colour)
    spans = [d.span() for d in dimensions]

    def scaled(position: float | None, span: tuple[float, float]) -> float:
        if position is None:
            return math.nan
        return 0.5 if span[1] == span[0] else (position - span[0]) / (span[1] - span[0])

    columns = [
        [scaled(p, s) for p in d.positions()] for d, s in zip(dimensions, spans, strict=True)
    ]
    for index, value in enumerate(parallel.colour):
        # A dimension the line has no value on: it goes straight past that axis.
        points = [(x, c[index]) for x, c in enumerate(columns) if not math.isnan(c[index])]
        best = index == parallel.highlight
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            color=BEST_COLOUR if best else cmap((value - lo) / (hi - lo) if hi > lo else 1.0),
            linewidth=2.6 if best else 1.2,
            alpha=1.0 if best else 0.75,
            zorder=3 if best else 2,
            label=parallel.highlight_label if best else None,
        )
    for x, (dimension, span) in enumerate(zip(dimensions, spans, strict=True)):
        ax.axvline(x, color="#444444", linewidth=1.0, zorder=1)
        ticks = dimension.ticks()
        for position, text in ticks[:: max(1, math.ceil(len(ticks) / MAX_TICK_LABELS))]:
            ax.text(
                x - 0.04,
                scaled(position, span),
                text,
                ha="right",
                va="center",
                fontsize=8,
                color="#333333",
                zorder=4,
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        ax.text(x, 1.06, dimension.label, ha="center", va="bottom", fontsize=9, weight="bold")
    ax.set_xlim(-0.45, n - 1 + 0.15)
    ax.set_ylim(-0.05, 1.05)
    ax.axis("off")
    mappable = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(vmin=lo, vmax=hi), cmap=cmap)
    bar = picture.colorbar(mappable, ax=ax, pad=0.02, fraction=0.03)
    bar.set_label(parallel.colour_title)
    if parallel.highlight is not None:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=1)
    ax.set_title(figure.title, y=1.1)
    return picture
