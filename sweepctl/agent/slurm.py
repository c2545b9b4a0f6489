"""Agents as a SLURM job array: `sweepctl agent ID --slurm --array N`.

One ``sbatch`` submits N tasks; each runs ``sweepctl agent ID`` in the submitting folder,
with the submitting environment, against the same store, on the GPUs SLURM gave it. Tasks
are requeueable and get SIGTERM ahead of their time limit (``--signal=B:TERM@...``), which an
agent records as ``preempted``: the run goes back to the sweep for another task. SLURM's
own commands (sbatch, scancel) are run through :mod:`sweepctl.agent.process`; nothing here
schedules anything itself.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepctl.agent.process import run_captured
from sweepctl.errors import SweepctlError, UsageError
from sweepctl.records import Sweep
from sweepctl.urls import redact

if TYPE_CHECKING:  # the store (SQLAlchemy) is not loaded for commands that need no store
    from sweepctl.store import Store

SIGNAL_LEAD = 120  # seconds before the time limit that a task gets SIGTERM
# Seconds of its time limit a task needs left to claim a new run (`--run-time` plus the
# warning lead), set in the batch script for the agent to read.
RESERVE_ENV = "SWEEPCTL_SLURM_RESERVE"
TIME_FORMS = "MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS[:MINUTES[:SECONDS]]"
SUBMIT_TIMEOUT = 60.0
# What --slurm-opt may not set: sweepctl sets these itself, and --parsable output is read.
MANAGED = {
    "array": "use --array N",
    "parsable": "sweepctl reads the job id itself",
    "wrap": "sweepctl writes the batch script",
    "export": "the tasks need the submitting environment (--export=ALL)",
    "output": "each task's output goes to the store's folder, where `sweepctl runs` finds it",
    "error": "each task's output (stderr too) goes to the store's folder",
}
OPTION_KEY = re.compile(r"^[a-z][a-z0-9-]*$")
JOB_LINE = re.compile(r"^(\d+)(;\S+)?$")


@dataclass(frozen=True)
class SlurmRequest:
    """What to ask SLURM for: N tasks, each with these resources."""

    tasks: int = 1
    gpus_per_task: int | None = None
    partition: str | None = None
    time: str | None = None
    mem: str | None = None
    cpus_per_task: int | None = None
    options: tuple[str, ...] = ()  # KEY=VALUE (or KEY), each becoming --KEY=VALUE
    allow_sqlite: bool = False


@dataclass(frozen=True)
class TaskAgent:
    """How each task's agent runs: the `sweepctl agent` options it is given."""

    count: int | None = None  # runs per task
    workers: int = 1
    timeout: float | None = None
    gpus: str | None = None  # within the task's allocation: "all" or indices into it
    gpus_per_run: int | None = None
    idle_exit: float | None = None
    run_time: float | None = None  # a run's expected length: claim none that cannot finish


@dataclass
class Batch:
    """A job array to submit: the batch script and the sbatch command (script path last)."""

    tasks: int
    script: str
    sbatch: list[str]
    output: str  # the tasks' output files, %A (job) and %a (task index) in the name
    job_id: str | None = None  # once submitted


# -- checks ----------------------------------------------------------------------------------


def check(store: Store, request: SlurmRequest, agent: TaskAgent) -> None:
    """Refuse, before anything is written or submitted, what cannot work on a cluster."""
    if request.tasks < 1:
        raise UsageError("--array must be at least 1")
    for name, value in (
        ("--gpus-per-task", request.gpus_per_task),
        ("--cpus-per-task", request.cpus_per_task),
    ):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1")
    if store.is_sqlite and not request.allow_sqlite:
        raise UsageError(
            f"--slurm needs a PostgreSQL store; this sweep is in SQLite ({redact(store.url)})",
            hint="tasks on several nodes cannot share an SQLite file (its locks fail on network "
            "file systems): create the sweep with --storage postgresql://USER@HOST/DB, or pass "
            "--slurm-allow-sqlite if every task runs on this one node",
        )
    if agent.gpus is not None and request.gpus_per_task is None:
        raise UsageError(
            "--gpus with --slurm picks among a task's own GPUs: ask SLURM for them with "
            "--gpus-per-task G",
            hint="e.g. --slurm --array 4 --gpus-per-task 2 (each task then runs one run per GPU)",
        )
    per_task, per_run = request.gpus_per_task, agent.gpus_per_run
    if per_run is not None and per_task is None:
        raise UsageError(
            "--gpus-per-run with --slurm splits a task's own GPUs: ask SLURM for them with "
            "--gpus-per-task G",
            hint="e.g. --slurm --gpus-per-task 4 --gpus-per-run 2 (two runs per task)",
        )
    if per_task is not None and per_run is not None and per_task % per_run:
        raise UsageError(
            f"--gpus-per-task {request.gpus_per_task} cannot be split into runs of "
            f"--gpus-per-run {per_run}",
            hint=f"ask for a multiple of {per_run} GPUs per task",
        )
    for option in request.options:
        option_flag(option)  # each checked before anything is submitted
    limit = time_limit(request)  # a time limit sweepctl cannot read is said now
    lead = signal_lead(request)
    if agent.run_time is not None and limit is not None and agent.run_time + lead >= limit:
        raise UsageError(
            f"--run-time {agent.run_time:g}s does not fit in the {limit}s time limit "
            f"(with the {lead}s warning before it)",
            hint="ask for a longer --time, or give a shorter --run-time",
        )


def option_flag(option: str) -> str:
    """``--slurm-opt KEY=VALUE`` as an sbatch argument, ``--KEY=VALUE`` (``--KEY`` alone)."""
    key, eq, value = option.partition("=")
    key = key.strip().removeprefix("--")
    if not OPTION_KEY.match(key):
        raise UsageError(
            f"--slurm-opt {option!r}: expected KEY=VALUE with an sbatch option's long name",
            hint="e.g. --slurm-opt account=myproj --slurm-opt constraint=a100",
        )
    if key in MANAGED:
        raise UsageError(f"--slurm-opt {key}: {MANAGED[key]}")
    if "\n" in value or "\r" in value:
        raise UsageError(f"--slurm-opt {key}: a value cannot span lines")
    return f"--{key}={value}" if eq else f"--{key}"


# -- what is submitted ----------------------------------------------------------------------


def agent_argv(sweep_id: str, agent: TaskAgent, *, gpus_per_task: int | None) -> list[str]:
    """The command each task runs: this Python's sweepctl, as an agent of the sweep."""
    argv = [sys.executable, "-m", "sweepctl", "agent", sweep_id]
    if agent.count is not None:
        argv += ["--count", str(agent.count)]
    if agent.workers != 1:
        argv += ["--workers", str(agent.workers)]
    if agent.timeout is not None:
        argv += ["--timeout", f"{agent.timeout:g}s"]
    if agent.idle_exit is not None:
        argv += ["--idle-exit", f"{agent.idle_exit:g}s"]
    if gpus_per_task is not None:
        # The task's GPUs are the ones SLURM allocated (CUDA_VISIBLE_DEVICES): `all` means
        # those, and indices count within them.
        argv += ["--gpus", agent.gpus or "all"]
        if agent.gpus_per_run is not None:
            argv += ["--gpus-per-run", str(agent.gpus_per_run)]
    return argv


def batch_script(
    sweep: Sweep, *, cwd: Path, argv: Sequence[str], reserve: float | None = None
) -> str:
    """The batch script: go to the submitting folder and become the agent (``exec``, so
    that SLURM's signals reach the agent itself). Every value is shell-quoted. ``reserve``:
    seconds of the time limit a new run needs (see :func:`claim_deadline`)."""
    # A comment: no line breaks from a sweep's name.
    label = f"{' '.join(sweep.name.split())} ({sweep.id})" if sweep.name else sweep.id
    lines = [
        "#!/bin/bash",
        f"# sweepctl agents for sweep {label}, one per array task.",
        "# The store's URL reaches the tasks as $SWEEPCTL_STORAGE in the environment sbatch",
        "# passes on (--export=ALL); it is not written in this file.",
        f"cd {shlex.quote(str(cwd))} || exit 1",
    ]
    if reserve is not None:
        lines.append(f"export {RESERVE_ENV}={reserve:g}")
    lines += [f"exec {shlex.join(argv)}", ""]
    return "\n".join(lines)


def time_limit(request: SlurmRequest) -> int | None:
    """Each task's time limit in seconds (--time, or --slurm-opt time=...); None: not given."""
    given = request.time
    for option in request.options:
        key, _, value = option.partition("=")
        if key.strip().removeprefix("--") == "time":
            given = value
    return slurm_seconds(given) if given else None


def signal_lead(request: SlurmRequest) -> int:
    """Seconds before the time limit that a task gets SIGTERM: two minutes, less for a short
    limit (a quarter of it), or what a --slurm-opt signal=...@N says."""
    for option in request.options:
        key, _, value = option.partition("=")
        if key.strip().removeprefix("--") == "signal":
            _, at, seconds = value.partition("@")
            return int(seconds) if at and seconds.strip().isdigit() else 60
    limit = time_limit(request)
    if limit is not None and limit < 4 * SIGNAL_LEAD:
        return max(1, limit // 4)
    return SIGNAL_LEAD


def sbatch_argv(
    sweep: Sweep, request: SlurmRequest, *, output: str, cwd: Path, script: Path
) -> list[str]:
    """The sbatch command line; options given with --slurm-opt replace sweepctl's own."""
    ours: dict[str, str] = {
        "job-name": f"--job-name=sweepctl-{sweep.id}",
        "array": f"--array=0-{request.tasks - 1}",
        "output": f"--output={output}",
        "open-mode": "--open-mode=append",  # a requeued task adds to its file
        "chdir": f"--chdir={cwd}",
        "export": "--export=ALL",
        "requeue": "--requeue",
        # Only the batch shell, which is the agent (exec): it stops its runs itself.
        "signal": f"--signal=B:TERM@{signal_lead(request)}",
    }
    for key, value in (
        ("partition", request.partition),
        ("time", request.time),
        ("mem", request.mem),
        ("cpus-per-task", request.cpus_per_task),
    ):
        if value is not None:
            ours[key] = f"--{key}={value}"
    if request.gpus_per_task is not None:
        ours["gres"] = f"--gres=gpu:{request.gpus_per_task}"
    for option in request.options:
        flag = option_flag(option)
        key = flag[2:].partition("=")[0]
        ours[key] = flag
    return ["sbatch", "--parsable", *ours.values(), str(script)]


def output_pattern(store: Store, sweep: Sweep) -> Path:
    """Where the tasks' output goes: the store's folder, slurm/SWEEP/JOB_TASK.out."""
    return store.files_dir / "slurm" / sweep.id / "%A_%a.out"


def plan(
    store: Store, sweep: Sweep, request: SlurmRequest, agent: TaskAgent, *, cwd: Path
) -> Batch:
    """The script and the sbatch command for the sweep's job array; nothing written yet."""
    check(store, request, agent)
    argv = agent_argv(sweep.id, agent, gpus_per_task=request.gpus_per_task)
    output = output_pattern(store, sweep)
    reserve = None
    if agent.run_time is not None:  # the run, and the warning before the limit
        reserve = agent.run_time + signal_lead(request)
    return Batch(
        tasks=request.tasks,
        script=batch_script(sweep, cwd=cwd, argv=argv, reserve=reserve),
        sbatch=sbatch_argv(
            sweep, request, output=str(output), cwd=cwd, script=output.parent / "JOBID.sh"
        ),
        output=str(output),
    )


def submit(store: Store, sweep: Sweep, batch: Batch, *, env: Mapping[str, str]) -> Batch:
    """Write the script, run sbatch, keep the job's id in the store; ``batch`` filled in.

    The store's URL (password included) goes to the tasks as ``SWEEPCTL_STORAGE`` in the
    environment sbatch hands on, never into the script file. Nothing is kept when sbatch
    refuses: one sbatch call submits the whole array or nothing.
    """
    folder = Path(batch.output).parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A file per submission, renamed JOBID.sh once the job id is known.
    pending = folder / f"submit-{os.getpid()}-{time.time_ns()}.sh"
    fd = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(batch.script)
    argv = [*batch.sbatch[:-1], str(pending)]
    task_env = dict(env, SWEEPCTL_STORAGE=store.url)
    try:
        try:
            code, out = run_captured(argv, timeout=SUBMIT_TIMEOUT, env=task_env)
        except FileNotFoundError:
            raise UsageError(
                "sbatch not found: --slurm submits through SLURM's own commands",
                hint="run this where sbatch works (a login node); --dry-run shows the script",
            ) from None
        except OSError as exc:  # TimeoutError too: a controller that does not answer
            raise SweepctlError(f"sbatch did not answer: {exc}") from None
        job_id = _job_id(out) if code == 0 else None
        if job_id is None:
            raise _refused(out, code)
    except BaseException:
        pending.unlink(missing_ok=True)
        raise
    final = folder / f"{job_id}.sh"
    pending.rename(final)
    batch.job_id = job_id
    batch.sbatch = [*batch.sbatch[:-1], str(final)]
    store.add_slurm_job(sweep.id, job_id, tasks=batch.tasks, output=batch.output)
    return batch


def _job_id(out: str) -> str | None:
    """The job id in ``sbatch --parsable``'s output ("1234" or "1234;cluster")."""
    for line in reversed(out.splitlines()):
        found = JOB_LINE.match(line.strip())
        if found:
            return found.group(1)
    return None


def _refused(out: str, code: int) -> SweepctlError:
    """sbatch's own error, on one line; bad input (exit 2) unless SLURM itself is away."""
    lines = [
        line.strip().removeprefix("sbatch: error: ").strip()
        for line in out.splitlines()
        if line.strip()
    ]
    said = "; ".join(dict.fromkeys(lines)) or f"exit code {code}, no message"
    message = f"sbatch refused the job array, nothing was submitted: {said}"
    if re.search(r"contact|connect|timed? ?out|munge", said, re.IGNORECASE):
        return SweepctlError(message, hint="is the SLURM controller up? try `sinfo`")
    return UsageError(message, hint="see `sinfo` for the partitions and what their nodes have")


# -- control ----------------------------------------------------------------------------------


def cancel(job_ids: Sequence[str]) -> str:
    """scancel the given jobs (every task of each array, queued or running): what to tell
    the user. Jobs that already ended are no error; a missing scancel is said, not raised,
    since the sweep itself is canceled by then."""
    if not job_ids:
        return ""
    jobs = ", ".join(job_ids)
    try:
        code, out = run_captured(["scancel", *job_ids], timeout=SUBMIT_TIMEOUT)
    except OSError as exc:
        return f"; could not cancel SLURM job {jobs} ({exc}): run `scancel {' '.join(job_ids)}`"
    problems = [
        line.strip()
        for line in out.splitlines()
        if line.strip() and "invalid job id" not in line.lower()  # ended and forgotten
    ]
    if code != 0 and problems:
        return f"; scancel {' '.join(job_ids)} failed: {' '.join(problems)}"
    return f"; SLURM job{'s' if len(job_ids) != 1 else ''} {jobs} canceled"


# -- inside a task ----------------------------------------------------------------------------


def task_identity(environ: Mapping[str, str]) -> dict[str, Any]:
    """The SLURM job and array task an agent runs in (both None outside SLURM)."""
    job = environ.get("SLURM_ARRAY_JOB_ID") or environ.get("SLURM_JOB_ID") or None
    task = environ.get("SLURM_ARRAY_TASK_ID")
    return {
        "slurm_job": job,
        "slurm_task": int(task) if task and task.isdigit() and job else None,
    }


def slurm_seconds(text: str) -> int | None:
    """A SLURM duration (``--time``, or squeue's time left) in seconds; None for no limit.

    SLURM's forms: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S``.
    """
    value = text.strip()
    if value.upper() in ("UNLIMITED", "INFINITE", "NOT_SET", "INVALID"):
        return None
    days, dash, rest = value.rpartition("-") if "-" in value else ("0", "", value)
    try:
        parts = [int(p) for p in rest.split(":")]
        day_count = int(days)
    except ValueError:
        parts, day_count = [], 0
    if not parts or len(parts) > 3 or any(p < 0 for p in parts) or day_count < 0:
        raise UsageError(f"--time {text!r}: not a SLURM time", hint=f"one of {TIME_FORMS}")
    if dash:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = [*parts, 0, 0][:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:  # M or M:S
        hours, (minutes, seconds) = 0, [*parts, 0][:2]
    return ((day_count * 24 + hours) * 60 + minutes) * 60 + seconds


def claim_deadline(environ: Mapping[str, str]) -> float | None:
    """When (``time.time()``) an agent in a SLURM task must stop claiming runs: the task's
    end, from squeue, less the reserve the batch script set. None when not asked for, or
    when SLURM does not say (no limit, squeue unavailable)."""
    reserve = environ.get(RESERVE_ENV)
    job = environ.get("SLURM_JOB_ID")
    if not reserve or not job:
        return None
    try:
        code, out = run_captured(["squeue", "-h", "-j", job, "-o", "%L"], timeout=30)
        left = slurm_seconds(out.strip().splitlines()[-1]) if code == 0 and out.strip() else None
    except (OSError, UsageError, ValueError):
        return None
    if left is None:
        return None
    return time.time() + left - float(reserve)
