"""How a report looks, said once: its colours, the pictures it draws and their titles, limits."""

from __future__ import annotations

from sweepctl.domain import RunState

# The PNG files a report draws, with their titles (the Markdown links them in this order).
PLOTS = {
    "parallel_coordinates.png": "Parallel coordinates",
    "importance.png": "Parameter importance",
    "metric_vs_params.png": "Metric against each parameter",
    "best_so_far.png": "Best so far",
    "history.png": "Metric history of the top runs",
    "states.png": "Runs by state over time",
}

STATE_COLOURS = {
    RunState.FINISHED.value: "#2ca02c",
    RunState.RUNNING.value: "#1f77b4",
    RunState.STOPPED.value: "#ff7f0e",
    RunState.FAILED.value: "#d62728",
    RunState.CRASHED.value: "#8c1c13",
    RunState.PREEMPTED.value: "#7f7f7f",
    RunState.KILLED.value: "#9467bd",
    RunState.TIMEOUT.value: "#bcbd22",
}
OTHER_STATE_COLOUR = "#bbbbbb"
SWEEP_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
PLAIN_COLOUR = "#4c72b0"  # points and bars of one sweep
BEST_COLOUR = "#d62728"
POSITIVE_COLOUR = "#2ca02c"  # correlations
NEGATIVE_COLOUR = "#d62728"
# matplotlib's viridis at ten even steps, for colours picked along it without matplotlib.
VIRIDIS = (
    "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
)  # fmt: skip

HISTORY_RUNS = 10  # the most top runs whose metric curves are drawn
MAX_FEATURES = 20  # the most parameters the importance figure shows
IMPORTANCE_MIN_RUNS = 4
FOREST_TREES = 100
REPORT_EXTRA = "pip install 'sweepctl[report]'"


def sweep_colour(index: int) -> str:
    """The colour of the ``index``-th sweep of a comparison."""
    return SWEEP_COLOURS[index % len(SWEEP_COLOURS)]


def state_colour(state: str) -> str:
    return STATE_COLOURS.get(state, OTHER_STATE_COLOUR)


def viridis(at: float) -> str:
    """The colour ``at`` (0 to 1) along viridis, as ``#rrggbb``."""
    at = min(1.0, max(0.0, at)) * (len(VIRIDIS) - 1)
    low = min(int(at), len(VIRIDIS) - 2)
    part = at - low
    a, b = (bytes.fromhex(VIRIDIS[i][1:]) for i in (low, low + 1))
    return "#" + "".join(f"{round(x + (y - x) * part):02x}" for x, y in zip(a, b, strict=True))
