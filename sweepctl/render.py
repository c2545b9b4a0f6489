"""Output for people: problems, verdicts and tables.

A line is a list of parts, each plain text or ``(text, style)``. On a terminal the parts go
through rich, as :class:`rich.text.Text` (never markup, so a value like ``[0.1]`` prints as
written); into a pipe or a file they are written plain, without importing rich at all, which
keeps `sweepctl validate` quick to start and its output free of control characters.
"""

from __future__ import annotations

import errno
import json
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sweepctl.agent.process import tail
from sweepctl.backends.base import AgentReport
from sweepctl.duration import format_duration
from sweepctl.errors import InvalidSweepError, Problem, SweepctlError
from sweepctl.ranking import describe_left_out
from sweepctl.results.export import flatten, rank
from sweepctl.visible import visible

if TYPE_CHECKING:
    from rich.console import Console

    from sweepctl.api_types import Created, SeedRuns, SlurmSubmitted, Synced, Validation
    from sweepctl.spec import FileReport

Part = str | tuple[str, str]
_STYLE = {"error": "bold red", "warning": "yellow"}


@cache
def out() -> Console:
    """Results on stdout: ids, tables."""
    from rich.console import Console

    # Into a pipe or a file, rich would assume 80 columns and cut table cells short.
    width = None if sys.stdout.isatty() else 1000
    return Console(highlight=False, soft_wrap=True, width=width)


@cache
def err() -> Console:
    """Errors, warnings and progress on stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _shown(text: str) -> str:
    # User data with its control characters made visible; a part may start with one line
    # break of our own (a hint, a line of a run's output on its own line).
    if text.startswith("\n"):
        return "\n" + visible(text[1:])
    return visible(text)


def _emit(stderr: bool, parts: list[Part] | tuple[Part, ...]) -> None:
    stream = sys.stderr if stderr else sys.stdout
    parts = [(_shown(p[0]), p[1]) if isinstance(p, tuple) else _shown(p) for p in parts]
    if stream.isatty():
        from rich.text import Text

        text = Text()
        for part in parts:
            if isinstance(part, tuple):
                text.append(part[0], style=part[1])
            else:
                text.append(part)
        (err() if stderr else out()).print(text)
    else:
        try:
            stream.write("".join(p[0] if isinstance(p, tuple) else p for p in parts) + "\n")
            stream.flush()
        except OSError as exc:
            # Output redirected to a file on a full disk (a SLURM log, say): the message is
            # lost, but an agent must not crash over it and leave its runs behind.
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise


def problem_parts(source: str, problem: Problem) -> list[Part]:
    where = f"{source}:{problem.line}" if problem.line else source
    parts: list[Part] = [(where, "bold"), ": ", (problem.severity, _STYLE[problem.severity]), ": "]
    if problem.path:
        parts += [(problem.path, "cyan"), ": "]
    parts.append(problem.message)
    if problem.hint:
        parts += [("\n    hint: ", "dim"), problem.hint]
    return parts


def problems(source: str, found: list[Problem]) -> None:
    for problem in found:
        _emit(True, problem_parts(source, problem))


def error(exc: SweepctlError) -> None:
    """One failure, as ``error: file:line: message`` plus its hint."""
    parts: list[Part] = [("error: ", "bold red")]
    if exc.location:
        parts += [(exc.location, "bold"), ": "]
    parts.append(exc.message)
    if exc.hint:
        parts += [("\n  hint: ", "dim"), exc.hint]
    _emit(True, parts)


def warning(message: str, hint: str | None = None) -> None:
    parts: list[Part] = [("warning: ", "yellow"), message]
    if hint:
        parts += [("\n  hint: ", "dim"), hint]
    _emit(True, parts)


def invalid_sweep(exc: InvalidSweepError) -> None:
    """The report `validate` gives, then one line saying nothing was stored."""
    problems(exc.path, exc.problems)
    error(SweepctlError(f"{exc.message}; nothing was stored", path=exc.path))


def crash(exc: BaseException, log_path: str) -> None:
    """sweepctl's own failure: one line and where the traceback is, never the traceback."""
    sys.stderr.write(
        f"error: sweepctl failed unexpectedly ({exc!r}).\n"
        f"  The traceback is in {log_path}; please include it in a bug report.\n"
    )


def say(message: str) -> None:
    """An agent's messages about itself, on stderr beside the runs' output."""
    info(("sweepctl: ", "dim"), message)


def line(*parts: Part) -> None:
    """A result line on stdout."""
    _emit(False, parts)


def info(*parts: Part) -> None:
    """Like :func:`line`, on stderr (messages around a result, not the result)."""
    _emit(True, parts)


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
    sys.stdout.write(yaml.safe_dump(data["config"], sort_keys=False, allow_unicode=True) + "\n")
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
    note = describe_left_out(found.get("left_out") or {})
    if note:
        info((note, "dim"))


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


def runs_table(
    sweep: Any,
    runs: list[Any],
    note: str | None = None,
    savings: Any = None,
    where: Any = None,
) -> None:
    """Runs sorted by the metric, with as many parameter columns as fit the terminal; ``note``
    says which runs the ranking left out (they are listed after the ranked ones);
    ``where(run)`` gives a run's host and SLURM task, shown when SLURM ran any."""
    from rich.table import Table
    from rich.text import Text

    metric = sweep.spec.metric
    ordered = rank(metric, runs)
    params = [p.name for p in sweep.spec.searched]
    console = out()
    width = console.width if console.is_terminal else 10_000
    fixed = 8 + 10 + 12 + 8 + 12  # id, state, metric, steps, duration (roughly)
    fit = max(0, (width - fixed) // 14)
    shown, hidden = params[:fit], params[fit:]
    title = Text(visible(f"sweep {sweep.shown} · {sweep.method} · {len(runs)} runs"))
    table = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    table.add_column("run")
    table.add_column("state")
    table.add_column(Text(visible(metric.name if metric else "metric")), justify="right")
    for name in shown:
        table.add_column(Text(visible(name)), justify="right", overflow="ellipsis", max_width=16)
    table.add_column("steps", justify="right")
    table.add_column("time", justify="right")
    places = {run.id: where(run) for run in runs} if where is not None else {}
    on_slurm = any(p["slurm_task"] for p in places.values())
    if on_slurm:
        table.add_column("host / SLURM task")
    for run in ordered:
        flat = flatten("", run.config, {})
        row = [
            Text(visible(run.id)),
            Text(run.state, style=_STATE_STYLE.get(run.state, "")),
            Text(_metric(run.metric)),
            *(Text(visible(_value(flat.get(name, "")))) for name in shown),
            Text(str(run.steps)),
            Text(format_duration(run.duration)),
        ]
        if on_slurm:
            place = places[run.id]
            row.append(Text(f"{place['host'] or '-'} {place['slurm_task'] or ''}".strip()))
        table.add_row(*row)
    console.print(table)
    outputs = sorted(
        {str(Path(p["slurm_output"]).parent) for p in places.values() if p["slurm_output"]}
    )
    for folder in outputs:
        info(f"SLURM tasks' output: {folder}/JOB_TASK.out")
    if note:
        info(note)
    if savings is not None:  # over the whole sweep, also when only --top runs are listed
        info(savings.describe())
    if hidden:
        info(f"({len(hidden)} more parameters not shown: {', '.join(hidden)})")


def sweeps_table(sweeps: list[dict[str, Any]]) -> None:
    if not sweeps:
        info("no sweeps yet; create one with `sweepctl create FILE`")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold", pad_edge=False)
    on_slurm = any(s.get("slurm_jobs") for s in sweeps)
    for column in ("sweep", "name", "method", "state", "runs", "created"):
        table.add_column(column)
    if on_slurm:
        table.add_column("SLURM jobs")
    for s in sweeps:
        counts = ", ".join(f"{n} {state}" for state, n in sorted(s["runs_by_state"].items()))
        row = [
            Text(visible(s["sweep_id"])),
            Text(visible(s["name"] or "-")),
            Text(s["method"]),
            Text(s["state"], style=_STATE_STYLE.get(s["state"], "")),
            Text(f"{s['runs']}" + (f" ({counts})" if counts else "")),
            Text((s["created_at"] or "")[:16].replace("T", " ")),
        ]
        if on_slurm:
            row.append(Text(", ".join(s["slurm_jobs"]) or "-"))
        table.add_row(*row)
    out().print(table)


def agent_summary(report: AgentReport, *, show_tails: bool) -> None:
    """After an agent: what ran, how each ended, and why the agent stopped."""
    if report.controller == "wandb":
        _wandb_agents_summary(report)
        return
    for outcome in report.outcomes:
        if outcome.state in ("failed", "timeout") and show_tails:
            parts: list[Part] = [
                (f"run {outcome.run.id} {outcome.state}", "red"),
                f" ({outcome.reason}); last lines of its output:",
            ]
            for row in tail(outcome.log, 10) if outcome.log else []:
                parts.append(("\n  | " + row, "dim"))
            _emit(True, parts)
    states = Counter(o.state for o in report.outcomes)
    summary = ", ".join(f"{n} {s}" for s, n in states.most_common()) or "no runs"
    info(("agent done: ", "bold"), summary)
    if report.fault:
        warning(f"stopped: {report.fault}", hint=report.fault_hint)
    elif report.failed_policy:
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


def _wandb_agents_summary(report: AgentReport) -> None:
    """After `sweepctl agent entity/project/id`: how each W&B agent ended."""
    ended = (
        ", ".join(f"agent {i + 1} exit {code}" for i, code in enumerate(report.agent_codes))
        or "no agent started"
    )
    info(("W&B agents done: ", "bold"), ended)
    if report.failed:
        logs = ", ".join(str(p) for p in report.logs)
        warning("a W&B agent failed", hint=f"its output is in {logs}")


def created(result: Created) -> None:
    """After `create`: the new sweep and how to run it, or what a dry run would store."""
    if result.controller == "wandb":
        if result.dry_run:
            line("W&B would get this config:")
            sys.stdout.write(yaml.safe_dump(result.config, sort_keys=False))
            return
        line(
            ("created W&B sweep ", "green"),
            (str(result.sweep_id), "bold"),
            f"  ({result.spec.method})",
        )
        if result.url:
            line("view it at:   ", result.url)
        line("run it with:  ", (result.agent_command, "bold"))
        return
    if result.dry_run:
        dry_run(result.to_json())
        return
    size = f", {result.grid_points} grid points" if result.grid_points is not None else ""
    line(
        ("created sweep ", "green"),
        (str(result.sweep_id), "bold"),
        f"  ({result.spec.method}{size})",
    )
    line("run it with:  ", (result.agent_command, "bold"))


def seed_runs(result: SeedRuns) -> None:
    """After `run-best`: the metric's mean ± std over the seeds."""
    metric = result.metric
    spread = f"{result.mean:.6g} ± {result.std:.2g}" if result.mean is not None else "-"
    line(
        f"{metric['name']} over {len(result.values)} seeds: ",
        (spread, "bold"),
        f"  (best run {result.source_run} had {metric['value']:.6g}; sweep {result.sweep_id})",
    )


def validation(result: Validation) -> None:
    """After `validate`: each file's problems, then a verdict per file (and a total)."""
    for report in result.reports:
        problems(report.source, report.problems)
    for report in result.reports:
        line(*_verdict(report, result.passed(report)))
    if len(result.reports) > 1:
        valid = len(result.reports) - len(result.failed)
        line(f"{len(result.reports)} files: {valid} valid, {len(result.failed)} invalid")


def _verdict(report: FileReport, passed: bool) -> list[Part]:
    counts = []
    for what, items in (("error", report.errors), ("warning", report.warnings)):
        if items:
            counts.append(f"{len(items)} {what}{'s' if len(items) != 1 else ''}")
    if passed and report.spec is not None:
        spec = report.spec
        detail = (
            f"{spec.method}, {len(spec.params)} parameter{'s' if len(spec.params) != 1 else ''}"
        )
        if counts:
            detail += ", " + ", ".join(counts)
        return [("valid ", "bold green"), report.source, (f"  ({detail})", "dim")]
    return [("invalid ", "bold red"), report.source, (f"  ({', '.join(counts)})", "dim")]


def sync_summary(result: Synced, *, dry_run: bool) -> None:
    """After `sweepctl sync`: what went to W&B, what did not, and why."""
    plan = result.plan
    where = f"{plan.entity + '/' if plan.entity else ''}{plan.project}"
    if dry_run:
        line(f"would upload {len(plan.dirs)} run{'s' if len(plan.dirs) != 1 else ''} to {where}:")
        for run_id, path in plan.dirs.items():
            line(f"  {run_id}  {path}")
    elif plan.dirs:
        confirmed = len(result.on_wandb)
        line(
            (f"synced {confirmed} of {len(plan.dirs)} runs", "green" if confirmed else "red"),
            f" to {where} (in the group {plan.group!r})",
        )
        if result.not_on_wandb:
            warning(
                f"W&B does not have {len(result.not_on_wandb)} of them: "
                + ", ".join(result.not_on_wandb),
                hint="see wandb sync's messages above",
            )
    if plan.synced:
        info(f"{len(plan.synced)} runs were synced before (pass --again to upload them again)")
    if plan.missing:
        info(
            f"{len(plan.missing)} runs have no offline wandb run directory: "
            + ", ".join(plan.missing[:10])
            + (" ..." if len(plan.missing) > 10 else ""),
        )
    if result.nothing_found:
        warning(
            "no run of this sweep has an offline wandb run directory here",
            hint="run sync where the agent ran, or point --dir at it (WANDB_DIR if set)",
        )


def dashboard_ready(serving: Any) -> None:
    """Where the dashboard listens (the URL on stdout, with its token: said this once)."""
    line(("dashboard: ", "bold"), serving.url)
    notes = [serving.where]
    if serving.token_made:
        notes.append("a token guards this address (it is in the URL above; not shown again)")
    elif serving.token:
        notes.append("every request needs the --token given")
    if serving.read_only:
        notes.append("read-only: no controls")
    info(("  ", "dim"), "; ".join(notes) + "; Ctrl-C stops it")


def slurm_submitted(result: SlurmSubmitted) -> None:
    """After `agent --slurm`: the job id and how to watch and stop it; for a dry run, the
    sbatch command and the batch script."""
    import shlex

    for message in result.warnings:
        warning(message)
    if result.dry_run:
        sys.stdout.write(f"# would run: {shlex.join(result.sbatch)}\n{result.script}")
        sys.stdout.flush()
        return
    job = str(result.job_id)
    line(
        ("submitted SLURM job ", "green"),
        (job, "bold"),
        f"  ({result.tasks} agent{'s' if result.tasks != 1 else ''} of sweep {result.sweep.id})",
    )
    line(
        "watch it:   ",
        (f"squeue -j {job}", "bold"),
        "   and   ",
        f"sweepctl runs {result.sweep.id}",
    )
    line("its output: ", result.logs)
    line("stop it:    ", (f"sweepctl stop {result.sweep.id} --cancel", "bold"))
