"""Per-run overhead of `sweepctl agent`, measured the way a user waits for it.

    .venv/bin/python bench/overhead.py [--runs 100] [--repeat 5] [--workers 1,2]
        [--as-found-only] [--baseline DIR [--baseline-label TEXT]] [--no-profile]

The sweep is a grid of N points over a program that does nothing (`pass`), launched through
W&B's default command `${env} ${interpreter} ${program} ${args}`, i.e. `/usr/bin/env python
noop.py --x=I`, with the venv's python first on PATH. Every agent gets its own SQLite store in
a temporary folder.

The headline is end to end:

    overhead per run = (wall of `sweepctl agent ID --count N` - wall of the same N children
                        started directly, one after another, by this interpreter) / N

"The same children": the same argv (`--x=1` ... `--x=N`, as the agent renders them), the same
working folder, the environment the agent itself was given (so not the bootstrap the agent adds
to a child's PYTHONPATH: that start-up cost is the agent's, a user waits for it). With W
workers the direct children run W at a time, in W threads. Everything the agent adds counts:
its own start (interpreter, imports, opening the store, registering), every run's claim, files,
start, wait and end, the child's longer start under the bootstrap, and the agent's end (settle,
exit). The end-to-end figure splits exactly into two parts, reported beside it:

- start-up share: (T(1) - d) / N, with T(1) a whole `--count 1` agent (median of a few) and d
  the direct wall per child: what the agent pays once, spread over N runs;
- steady state: (T(N) - T(1) - (N - 1) d) / N: what every further run costs.

This file's earlier headline was the steady state alone, (T(N) - T(1)) / (N - 1) - d: it left
the one-time start-up out (about 0.45 s here, 4.5 ms per run at N = 100). It is still shown.

Diagnostics beside it: an "ideal" floor (W threads doing only Popen + read output + wait, with
the child environment the agent gives, bootstrap included, no store), so "ideal - direct" is
the child environment's own cost; the store's timestamps (in a run, between runs); CPU time
(user + sys of the process tree, from getrusage), which moves less than wall time when other
work shares the cores. On a shared machine load drifts by the minute: the cells are measured
in turn, each agent right after its own direct children, and every figure is the median (min)
over the repetitions.

Each is measured under three child environments, because Python's start-up dominates a no-op
run: as found (where PYTHONDONTWRITEBYTECODE is set, nothing caches bytecode: every child
compiles the bootstrap and every agent sweepctl's own modules again, which no installed copy
does), with bytecode caching on (the variable unset; caches go to a temporary
PYTHONPYCACHEPREFIX so nothing is written into the checkout), and with SWEEPCTL_CAPTURE_WANDB=0
(no bootstrap on the child's PYTHONPATH).

To compare two versions on the same machine in the same session, give --baseline DIR, a
folder holding the other version's sweepctl/ (`git archive REV sweepctl | tar -x -C DIR`): its
agents and their direct children are timed in turn with this tree's, as found, with DIR first
on PYTHONPATH, and the report gives the difference repetition by repetition.

Last, one agent runs in this process with timers around each stage of a run, and once more
under cProfile, to say where the time per run goes. Results: bench/results/overhead.md.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import importlib.util
import itertools
import os
import platform
import pstats
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "overhead.md"
VENV_BIN = Path(sys.executable).parent
SWEEPCTL = VENV_BIN / "sweepctl"
# Found without importing sweepctl, so this process stays small while it times children.
BOOTSTRAP = Path(importlib.util.find_spec("sweepctl").origin).parent / "agent" / "bootstrap"
GOAL_MS = 15.0
ONES = 3  # `--count 1` agents per repetition; the median one is taken
WARMUP = 3  # untimed starts before each timed loop: fills page and bytecode caches

NOOP = "pass\n"
SWEEP = """\
program: noop.py
method: grid
parameters:
  x:
    distribution: int_uniform
    min: 1
    max: {runs}
"""


# -- set-up ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One child environment to measure under."""

    name: str
    env: dict[str, str]
    capture: bool  # whether the agent puts its bootstrap on the child's PYTHONPATH
    bootstrap: Path = BOOTSTRAP  # the bootstrap of the sweepctl that this condition runs


def conditions(workdir: Path, baseline: Path | None = None) -> list[Condition]:
    """The environments: as found, bytecode caching on, capture off; and, with a baseline,
    as found again with the baseline's sweepctl first on PYTHONPATH."""
    base = dict(os.environ)
    base["PATH"] = f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}"
    base.pop("SWEEPCTL_STORAGE", None)  # every agent is given --storage
    cached = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    dont_write = base.get("PYTHONDONTWRITEBYTECODE", "unset")
    found = f"as found (PYTHONDONTWRITEBYTECODE={dont_write})"
    conds = [Condition(found, base, True)]
    if baseline is not None:
        path = os.pathsep.join(filter(None, [str(baseline), base.get("PYTHONPATH")]))
        bootstrap = baseline / "sweepctl" / "agent" / "bootstrap"
        conds.append(Condition(f"{found}, baseline", {**base, "PYTHONPATH": path}, True, bootstrap))
    return [
        *conds,
        Condition("PYTHONDONTWRITEBYTECODE unset", cached, True),
        Condition("SWEEPCTL_CAPTURE_WANDB=0", {**base, "SWEEPCTL_CAPTURE_WANDB": "0"}, False),
    ]


def child_env(cond: Condition, workdir: Path) -> dict[str, str]:
    """What the agent adds to a child's environment that changes its start-up cost."""
    env = dict(cond.env)
    env["SWEEPCTL_METRICS_FILE"] = str(workdir / "ideal-metrics.jsonl")
    if cond.capture:
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(cond.bootstrap) + (os.pathsep + existing if existing else "")
    return env


def program_argv(x: int) -> list[str]:
    """W&B's default command for the no-op program, as the agent renders it for grid point x."""
    return ["/usr/bin/env", "python", "noop.py", f"--x={x}"]


def create_sweep(workdir: Path, env: dict[str, str], label: str) -> tuple[str, str]:
    """A fresh store holding one grid sweep; returns (store URL, sweep id)."""
    url = f"sqlite:///{workdir / 'stores' / label / 'sweepctl.db'}"
    out = subprocess.run(
        [str(SWEEPCTL), "create", "sweep.yaml", "--quiet", "--storage", url],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return url, out.stdout.strip().splitlines()[-1]


# -- timing ------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Timing:
    """Wall and CPU seconds (user + sys, the whole process tree)."""

    wall: float
    cpu: float

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)

    def __sub__(self, other: Timing) -> Timing:
        return Timing(self.wall - other.wall, self.cpu - other.cpu)

    def __mul__(self, n: float) -> Timing:
        return Timing(self.wall * n, self.cpu * n)

    def __truediv__(self, n: float) -> Timing:
        return Timing(self.wall / n, self.cpu / n)


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def clock(include_self: bool = False) -> Iterator[list[Timing]]:
    """Time a block: wall, plus CPU of the children reaped in it (and ours, if asked)."""
    box: list[Timing] = []
    wall0 = time.perf_counter()
    cpu0 = _cpu(resource.RUSAGE_CHILDREN) + (_cpu(resource.RUSAGE_SELF) if include_self else 0)
    yield box
    cpu1 = _cpu(resource.RUSAGE_CHILDREN) + (_cpu(resource.RUSAGE_SELF) if include_self else 0)
    box.append(Timing(time.perf_counter() - wall0, cpu1 - cpu0))


def _shares(runs: int, workers: int) -> list[range]:
    """Grid points 1..runs dealt to W threads, as W agent workers would take them."""
    return [range(1 + i, runs + 1, workers) for i in range(workers)]


def _direct_worker(points: range, env: dict[str, str], cwd: Path) -> None:
    for x in points:
        subprocess.run(program_argv(x), cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)


def time_direct(env: dict[str, str], cwd: Path, runs: int, workers: int) -> Timing:
    """The same N children started directly, W at a time (W = 1: one after another).

    ``env`` is the environment the agent is given, not the one it gives its children: what
    the agent adds to a child (its bootstrap) is part of what it costs.
    """
    _direct_worker(range(1, WARMUP + 1), env, cwd)
    threads = [
        threading.Thread(target=_direct_worker, args=(points, env, cwd))
        for points in _shares(runs, workers)
        if points
    ]
    with clock() as box:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return box[0]


def _ideal_worker(points: range, env: dict[str, str], cwd: Path) -> None:
    for x in points:
        # The agent's own way of starting a child (process.Child), minus everything else.
        proc = subprocess.Popen(
            program_argv(x),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc.stdout.read()
        proc.stdout.close()
        proc.wait()


def time_ideal(env: dict[str, str], cwd: Path, runs: int, workers: int) -> Timing:
    """The floor for W: threads that only start children the agent's way and wait for them."""
    _ideal_worker(range(1, WARMUP + 1), env, cwd)
    threads = [
        threading.Thread(target=_ideal_worker, args=(points, env, cwd))
        for points in _shares(runs, workers)
        if points
    ]
    with clock(include_self=True) as box:  # our threads are this controller's own cost
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return box[0]


def time_agent(
    env: dict[str, str], cwd: Path, url: str, sweep_id: str, count: int, workers: int
) -> Timing:
    """One whole `sweepctl agent` process, timed from outside; CPU includes its children."""
    argv = [str(SWEEPCTL), "agent", sweep_id, "--count", str(count)]
    argv += ["--workers", str(workers), "--storage", url]
    with clock() as box:
        done = subprocess.run(
            argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
    if done.returncode != 0:
        raise SystemExit(f"agent failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return box[0]


def store_times(url: str, sweep_id: str) -> dict[str, float]:
    """From the store's own timestamps: the agent's steady pace, and its parts (W=1).

    cycle: from the first run's end to the last one's, per run; no start-up in it at all.
    started_at is taken inside the claim, after the grid has chosen; ended_at just before
    the run's end is written. So "in run" is launch + child + wait + bookkeeping, and
    "between" is writing the end, the next claim's transaction and choosing the next point.
    """
    from sweepctl.store import open_store

    runs = open_store(url).runs(sweep_id)
    ends = sorted(r.ended_at for r in runs)
    inside = [r.ended_at - r.started_at for r in runs]
    gaps = [b.started_at - a.ended_at for a, b in itertools.pairwise(runs)]
    quarter = max(1, len(gaps) // 4)
    return {
        "cycle": (ends[-1] - ends[0]) / (len(ends) - 1),
        "in_run": statistics.mean(inside),
        "between": statistics.mean(gaps),
        "between_first": statistics.mean(gaps[:quarter]),
        "between_last": statistics.mean(gaps[-quarter:]),
    }


# -- the measurements --------------------------------------------------------------------------


@dataclass
class Cell:
    """All repetitions of one (condition, workers) pair; every list holds one per repetition."""

    direct: list[Timing] = field(default_factory=list)  # the N children, started directly
    ideal: list[Timing] = field(default_factory=list)  # the N children, the agent's way
    agent_1: list[Timing] = field(default_factory=list)  # T(1), median of ONES
    agent_n: list[Timing] = field(default_factory=list)  # T(N)
    store: list[dict[str, float]] = field(default_factory=list)

    def per_child(self, runs: int) -> list[Timing]:
        """d: the direct wall (and CPU) per child."""
        return [d / runs for d in self.direct]

    def end_to_end(self, runs: int) -> list[Timing]:
        """(T(N) - direct(N)) / N: the headline."""
        return [(n - d) / runs for n, d in zip(self.agent_n, self.direct, strict=True)]

    def startup_share(self, runs: int) -> list[Timing]:
        """(T(1) - d) / N: the one-time cost, spread over the runs."""
        return [(one - d) / runs for one, d in zip(self.agent_1, self.per_child(runs), strict=True)]

    def steady_share(self, runs: int) -> list[Timing]:
        """(T(N) - T(1) - (N - 1) d) / N: the rest of the headline."""
        return [
            (n - one - d * (runs - 1)) / runs
            for n, one, d in zip(self.agent_n, self.agent_1, self.per_child(runs), strict=True)
        ]

    def steady_per_run(self, runs: int) -> list[Timing]:
        """(T(N) - T(1)) / (N - 1) - d: this file's earlier headline (start-up left out)."""
        return [
            (n - one) / (runs - 1) - d
            for n, one, d in zip(self.agent_n, self.agent_1, self.per_child(runs), strict=True)
        ]

    def child_env_cost(self, runs: int) -> list[Timing]:
        """(ideal(N) - direct(N)) / N: the child environment's and the pipe's own cost."""
        return [(i - d) / runs for i, d in zip(self.ideal, self.direct, strict=True)]


def warm_up(cond: Condition, workdir: Path, index: int) -> None:
    """One untimed agent run, so no T(1) carries a first compile into a fresh bytecode cache."""
    url, sweep_id = create_sweep(workdir, cond.env, f"warmup-{index}")
    time_agent(cond.env, workdir, url, sweep_id, 1, 1)


def repetition(
    cells: dict[tuple[str, int], Cell],
    conds: list[Condition],
    workers: list[int],
    workdir: Path,
    runs: int,
    rep: int,
) -> None:
    """Measure every (condition, workers) pair once; interleaved so drift hits all alike."""
    for c, cond in enumerate(conds):
        for w in workers:
            cell = cells.setdefault((cond.name, w), Cell())
            url, sweep_id = create_sweep(workdir, cond.env, f"c{c}-w{w}-r{rep}-all")
            # The agent right after its own direct children: the load drifts by the minute.
            cell.direct.append(time_direct(cond.env, workdir, runs, w))
            cell.agent_n.append(time_agent(cond.env, workdir, url, sweep_id, runs, w))
            cell.store.append(store_times(url, sweep_id))
            cell.ideal.append(time_ideal(child_env(cond, workdir), workdir, runs, w))
            ones = []  # T(1) is half a second of start-up: its noise is not small
            for k in range(ONES):
                url, sweep_id = create_sweep(workdir, cond.env, f"c{c}-w{w}-r{rep}-one{k}")
                ones.append(time_agent(cond.env, workdir, url, sweep_id, 1, w))
            cell.agent_1.append(statistics.median_low(ones))
            print(
                f"  rep {rep + 1} | {cond.name} | workers {w}: agent {cell.agent_n[-1].wall:.2f}s,"
                f" {runs} direct {cell.direct[-1].wall:.2f}s: "
                f"{ms(cell.end_to_end(runs)[-1].wall)} ms per run "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )


# -- where the time goes (in process) ----------------------------------------------------------


class StageTimers:
    """Wraps functions with wall and thread-CPU accumulators (about 1 µs a call)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = owner.__dict__.get(name)
        if original is None:  # a stage this version of the code does not have
            return
        wall, cpu, calls = self.wall, self.cpu, self.calls
        wall[label], cpu[label], calls[label] = 0.0, 0.0, 0

        def timed(*args: Any, **kwargs: Any) -> Any:
            # thread_time: CPU of the calling thread only, so contention does not count.
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                wall[label] += time.perf_counter() - w0
                cpu[label] += time.thread_time() - c0
                calls[label] += 1

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def _stages() -> list[tuple[Any, str, str]]:
    """(module or class, attribute, label) for each timed stage; indent shows nesting."""
    from sweepctl.agent import loop, macros, metrics, process
    from sweepctl.backends.local import controller as local
    from sweepctl.search import grid
    from sweepctl.store import base

    return [
        (base.Store, "claim", "store.claim (one transaction)"),
        (base, "mark_crashed", "  store: mark silent agents' runs crashed"),
        (base.Store, "_history_run", "  store: a Run per history row (reused while unchanged)"),
        (local, "decide", "  controller.decide"),
        (grid, "suggest", "    search.grid.suggest"),
        (grid, "_axes", "      grid._axes (the grid's points)"),
        (grid, "_taken", "      grid._taken (the points the history holds)"),
        (grid, "value_key", "      grid.value_key (a value's W&B key)"),
        (loop.Agent, "_execute", "Agent._execute"),
        (macros, "write_param_file", "  macros.write_param_file"),
        (macros, "render_command", "  macros.render_command"),
        (loop, "child_environment", "  loop.child_environment"),
        (process.Child, "__init__", "  process.Child.__init__ (Popen, pidfd, pump thread)"),
        (process.Child, "wait", "  process.Child.wait (child runs and exits)"),
        (metrics.MetricsTail, "read_new", "  MetricsTail.read_new"),
        (base.Store, "finish_run", "  store.finish_run"),
        (loop.Agent, "_after", "Agent._after"),
        (base.Store, "control", "main thread: store.control (beside the worker)"),
    ]


@contextmanager
def agent_environment(env: dict[str, str], cwd: Path) -> Iterator[None]:
    """os.environ and cwd as the agent process would have them (it copies both at start)."""
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_in_process(cond: Condition, workdir: Path, runs: int, label: str) -> tuple[float, Any]:
    """One agent (one worker) in this process; returns its wall seconds and its report."""
    from sweepctl import api

    url, sweep_id = create_sweep(workdir, cond.env, label)
    with agent_environment(cond.env, workdir):
        start = time.perf_counter()
        report = api.agent(sweep_id, storage=url, count=runs)
        return time.perf_counter() - start, report


def stage_breakdown(cond: Condition, workdir: Path, runs: int) -> dict[str, Any]:
    """Wall and CPU per run of each stage of the agent's loop."""
    timers = StageTimers()
    for owner, name, label in _stages():
        timers.wrap(owner, name, label)
    try:
        wall, report = run_in_process(cond, workdir, runs, "stages")
    finally:
        timers.restore()
    child = statistics.mean(o.elapsed for o in report.outcomes)
    return {"wall": wall, "timers": timers, "child": child}


def cprofile_top(cond: Condition, workdir: Path, runs: int, limit: int = 16) -> list[tuple]:
    """The worker thread's heaviest functions under cProfile (which inflates Python code)."""
    from sweepctl.agent.loop import Agent

    profiler = cProfile.Profile()
    original = Agent.__dict__["_worker"]

    def profiled(self: Agent, index: int) -> None:
        profiler.enable()  # cProfile sees one thread: the worker's
        try:
            original(self, index)
        finally:
            profiler.disable()

    Agent._worker = profiled
    try:
        run_in_process(cond, workdir, runs, "cprofile")
    finally:
        Agent._worker = original
    rows = [
        (cumtime, tottime, calls, f"{_short_path(path)}:{line}({func})")
        for (path, line, func), (_, calls, tottime, cumtime, _) in pstats.Stats(
            profiler
        ).stats.items()
    ]
    return sorted(rows, reverse=True)[:limit]


def _short_path(path: str) -> str:
    """A frame's file, short: site-packages relative, sweepctl from the package down."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    if "/sweepctl/" in path:
        return "sweepctl/" + path.rsplit("/sweepctl/", 1)[1]
    return Path(path).name if path != "~" else "builtin"


# -- report ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def med_min(values: list[float]) -> str:
    """'median (min)' in ms: the median is the figure; the min shows the spread."""
    return f"{ms(statistics.median(values))} ({ms(min(values))})"


def _col(values: list[Timing], what: str) -> list[float]:
    return [getattr(v, what) for v in values]


def overhead_table(cells: dict[tuple[str, int], Cell], runs: int, what: str) -> list[str]:
    """The headline and its two parts, in wall or CPU ("wall" / "cpu") ms per run."""
    lines = [
        "| child environment | W | direct, per child | agent, T(N) / N "
        "| **end-to-end overhead** | = start-up share | + steady state "
        "| (steady state per further run) | child env: ideal − direct | agent T(1) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, w), cell in cells.items():
        lines.append(
            f"| {name} | {w} | {med_min(_col(cell.per_child(runs), what))} "
            f"| {med_min(_col([n / runs for n in cell.agent_n], what))} "
            f"| **{med_min(_col(cell.end_to_end(runs), what))}** "
            f"| {med_min(_col(cell.startup_share(runs), what))} "
            f"| {med_min(_col(cell.steady_share(runs), what))} "
            f"| {med_min(_col(cell.steady_per_run(runs), what))} "
            f"| {med_min(_col(cell.child_env_cost(runs), what))} "
            f"| {med_min(_col(cell.agent_1, what))} |"
        )
    return lines


def store_table(cells: dict[tuple[str, int], Cell], runs: int) -> list[str]:
    lines = [
        "| child environment | store clock − direct | in a run | in a run − direct "
        "| between runs | between, first quarter | between, last quarter |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, w), cell in cells.items():
        if w != 1:
            continue
        direct = _col(cell.per_child(runs), "wall")
        col = {key: [s[key] for s in cell.store] for key in cell.store[0]}
        lines.append(
            f"| {name} | {med_min(_minus(col['cycle'], direct))} | {med_min(col['in_run'])} "
            f"| {med_min(_minus(col['in_run'], direct))} | {med_min(col['between'])} "
            f"| {med_min(col['between_first'])} | {med_min(col['between_last'])} |"
        )
    return lines


def _minus(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]


def stage_table(stages: dict[str, Any], runs: int, direct: float) -> list[str]:
    timers: StageTimers = stages["timers"]
    lines = [
        "| stage (indent: inside the one above) | wall ms per run | CPU ms per run "
        "| calls per run |",
        "|---|---|---|---|",
    ]
    for label, wall in timers.wall.items():
        shown = label.replace("  ", "&nbsp;&nbsp;")
        cpu, calls = timers.cpu[label], timers.calls[label]
        if not calls:  # called through another name (a registry): its time is in its caller
            continue
        lines.append(f"| {shown} | {ms(wall / runs)} | {ms(cpu / runs)} | {calls / runs:g} |")
    lines += [
        f"| the child, as the agent sees it (Child.elapsed) | {ms(stages['child'])} | | |",
        f"| the child, started directly (median above) | {ms(direct)} | | |",
        f"| the agent's wall, whole | {ms(stages['wall'] / runs)} | | |",
    ]
    return lines


def stage_summary(stages: dict[str, Any], runs: int, direct: float) -> list[str]:
    """The stage timers' answer in three lines, for the top of the report."""
    timers: StageTimers = stages["timers"]

    def per_run(table: dict[str, Any], prefix: str) -> float:
        return next((v for k, v in table.items() if k.strip().startswith(prefix)), 0.0) / runs

    def cpu(prefix: str) -> float:
        return per_run(timers.cpu, prefix)

    return [
        f"- the claim, one store transaction per run: {ms(cpu('store.claim'))} ms CPU per run, "
        f"of which the decision (`controller.decide`) {ms(cpu('controller.decide'))} ms",
        f"- writing the run's end (`store.finish_run`): {ms(cpu('store.finish_run'))} ms CPU",
        f"- the child inside the agent (`Child.elapsed`) {ms(stages['child'])} ms against "
        f"{ms(direct)} ms started directly: {ms(stages['child'] - direct)} ms more there (its "
        "environment, and the agent's threads beside it)",
    ]


def profile_table(rows: list[tuple], runs: int) -> list[str]:
    lines = [
        "| function | cumulative ms per run | own ms per run | calls per run |",
        "|---|---|---|---|",
    ]
    for cumtime, tottime, calls, where in rows:
        lines.append(
            f"| `{where}` | {ms(cumtime / runs)} | {ms(tottime / runs)} | {calls / runs:g} |"
        )
    return lines


def environment_lines() -> list[str]:
    """Date, machine, versions, and the settings that move a no-op child's start-up."""
    import sqlite3

    import sqlalchemy

    import sweepctl

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "?"

    with open("/proc/cpuinfo") as fh:
        cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "?")
    dirty = (
        " + uncommitted changes in sweepctl/" if git("status", "--porcelain", "sweepctl") else ""
    )
    cached = "yes" if (BOOTSTRAP / "__pycache__").is_dir() else "no"
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores ({cpu}), {platform.platform()}",
        f"- Python {platform.python_version()}, sweepctl {sweepctl.__version__} "
        f"(git {git('rev-parse', '--short', 'HEAD')}{dirty}), SQLAlchemy "
        f"{sqlalchemy.__version__}, SQLite {sqlite3.sqlite_version}",
        f"- PYTHONDONTWRITEBYTECODE here: {os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')}; "
        f"a __pycache__ beside the bootstrap at start: {cached}",
    ]


def load_line(start: tuple[float, ...]) -> str:
    end = os.getloadavg()
    return (
        f"- load average (1 min) at start {start[0]:.2f}, at end {end[0]:.2f}, on "
        f"{os.cpu_count()} cores: other work shared the machine when this is near or above it"
    )


def baseline_lines(args: argparse.Namespace, cells: dict[tuple[str, int], Cell]) -> list[str]:
    """With --baseline: the same headline for the other tree, measured in turn with this one."""
    if args.baseline is None:
        return []
    runs = args.runs
    (name, w), first = next(iter(cells.items()))
    other = cells[(f"{name}, baseline", w)]
    mine = _col(first.end_to_end(runs), "wall")
    theirs = _col(other.end_to_end(runs), "wall")
    return [
        f'Baseline: {args.baseline_label or f"`{args.baseline}`"} (rows "…, baseline"), '
        f"measured in turn with this tree: **{ms(statistics.median(theirs))} ms** wall per "
        "run, one worker; this tree minus the "
        f"baseline, repetition by repetition: {med_min(_minus(mine, theirs))} ms.",
        "",
    ]


def render(
    args: argparse.Namespace,
    cells: dict[tuple[str, int], Cell],
    stages: dict[str, Any] | None,
    top: list[tuple] | None,
    header: list[str],
) -> str:
    runs = args.runs
    first = next(iter(cells.values()))  # as found, the first worker count
    wall = statistics.median(_col(first.end_to_end(runs), "wall"))
    cpu = statistics.median(_col(first.end_to_end(runs), "cpu"))
    startup = statistics.median(_col(first.startup_share(runs), "wall"))
    steady = statistics.median(_col(first.steady_share(runs), "wall"))
    old = statistics.median(_col(first.steady_per_run(runs), "wall"))
    verdict = "met" if wall < GOAL_MS / 1000 else "**not met**"
    direct = statistics.median(_col(first.per_child(runs), "wall"))
    summary = [*stage_summary(stages, runs, direct), ""] if stages is not None else []
    out = [
        "# Controller overhead per run",
        "",
        f"`.venv/bin/python bench/overhead.py {shlex.join(sys.argv[1:])}`: a no-op program "
        f"(`pass`) over a {runs}-point grid, W&B's default command (`/usr/bin/env python "
        "noop.py --x=N`), embedded SQLite store.",
        "",
        *header,
        "",
        f"Goal: under {GOAL_MS:g} ms per run on SQLite, measured the way a user waits for it: "
        f"(wall of `sweepctl agent ID --count {runs}` − wall of the same {runs} children started "
        f"directly, one after another) / {runs}. As found, one worker: **{ms(wall)} ms** wall "
        f"per run ({ms(cpu)} ms CPU): goal {verdict}. Of it, {ms(startup)} ms is the agent's "
        f"one-time start and end spread over {runs} runs and {ms(steady)} ms is paid run by "
        f"run. (This file's earlier headline, the steady state per further run with the "
        f"start-up left out: {ms(old)} ms.)",
        "",
        *baseline_lines(args, cells),
        *summary,
        f"## Wall ms per run: median (min) of {args.repeat} repetitions of {runs} runs",
        "",
        *overhead_table(cells, runs, "wall"),
        "",
        "- direct, per child: the same argv (`--x=1` … `--x=N`) started by `subprocess.run` "
        "in this interpreter, one after another (W threads for W workers), with the "
        "environment the agent is given: no controller, no bootstrap.",
        "- agent, T(N) / N: whole `sweepctl agent ID --count N --workers W` processes timed "
        "from outside, right after their direct children.",
        "- end-to-end overhead: (T(N) − direct(N)) / N, the goal's measure. It is exactly the "
        "sum of the next two columns.",
        "- start-up share: (T(1) − d) / N, with T(1) a whole `--count 1` agent (median of "
        f"{ONES}) and d the direct wall per child: interpreter, imports, opening the store, "
        "registering, settling and exiting, once per agent.",
        "- steady state: (T(N) − T(1) − (N − 1)·d) / N, the runs after the first. In "
        "brackets, the same per further run, (T(N) − T(1)) / (N − 1) − d: this file's earlier "
        "headline, which left the start-up out.",
        "- child env: the ideal floor (W threads doing only Popen + read output + wait, with "
        "the child environment the agent gives: bootstrap on PYTHONPATH unless capture is off) "
        "minus direct, per child: what the child's environment and the pipe cost, with no "
        "store and no agent loop. Part of the steady state.",
        "",
        f"## CPU ms per run (user + sys of the process tree): median (min) of {args.repeat}",
        "",
        *overhead_table(cells, runs, "cpu"),
        "",
        "CPU time moves less than wall time when other work shares the cores; it still counts "
        "the child's extra start-up under the bootstrap as the agent's.",
        "",
        "## Inside a run and between runs, wall ms (store timestamps, one worker)",
        "",
        *store_table(cells, runs),
        "",
        "Store clock: first run's end to last run's end, / (N − 1): the steady pace, no "
        "start-up in it. In a run: from the claim's `started_at` (taken after the grid chose "
        "the point) to `ended_at` (just before the end is written). Between runs: writing the "
        "end, the next claim's transaction and the grid's choice. The quarters show how it "
        "grows with the sweep's history.",
    ]
    if stages is not None:
        out += [
            "",
            f"## Where the time goes: stage timers, in process, as found, one worker, {runs} runs",
            "",
            *stage_table(stages, runs, direct),
            "",
            "CPU is the worker thread's own (`time.thread_time`), so it excludes the child and "
            "any wait for the cores.",
        ]
    if top is not None:
        out += [
            "",
            "## cProfile of the worker thread (it inflates Python-heavy code: trust the calls)",
            "",
            *profile_table(top, runs),
        ]
    return "\n".join(out) + "\n"


# -- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="runs per agent (grid points)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions; report median/min")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument(
        "--as-found-only", action="store_true", help="only the environment as found"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a folder holding another sweepctl/ (e.g. `git archive HEAD sweepctl | tar -x -C "
        "DIR`), timed in turn with this one, as found, first on PYTHONPATH",
    )
    parser.add_argument(
        "--baseline-label", help="what the baseline is, for the report (default: its path)"
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process passes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file to write")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    if args.baseline is not None:
        args.baseline = args.baseline.resolve()
        if not (args.baseline / "sweepctl" / "__init__.py").is_file():
            parser.error(f"--baseline {args.baseline} holds no sweepctl/ package")
    return args


def main() -> None:
    args = parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    load = os.getloadavg()
    header = environment_lines()  # before any child could write a bytecode cache
    with tempfile.TemporaryDirectory(prefix="sweepctl-overhead-") as tmp:
        workdir = Path(tmp)
        (workdir / "noop.py").write_text(NOOP)
        (workdir / "sweep.yaml").write_text(SWEEP.format(runs=args.runs))
        conds = conditions(workdir, args.baseline)
        if args.as_found_only:
            conds = conds[: 2 if args.baseline else 1]
        for index, cond in enumerate(conds):
            warm_up(cond, workdir, index)
        cells: dict[tuple[str, int], Cell] = {}
        for rep in range(args.repeat):
            repetition(cells, conds, workers, workdir, args.runs, rep)
        stages = top = None
        if not args.no_profile:
            print("  timing the stages of one agent in process, then cProfile ...", flush=True)
            stages = stage_breakdown(conds[0], workdir, args.runs)
            top = cprofile_top(conds[0], workdir, args.runs)
    text = render(args, cells, stages, top, [*header, load_line(load)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
