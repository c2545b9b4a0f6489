"""What an agent shows while it works: a live view on a terminal, plain lines elsewhere.

The agent calls an observer from its worker threads: ``started(run, worker)``,
``progress(run_id, summary, metric)`` and ``ended(outcome)``. :class:`LiveView` redraws a
rich table a few times a second (runs done / count, the current runs with a short config,
their last metric and elapsed time, the best so far and an estimate of the time left);
:class:`LogLines` writes one plain line per event, with no control characters, for pipes,
files and CI logs.
"""

from __future__ import annotations

import errno
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sweepctl.agent.process import tail
from sweepctl.backends.base import Observer
from sweepctl.duration import format_duration
from sweepctl.ranking import better, counts
from sweepctl.visible import visible


def short_config(config: dict[str, Any], width: int = 48) -> str:
    """``lr=0.01 opt=adam ...`` cut to ``width`` characters."""
    parts = []
    for key, value in config.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, dict):
            value = "{" + short_config(value, width) + "}"
        parts.append(f"{key}={value}")
    # Made visible: a line break in a value must not forge a line of the agent's own.
    text = visible(" ".join(parts))
    return text if len(text) <= width else text[: width - 1] + "…"


def _metric(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.5g}"


@dataclass
class _Active:
    run: Any
    worker: int
    started: float = field(default_factory=time.monotonic)
    metric: float | None = None
    steps: int = 0


class _Tally:
    """What both views keep: counts, the best run so far, durations for the estimate."""

    def __init__(self, sweep: Any, count: int | None) -> None:
        self.sweep = sweep
        self.metric = sweep.spec.metric
        self.count = count
        self.lock = threading.Lock()
        self.active: dict[str, _Active] = {}
        self.done = 0
        self.states: dict[str, int] = {}
        self.durations: list[float] = []
        self.best: tuple[float, str] | None = None
        self.began = time.monotonic()
        self.ended: list[Any] = []  # this agent's outcomes, for the final screen

    def consider(self, run_id: str, state: str, value: float | None) -> bool:
        """Whether a run that ended in ``state`` with ``value`` is the best of the sweep so
        far by the ranking's rule (and remember it if so)."""
        if self.metric is None or value is None or not counts(state, value):
            return False
        if better(self.metric, value, self.best[0] if self.best else None):
            self.best = (value, run_id)
            return True
        return False

    def eta(self, workers: int) -> str:
        if not self.count or not self.durations:
            return "-"
        left = max(0, self.count - self.done)
        mean = sum(self.durations) / len(self.durations)
        return format_duration(left * mean / max(1, workers))


class _SweepBest:
    """The sweep's best run, as the agent reads it from the store now and then."""

    tally: _Tally

    def sweep_best(self, run_id: str, value: float) -> None:
        with self.tally.lock:
            metric = self.tally.metric
            if metric is not None and better(metric, value, self.tally.best and self.tally.best[0]):
                self.tally.best = (value, run_id)


class LogLines(_SweepBest, Observer):
    """One plain line per event on stderr: nothing but text, for pipes and files."""

    def __init__(self, sweep: Any, count: int | None, stream: Any = None) -> None:
        self.tally = _Tally(sweep, count)
        self.stream = stream or sys.stderr

    def _write(self, text: str) -> None:
        with self.tally.lock:
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except OSError as exc:
                # A log file on a full disk: the line is lost, the run must not be.
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise

    def started(self, run: Any, worker: int) -> None:
        self._write(f"sweepctl: run {run.id} started: {short_config(run.config, 120)}")

    def ended(self, outcome: Any) -> None:
        tally = self.tally
        run_id = outcome.run.id
        with tally.lock:
            tally.done += 1
            tally.durations.append(outcome.elapsed)
            best = tally.consider(run_id, outcome.state, outcome.metric)
        name = visible(tally.metric.name) if tally.metric else "metric"
        detail = f"{name}={_metric(outcome.metric)}" + (" (best so far)" if best else "")
        shown = visible(outcome.reason or "")
        reason = f" ({shown})" if shown and outcome.state != "finished" else ""
        total = f"/{tally.count}" if tally.count else ""
        self._write(
            f"sweepctl: run {run_id} {outcome.state}{reason} in "
            f"{format_duration(outcome.elapsed)}: {detail} [{tally.done}{total} done]"
        )


class LiveView(_SweepBest, Observer):
    """A rich live table of the agent's work, redrawn a few times a second on a terminal."""

    replaces_output = True  # the runs' output is in their log files

    FIXED_WIDTH = 50  # run, worker, metric, steps and elapsed columns, with their gaps
    FINAL_ROWS = 20  # runs the final screen lists, best first

    def __init__(self, sweep: Any, count: int | None, workers: int, console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.tally = _Tally(sweep, count)
        self.workers = workers
        self.closing = False
        self.console = console or Console(stderr=True)
        self.live = Live(
            get_renderable=self._render,
            console=self.console,
            refresh_per_second=4,
            transient=False,
        )
        self.live.start()

    def started(self, run: Any, worker: int) -> None:
        with self.tally.lock:
            self.tally.active[run.id] = _Active(run, worker)

    def progress(self, run_id: str, summary: dict[str, Any], metric: float | None) -> None:
        with self.tally.lock:
            active = self.tally.active.get(run_id)
            if active is not None:
                active.metric = metric
                active.steps = int(summary.get("_step", active.steps - 1)) + 1

    def ended(self, outcome: Any) -> None:
        tally = self.tally
        with tally.lock:
            tally.active.pop(outcome.run.id, None)
            tally.done += 1
            tally.states[outcome.state] = tally.states.get(outcome.state, 0) + 1
            tally.durations.append(outcome.elapsed)
            tally.consider(outcome.run.id, outcome.state, outcome.metric)
            tally.ended.append(outcome)
        if outcome.state in ("failed", "timeout"):
            from rich.text import Text

            reason = visible(outcome.reason or "")
            text = Text(f"run {outcome.run.id} {outcome.state} ({reason})", style="red")
            for line in tail(outcome.log, 8) if outcome.log else []:
                text.append("\n  | " + visible(line), style="dim")
            self.live.console.print(text)

    def close(self) -> None:
        self.closing = True  # the last frame lists the runs this agent ran
        self.live.refresh()
        self.live.stop()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        tally = self.tally
        with tally.lock:
            metric = tally.metric
            name = visible(metric.name) if metric else "metric"
            total = f"/{tally.count}" if tally.count else ""
            header = Text()
            header.append(f"sweep {visible(tally.sweep.shown)}", style="bold")
            header.append(f" · {tally.sweep.method} · ")
            header.append(f"{tally.done}{total} done", style="bold green")
            states = ", ".join(f"{n} {s}" for s, n in sorted(tally.states.items()))
            if states:
                header.append(f" ({states})", style="dim")
            header.append(f" · {len(tally.active)} running")
            header.append(f" · elapsed {format_duration(time.monotonic() - tally.began)}")
            header.append(f" · left ~{tally.eta(self.workers)}")
            best = Text("best so far: ", style="dim")
            if tally.best is not None:
                best.append(f"{name} = {_metric(tally.best[0])}", style="bold cyan")
                best.append(f"  (run {tally.best[1]})")
            else:
                best.append("-")
            # The config column takes what the terminal has left.
            width = max(24, self.console.width - self.FIXED_WIDTH)
            table = Table(box=None, header_style="bold", pad_edge=False)
            if self.closing:
                return Group(header, best, self._final_table(table, name, width))
            for column in ("run", "worker", "config", name, "steps", "elapsed"):
                table.add_column(Text(column), overflow="ellipsis", no_wrap=True)
            for run_id, active in tally.active.items():
                table.add_row(
                    Text(run_id),
                    Text(str(active.worker)),
                    Text(short_config(active.run.config, width)),
                    Text(_metric(active.metric)),
                    Text(str(active.steps)),
                    Text(format_duration(time.monotonic() - active.started)),
                )
        return Group(header, best, table)

    def _final_table(self, table: Any, name: str, width: int) -> Any:
        """The runs this agent ran, ranked best first (the ranking's rule), then the rest."""
        from rich.text import Text

        tally = self.tally
        metric = tally.metric

        def order(outcome: Any) -> tuple[int, float]:
            if metric is None or not counts(outcome.state, outcome.metric):
                return (1, 0.0)
            return (0, -outcome.metric if metric.maximize else outcome.metric)

        ended = sorted(tally.ended, key=order)
        for column in ("run", "state", "config", name, "elapsed"):
            table.add_column(column, overflow="ellipsis", no_wrap=True)
        for outcome in ended[: self.FINAL_ROWS]:
            table.add_row(
                Text(outcome.run.id),
                Text(outcome.state),
                Text(short_config(outcome.run.config, width)),
                Text(_metric(outcome.metric)),
                Text(format_duration(outcome.elapsed)),
            )
        if len(ended) > self.FINAL_ROWS:
            more = len(ended) - self.FINAL_ROWS
            table.add_row(Text(f"... {more} more: sweepctl runs {tally.sweep.id}", style="dim"))
        return table


# The longest unfinished line of a run's output kept for its prefix, in bytes.
ECHO_LINE_MAX = 64 * 1024


def write_echo(prefix_runs: bool) -> Callable[[str, bytes], None]:
    """Echo children's output to our stdout; with several workers, prefix each line."""
    out = sys.stdout.buffer
    if not prefix_runs:

        def raw(_run_id: str, chunk: bytes) -> None:
            out.write(chunk)
            out.flush()

        return raw
    lock = threading.Lock()
    # A run's unfinished line, as chunks: output without newlines (`\r` progress bars) is
    # appended, never copied again, and written out as a line once it passes ECHO_LINE_MAX.
    pending: dict[str, list[bytes]] = {}
    sizes: dict[str, int] = {}

    def prefixed(run_id: str, chunk: bytes) -> None:
        with lock:
            if not chunk:  # the run's output ended: its last partial line, if any
                rest = b"".join(pending.pop(run_id, []))
                sizes.pop(run_id, None)
                if rest:
                    out.write(f"[{run_id}] ".encode() + rest + b"\n")
                    out.flush()
                return
            if b"\n" not in chunk and sizes.get(run_id, 0) + len(chunk) <= ECHO_LINE_MAX:
                pending.setdefault(run_id, []).append(chunk)
                sizes[run_id] = sizes.get(run_id, 0) + len(chunk)
                return
            data = b"".join([*pending.pop(run_id, []), chunk])
            sizes.pop(run_id, None)
            *lines, rest = data.split(b"\n")
            if len(rest) > ECHO_LINE_MAX:
                lines.append(rest)
                rest = b""
            for line in lines:
                out.write(f"[{run_id}] ".encode() + line + b"\n")
            if rest:
                pending[run_id] = [rest]
                sizes[run_id] = len(rest)
            out.flush()

    return prefixed


def echo_stderr(chunk: bytes) -> None:
    """Show a command's output (``wandb sync``'s) on stderr as it comes."""
    sys.stderr.buffer.write(chunk)
    sys.stderr.flush()


def live_view(sweep: Any, workers: int, total: int | None) -> LiveView:
    """The observer for an agent on a terminal (``api.agent``'s ``observe``)."""
    return LiveView(sweep, total, workers)


def log_lines(sweep: Any, workers: int, total: int | None) -> LogLines:
    """The observer for an agent writing into a pipe or a file."""
    return LogLines(sweep, total)
