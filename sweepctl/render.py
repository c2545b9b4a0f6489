"""Output for people: problems, verdicts and tables, through rich.

User data is always passed as :class:`rich.text.Text`, never as markup, so a value like
``[0.1]`` prints as written. Colour and decoration only reach a terminal.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from rich.console import Console
from rich.text import Text

from sweepctl.errors import Problem, SweepctlError

_STYLE = {"error": "bold red", "warning": "yellow"}


@cache
def out() -> Console:
    """Results: ids, tables, JSON."""
    return Console(highlight=False, soft_wrap=True)


@cache
def err() -> Console:
    """Errors, warnings and progress."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def problem_text(source: str, problem: Problem) -> Text:
    where = f"{source}:{problem.line}" if problem.line else source
    text = Text()
    text.append(where, style="bold")
    text.append(": ")
    text.append(problem.severity, style=_STYLE[problem.severity])
    text.append(": ")
    if problem.path:
        text.append(problem.path, style="cyan")
        text.append(": ")
    text.append(problem.message)
    if problem.hint:
        text.append("\n    hint: ", style="dim")
        text.append(problem.hint)
    return text


def problems(source: str, found: list[Problem]) -> None:
    for problem in found:
        err().print(problem_text(source, problem))


def error(exc: SweepctlError) -> None:
    """One failure, as ``error: file:line: message`` plus its hint."""
    text = Text()
    text.append("error: ", style="bold red")
    if exc.location:
        text.append(exc.location, style="bold")
        text.append(": ")
    text.append(exc.message)
    if exc.hint:
        text.append("\n  hint: ", style="dim")
        text.append(exc.hint)
    err().print(text)


def warning(message: str, hint: str | None = None) -> None:
    text = Text()
    text.append("warning: ", style="yellow")
    text.append(message)
    if hint:
        text.append("\n  hint: ", style="dim")
        text.append(hint)
    err().print(text)


def line(*parts: str | tuple[str, str]) -> None:
    """A result line on stdout; a part is text or ``(text, style)``."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    out().print(text)


def info(*parts: str | tuple[str, str]) -> None:
    """Like :func:`line`, on stderr (messages around a result, not the result)."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    err().print(text)


def as_json(data: Any) -> None:
    """Plain JSON on stdout, never styled, so ``| jq`` always works."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    return str(value)


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def dry_run(data: dict[str, Any]) -> None:
    """What `create --dry-run` shows: the normalised sweep and, for grids, the first points."""
    import yaml

    out().print(Text(yaml.safe_dump(data["config"], sort_keys=False, allow_unicode=True)))
    line(("method: ", "bold"), data["method"])
    if "grid_points" in data:
        line(("grid points: ", "bold"), str(data["grid_points"]))
        for index, config in enumerate(data["first_configs"]):
            line((f"  {index + 1}. ", "dim"), _value(config))


def best(found: dict[str, Any]) -> None:
    metric = found["metric"]
    line(
        ("best run ", "bold"),
        (found["run_id"], "bold cyan"),
        f"  {metric['name']} = {_metric(metric['value'])} ({metric['goal']}, {found['state']})",
    )
    for key, value in found["config"].items():
        line(f"  {key}: ", (_value(value), "bold"))


_STATE_STYLE = {
    "finished": "green",
    "running": "cyan",
    "failed": "red",
    "crashed": "red",
    "killed": "magenta",
    "stopped": "yellow",
    "timeout": "yellow",
    "paused": "yellow",
    "canceled": "magenta",
}


def runs_table(sweep: Any, runs: list[Any]) -> None:
    """Runs sorted by the metric, with as many parameter columns as fit the terminal."""
    from rich.table import Table

    from sweepctl.duration import format_duration
    from sweepctl.results.export import flatten, rank

    metric = sweep.spec.metric
    ordered = rank(metric, runs)
    params = [p.name for p in sweep.spec.searched]
    console = out()
    width = console.width if console.is_terminal else 10_000
    fixed = 8 + 10 + 12 + 8 + 12  # id, state, metric, steps, duration (roughly)
    fit = max(0, (width - fixed) // 14)
    shown, hidden = params[:fit], params[fit:]
    title = f"sweep {sweep.label} · {sweep.method} · {len(runs)} runs"
    table = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    table.add_column("run")
    table.add_column("state")
    table.add_column(metric.name if metric else "metric", justify="right")
    for name in shown:
        table.add_column(name, justify="right", overflow="ellipsis", max_width=16)
    table.add_column("steps", justify="right")
    table.add_column("time", justify="right")
    for run in ordered:
        flat = flatten("", run.config, {})
        row = [
            Text(run.id),
            Text(run.state, style=_STATE_STYLE.get(run.state, "")),
            Text(_metric(run.metric)),
            *(Text(_value(flat.get(name, ""))) for name in shown),
            Text(str(run.steps)),
            Text(format_duration(run.duration)),
        ]
        table.add_row(*row)
    console.print(table)
    if hidden:
        err().print(Text(f"({len(hidden)} more parameters not shown: {', '.join(hidden)})"))


def sweeps_table(sweeps: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not sweeps:
        err().print(Text("no sweeps yet; create one with `sweepctl create FILE`"))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("sweep", "name", "method", "state", "runs", "created"):
        table.add_column(column)
    for s in sweeps:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(s["runs_by_state"].items()))
        table.add_row(
            Text(s["sweep_id"]),
            Text(s["name"] or "-"),
            Text(s["method"]),
            Text(s["state"], style=_STATE_STYLE.get(s["state"], "")),
            Text(f"{s['runs']}" + (f" ({counts})" if counts else "")),
            Text((s["created_at"] or "")[:16].replace("T", " ")),
        )
    out().print(table)


def agent_summary(report: Any, *, show_tails: bool) -> None:
    """After an agent: what ran, how each ended, and why the agent stopped."""
    from collections import Counter

    from sweepctl.agent.launch import tail

    for outcome in report.outcomes:
        if outcome.state in ("failed", "timeout") and show_tails:
            text = Text()
            text.append(f"run {outcome.run.id} {outcome.state}", style="red")
            text.append(f" ({outcome.reason}); last lines of its output:\n")
            for row in tail(outcome.log, 10) if outcome.log else []:
                text.append("  | " + row + "\n", style="dim")
            err().print(text, end="")
    states = Counter(o.state for o in report.outcomes)
    summary = ", ".join(f"{n} {s}" for s, n in states.most_common()) or "no runs"
    info(("agent done: ", "bold"), summary)
    if report.failed_policy:
        last = report.outcomes[-1] if report.outcomes else None
        hint = f"; the last run's output is in {last.log}" if last and last.log else ""
        warning(
            f"stopped: {report.failed_policy}{hint}",
            hint="fix the program, then start the agent again "
            "(W&B's agent stops here too; WANDB_AGENT_MAX_INITIAL_FAILURES and "
            "WANDB_AGENT_DISABLE_FLAPPING=true change the rule)",
        )
    elif report.stop_reason:
        info(("sweep: ", "dim"), report.stop_reason)
