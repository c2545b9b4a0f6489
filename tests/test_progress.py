"""The agent's views: the live view on a terminal (drawn into a recording rich console of a
given width) and the plain lines of a pipe."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from sweepctl.backends.base import Outcome
from sweepctl.progress import LiveView
from sweepctl.store import open_store

SWEEP = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "learning_rate_for_the_encoder": {"min": 0.0, "max": 1.0},
        "a_rather_long_optimizer_name": {"values": ["adamw_with_decoupled_weight_decay"]},
    },
}


def test_the_live_view_uses_the_terminal_width_and_keeps_the_runs_at_the_end(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", create=True)
    sweep = store.create_sweep(SWEEP, name="wide", project=None, entity=None, source=None)
    agent = store.register_agent(sweep.id, "host", 1)
    runs = []
    for i, lr in enumerate((0.5, 0.25, 0.75)):
        config = {
            "learning_rate_for_the_encoder": lr,
            "a_rather_long_optimizer_name": "adamw_with_decoupled_weight_decay",
        }
        _, run = store.claim(sweep.id, agent, lambda _s, _r, c=config: ("run", c))
        runs.append((run, i))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200, color_system=None)
    view = LiveView(sweep, 3, workers=1, console=console)
    view.started(runs[0][0], 0)
    view.live.refresh()
    frame = screen.getvalue()
    # At 200 columns the whole config fits: nothing cut to the old 48 characters.
    assert "a_rather_long_optimizer_name=adamw_with_decoupled_weight_decay" in frame
    for (run, i), (state, loss) in zip(
        runs, [("finished", 0.3), ("finished", 0.1), ("killed", 0.01)], strict=True
    ):
        view.started(run, 0)
        view.ended(Outcome(run, state, 0, None, 1.0 + i, None, loss))
    view.close()
    final = screen.getvalue().split("best so far")[-1]
    rows = [
        line.split() for line in final.splitlines() if line.split()[:1] in ([r.id] for r, _ in runs)
    ]
    # The last frame lists every run this agent ran, best first, the killed one last.
    assert [row[0] for row in rows] == [runs[1][0].id, runs[0][0].id, runs[2][0].id]
    assert [row[1] for row in rows] == ["finished", "finished", "killed"]
