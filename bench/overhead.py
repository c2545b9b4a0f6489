"""Controller overhead per run of `sweepctl agent`, against the bare start of a no-op program.

    .venv/bin/python bench/overhead.py [--runs 200] [--repeat 3] [--workers 1,2] [--no-profile]

The sweep is a grid of RUNS points over a program that does nothing (`pass`), launched through
W&B's default command `${env} ${interpreter} ${program} ${args}`, i.e. `/usr/bin/env python
noop.py --x=N`, with the venv's python first on PATH. Every agent gets its own SQLite store in
a temporary folder.

What is timed, and why:

- bare: the same argv started RUNS times by `subprocess.run` in this process. This is "the
  children's own wall time": what the program costs without any controller.
- ideal: a minimal controller, Popen + read output + wait in W threads, with the environment
  the agent gives a child (its bootstrap on PYTHONPATH) and no store. The floor for W.
- agent: `sweepctl agent ID --count N --workers W` as a whole process, timed from outside.
  The one-time cost (interpreter, imports, opening the store, one run) is removed by timing
  `--count 1` too: per run = (T(N) - T(1)) / (N - 1).

overhead = agent per run - bare (the issue's definition) and agent per run - ideal (what
sweepctl adds beyond starting a child its way). Wall time is what the issue asks for; CPU time
(user + sys of the process tree, from getrusage) is reported beside it because it barely moves
when other work shares the cores, and wall time does.

Each is measured under three child environments, because Python's start-up dominates a no-op
run: as found (PYTHONDONTWRITEBYTECODE is set here, so every child compiles sweepctl's
sitecustomize bootstrap again), with bytecode caching on (the variable unset; caches go to a
temporary PYTHONPYCACHEPREFIX so nothing is written into the checkout), and with
SWEEPCTL_CAPTURE_WANDB=0 (no bootstrap on the child's PYTHONPATH).

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


def conditions(workdir: Path) -> list[Condition]:
    """The environments: as found, bytecode caching on, capture off."""
    base = dict(os.environ)
    base["PATH"] = f"{VENV_BIN}{os.pathsep}{base.get('PATH', '')}"
    base.pop("SWEEPCTL_STORAGE", None)  # every agent is given --storage
    cached = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    dont_write = base.get("PYTHONDONTWRITEBYTECODE", "unset")
    return [
        Condition(f"as found (PYTHONDONTWRITEBYTECODE={dont_write})", base, True),
        Condition("PYTHONDONTWRITEBYTECODE unset", cached, True),
        Condition("SWEEPCTL_CAPTURE_WANDB=0", {**base, "SWEEPCTL_CAPTURE_WANDB": "0"}, False),
    ]


def child_env(cond: Condition, workdir: Path) -> dict[str, str]:
    """What the agent adds to a child's environment that changes its start-up cost."""
    env = dict(cond.env)
    env["SWEEPCTL_METRICS_FILE"] = str(workdir / "ideal-metrics.jsonl")
    if cond.capture:
        existing = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(BOOTSTRAP) + (os.pathsep + existing if existing else "")
    return env


def program_argv() -> list[str]:
    """W&B's default command for the no-op program, as the agent renders it."""
    return ["/usr/bin/env", "python", "noop.py", "--x=1"]


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

    def __sub__(self, other: Timing) -> Timing:
        return Timing(self.wall - other.wall, self.cpu - other.cpu)

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


def time_bare(env: dict[str, str], cwd: Path, runs: int) -> Timing:
    """Per start of the program alone, started one after another."""
    argv = program_argv()
    for _ in range(WARMUP):
        subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    with clock() as box:
        for _ in range(runs):
            subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, check=True)
    return box[0] / runs


def _ideal_worker(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> None:
    for _ in range(runs):
        # The agent's own way of starting a child (launch.Child), minus everything else.
        proc = subprocess.Popen(
            argv,
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
    """Per run for the floor: W threads that only start children and wait for them."""
    argv = program_argv()
    _ideal_worker(argv, env, cwd, WARMUP)
    shares = [runs // workers + (i < runs % workers) for i in range(workers)]
    threads = [
        threading.Thread(target=_ideal_worker, args=(argv, env, cwd, n)) for n in shares if n
    ]
    with clock(include_self=True) as box:  # our threads are this controller's own cost
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return box[0] / runs


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
    """All repetitions of one (condition, workers) pair."""

    bare: list[Timing] = field(default_factory=list)
    ideal: list[Timing] = field(default_factory=list)
    agent_1: list[Timing] = field(default_factory=list)
    agent_n: list[Timing] = field(default_factory=list)
    store: list[dict[str, float]] = field(default_factory=list)

    def agent(self, runs: int) -> list[Timing]:
        """Per run with the one-time start removed, one per repetition."""
        return [(n - one) / (runs - 1) for n, one in zip(self.agent_n, self.agent_1, strict=True)]


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
            # Bare right beside its agent: on a shared machine the load drifts by the minute.
            cell.bare.append(time_bare(cond.env, workdir, runs))
            cell.ideal.append(time_ideal(child_env(cond, workdir), workdir, runs, w))
            ones = []  # T(1) is a second of start-up: its noise, / (N - 1), is not small
            for k in range(ONES):
                url, sweep_id = create_sweep(workdir, cond.env, f"c{c}-w{w}-r{rep}-one{k}")
                ones.append(time_agent(cond.env, workdir, url, sweep_id, 1, w))
            cell.agent_1.append(statistics.median_low(ones))
            url, sweep_id = create_sweep(workdir, cond.env, f"c{c}-w{w}-r{rep}-all")
            cell.agent_n.append(time_agent(cond.env, workdir, url, sweep_id, runs, w))
            cell.store.append(store_times(url, sweep_id))
            print(
                f"  rep {rep + 1} | {cond.name} | workers {w}: agent {cell.agent_n[-1].wall:.2f}s,"
                f" {runs} bare starts {runs * cell.bare[-1].wall:.2f}s",
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
        original = owner.__dict__[name]
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
    from sweepctl.agent import loop, macros, metrics
    from sweepctl.agent import process as launch
    from sweepctl.backends.local import controller as local
    from sweepctl.search import grid
    from sweepctl.store import base

    return [
        (base.Store, "claim", "store.claim (one transaction)"),
        (local, "decide", "  controller.decide"),
        (grid, "suggest", "    search.grid.suggest"),
        (grid, "_axes", "      grid._axes (value_key per grid value)"),
        (grid, "_taken", "      grid._taken (value_key per history value)"),
        (grid, "value_key", "      grid.value_key (one yaml.dump)"),
        (loop.Agent, "_execute", "Agent._execute"),
        (macros, "write_param_file", "  macros.write_param_file"),
        (macros, "render_command", "  macros.render_command"),
        (loop, "child_environment", "  loop.child_environment"),
        (launch.Child, "__init__", "  launch.Child.__init__ (Popen, pidfd, pump thread)"),
        (launch.Child, "wait", "  launch.Child.wait (child runs and exits)"),
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


def wall_table(cells: dict[tuple[str, int], Cell], runs: int) -> list[str]:
    lines = [
        "| child environment | W | bare start | ideal floor | agent per run "
        "| **overhead vs bare** | overhead vs ideal | store clock − bare | issue formula "
        "| agent T(1) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, w), cell in cells.items():
        agent = [a.wall for a in cell.agent(runs)]
        bare = [b.wall / w for b in cell.bare]
        ideal = [i.wall for i in cell.ideal]
        cycle = [s["cycle"] for s in cell.store]
        naive = [n.wall / runs - b for n, b in zip(cell.agent_n, bare, strict=True)]
        lines.append(
            f"| {name} | {w} | {med_min(bare)} | {med_min(ideal)} | {med_min(agent)} "
            f"| **{med_min(_minus(agent, bare))}** | {med_min(_minus(agent, ideal))} "
            f"| {med_min(_minus(cycle, bare))} | {med_min(naive)} "
            f"| {med_min([a.wall for a in cell.agent_1])} |"
        )
    return lines


def cpu_table(cells: dict[tuple[str, int], Cell], runs: int) -> list[str]:
    lines = [
        "| child environment | W | bare start | ideal floor | agent per run "
        "| **agent − bare** | ideal − bare | agent T(1) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, w), cell in cells.items():
        agent = [a.cpu for a in cell.agent(runs)]
        bare = [b.cpu for b in cell.bare]
        ideal = [i.cpu for i in cell.ideal]
        lines.append(
            f"| {name} | {w} | {med_min(bare)} | {med_min(ideal)} | {med_min(agent)} "
            f"| **{med_min(_minus(agent, bare))}** | {med_min(_minus(ideal, bare))} "
            f"| {med_min([a.cpu for a in cell.agent_1])} |"
        )
    return lines


def _minus(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]


def store_table(cells: dict[tuple[str, int], Cell]) -> list[str]:
    lines = [
        "| child environment | in a run | in a run − bare start "
        "| between runs | between, first quarter | between, last quarter |",
        "|---|---|---|---|---|---|",
    ]
    for (name, w), cell in cells.items():
        if w != 1:
            continue
        col = {key: [s[key] for s in cell.store] for key in cell.store[0] if key != "cycle"}
        beyond = _minus(col["in_run"], [b.wall for b in cell.bare])
        lines.append(
            f"| {name} | {med_min(col['in_run'])} | {med_min(beyond)} | {med_min(col['between'])} "
            f"| {med_min(col['between_first'])} | {med_min(col['between_last'])} |"
        )
    return lines


def stage_table(stages: dict[str, Any], runs: int, bare: float) -> list[str]:
    timers: StageTimers = stages["timers"]
    lines = [
        "| stage (indent: inside the one above) | wall ms per run | CPU ms per run "
        "| calls per run |",
        "|---|---|---|---|",
    ]
    for label, wall in timers.wall.items():
        shown = label.replace("  ", "&nbsp;&nbsp;")
        cpu, calls = timers.cpu[label], timers.calls[label]
        lines.append(f"| {shown} | {ms(wall / runs)} | {ms(cpu / runs)} | {calls / runs:g} |")
    lines += [
        f"| the child, as the agent sees it (Child.elapsed) | {ms(stages['child'])} | | |",
        f"| the child, bare start (median above) | {ms(bare)} | | |",
        f"| the agent's wall, whole | {ms(stages['wall'] / runs)} | | |",
    ]
    return lines


def stage_summary(stages: dict[str, Any], runs: int, bare: float) -> list[str]:
    """The stage timers' answer in three lines, for the top of the report."""
    timers: StageTimers = stages["timers"]

    def per_run(table: dict[str, Any], prefix: str) -> float:
        return next(v for k, v in table.items() if k.strip().startswith(prefix)) / runs

    def cpu(prefix: str) -> float:
        return per_run(timers.cpu, prefix)

    dumps = per_run(timers.calls, "grid.value_key")
    return [
        f"- the claim, one store transaction per run: {ms(cpu('store.claim'))} ms CPU per run, "
        f"of which the grid's choice (`search.grid.suggest`) {ms(cpu('search.grid.suggest'))} ms "
        f"and {dumps:.0f} `grid.value_key` (`yaml.dump`) calls per run",
        f"- writing the run's end (`store.finish_run`): {ms(cpu('store.finish_run'))} ms CPU",
        f"- the child inside the agent (`Child.elapsed`) {ms(stages['child'])} ms against "
        f"{ms(bare)} ms bare: its start-up costs {ms(stages['child'] - bare)} ms more there",
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


def render(
    args: argparse.Namespace,
    cells: dict[tuple[str, int], Cell],
    stages: dict[str, Any] | None,
    top: list[tuple] | None,
    header: list[str],
) -> str:
    runs = args.runs
    first = next(iter(cells.values()))
    wall = statistics.median(
        _minus([a.wall for a in first.agent(runs)], [b.wall for b in first.bare])
    )
    cpu = statistics.median(_minus([a.cpu for a in first.agent(runs)], [b.cpu for b in first.bare]))
    verdict = "met" if wall < GOAL_MS / 1000 else "**not met**"
    bare = statistics.median(b.wall for b in first.bare)
    summary = [*stage_summary(stages, runs, bare), ""] if stages is not None else []
    out = [
        "# Controller overhead per run",
        "",
        f"`.venv/bin/python bench/overhead.py --runs {runs} --repeat {args.repeat}`: a no-op "
        f"program (`pass`) over a {runs}-point grid, W&B's default command "
        "(`/usr/bin/env python noop.py --x=N`), embedded SQLite store.",
        "",
        *header,
        "",
        f"Goal: under {GOAL_MS:g} ms per run on SQLite. As found, one worker: **{ms(wall)} ms** "
        f"wall per run ({ms(cpu)} ms CPU): goal {verdict}.",
        "",
        *summary,
        f"## Wall ms per run: median (min) of {args.repeat} repetitions of {runs} runs",
        "",
        *wall_table(cells, runs),
        "",
        "- bare start: `subprocess.run` of the same argv one after another (divided by W), "
        "no controller: the children's own wall time.",
        "- ideal floor: W threads doing only Popen + read output + wait, with the child "
        "environment the agent gives (bootstrap on PYTHONPATH unless capture is off).",
        "- agent per run: (T(N) − T(1)) / (N − 1) of whole `sweepctl agent` processes timed "
        "from outside; T(1) (`--count 1`) holds the one-time start (interpreter, imports, "
        "store) and one run.",
        "- overhead vs bare: agent per run − bare start / W, the issue's definition. For W = 2 "
        "it supposes two children run side by side at no cost: read it with the ideal floor.",
        "- overhead vs ideal: agent per run − ideal floor at the same W: what sweepctl adds "
        "beyond starting a child its way.",
        "- store clock − bare: the agent's steady pace from the store's own timestamps (first "
        "run's end to last run's end, / (N − 1)), minus bare: no start-up to subtract at all.",
        "- issue formula: T(N) / N − bare start / W, the one-time start included.",
        "",
        f"## CPU ms per run (user + sys of the process tree): median (min) of {args.repeat}",
        "",
        *cpu_table(cells, runs),
        "",
        "CPU time hardly moves when other work shares the cores; agent − bare is what sweepctl "
        "costs per run in CPU, the child's extra start-up (bootstrap) included.",
        "",
        "## Inside a run and between runs, wall ms (store timestamps, one worker)",
        "",
        *store_table(cells),
        "",
        "In a run: from the claim's `started_at` (taken after the grid chose the point) to "
        "`ended_at` (just before the end is written). Between runs: writing the end, the next "
        "claim's transaction and the grid's choice. The quarters show how it grows with history.",
    ]
    if stages is not None:
        out += [
            "",
            f"## Where the time goes: stage timers, in process, as found, one worker, {runs} runs",
            "",
            *stage_table(stages, runs, bare),
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
    parser.add_argument("--runs", type=int, default=200, help="runs per agent (grid points)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; report median/min")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process passes")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file to write")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2")
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
        conds = conditions(workdir)
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
