"""What a figure is, as plain data: the description every renderer draws.

A :class:`Figure` is a title and either panels (axes holding traces) or parallel coordinates.
It says what to show (values, labels, colours, log or categorical axes, what is drawn over
the rest), not how: :mod:`.png` draws descriptions with matplotlib, :mod:`.html` with
plotly.js, and the live dashboard draws the same ones. Nothing here imports a plotting
library or knows about runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from sweepctl.results.report.theme import PLAIN_COLOUR

# Trace kinds.
POINTS = "points"  # a marker at each (x, y)
LINE = "line"  # points joined in order
STEP = "step"  # each y held until the next x
AREA = "area"  # like STEP, filled and stacked on the panel's earlier areas (same x)
HBAR = "hbar"  # horizontal bars: y the categories, x the lengths
# How a figure's panels are arranged.
SINGLE = "single"
GRID = "grid"  # small multiples, read one by one
ROWS = "rows"  # one above the other, sharing x
COLUMNS = "columns"  # side by side, sharing y


@dataclass(frozen=True)
class Axis:
    """One axis of a panel."""

    title: str = ""
    log: bool = False
    categories: tuple[str, ...] = ()  # a categorical axis: these labels, first at 0
    reverse: bool = False  # categories: the first at the top (y) or the right (x)
    integer: bool = False  # ticks at whole numbers (counts, run numbers), where it can
    range: tuple[float, float] | None = None
    zero_line: bool = False  # a line across the panel at 0
    from_zero: bool = False  # the axis starts at 0

    @property
    def categorical(self) -> bool:
        return bool(self.categories)

    def position(self, label: str) -> int:
        """Where a label sits on a categorical axis."""
        return self.categories.index(label)


@dataclass(frozen=True)
class Trace:
    """One series of a panel. On a categorical axis its values are category labels; in a
    LINE, a None in x and y is a gap (several lines in one series)."""

    kind: str  # POINTS, LINE, STEP, AREA or HBAR
    x: tuple[Any, ...]
    y: tuple[Any, ...]
    name: str = ""  # in the legend (once per name in a figure)
    legend: bool = True
    colour: str | tuple[str, ...] = PLAIN_COLOUR  # one, or one per point
    opacity: float = 1.0
    width: float = 1.5  # lines, in pixels
    size: float = 7.0  # markers: diameter in pixels
    marker: str = "circle"  # or "star"
    markers: bool = False  # LINE: a marker at each point too
    front: bool = False  # drawn over the others (the best run)
    text: tuple[str, ...] = ()  # HBAR: a label at the end of each bar
    hover: tuple[str, ...] = ()  # each point's details, lines joined by "\n"


@dataclass(frozen=True)
class Panel:
    """One set of axes and what is drawn on them."""

    x: Axis
    y: Axis
    traces: tuple[Trace, ...]
    title: str = ""
    key: str = ""  # names the panel among its figure's (safe in ids and file names)


@dataclass(frozen=True)
class Dimension:
    """One axis of parallel coordinates; ``values`` has one entry per line, None if missing."""

    label: str
    values: tuple[Any, ...]  # numbers, or labels of ``categories``
    log: bool = False
    categories: tuple[str, ...] = ()

    def positions(self) -> list[float | None]:
        """Each value on the axis: a category's index, log10 on a log axis, else the number."""
        if self.categories:
            where = {label: self.categories.index(label) for label in self.categories}
            return [None if v is None else float(where[v]) for v in self.values]
        return [None if v is None else math.log10(v) if self.log else float(v) for v in self.values]

    def span(self) -> tuple[float, float]:
        """The lowest and highest position the axis covers."""
        if self.categories:
            return 0.0, float(max(1, len(self.categories) - 1))
        known = [p for p in self.positions() if p is not None]
        return (min(known), max(known)) if known else (0.0, 1.0)

    def ticks(self) -> list[tuple[float, str]]:
        """(position, label): every category, else five even steps (values on a log axis)."""
        if self.categories:
            return [(float(i), label) for i, label in enumerate(self.categories)]
        lo, hi = self.span()
        steps = [lo] if hi == lo else [lo + (hi - lo) * i / 4 for i in range(5)]
        return [(p, tick_label(10**p if self.log else p)) for p in steps]


@dataclass(frozen=True)
class Parallel:
    """Parallel coordinates: each line one run through every dimension, coloured by a value."""

    dimensions: tuple[Dimension, ...]
    colour: tuple[float, ...]  # one value per line, on the viridis scale
    colour_title: str
    reverse_scale: bool = False  # the scale's bright end at the lowest value
    highlight: int | None = None  # the line to draw over the others, in BEST_COLOUR
    highlight_label: str = ""


@dataclass(frozen=True)
class Figure:
    """A titled figure: panels arranged one way, or parallel coordinates."""

    id: str  # stable among a report's figures (page element ids, the dashboard)
    file: str  # the PNG it is written to
    title: str
    panels: tuple[Panel, ...] = ()
    arrange: str = SINGLE  # SINGLE, GRID, ROWS or COLUMNS
    parallel: Parallel | None = None
    legend_title: str = ""
    width: int = 800  # pixels of a picture of it (of one panel in a GRID)
    height: int = 400

    def to_json(self) -> dict[str, Any]:
        """The description as plain JSON data."""
        return asdict(self)


def tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.1e}"
    return f"{value:.3g}"
