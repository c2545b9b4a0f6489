"""Many agents on one grid: every point exactly once, and runs per second, SQLite and PostgreSQL.

    .venv/bin/python bench/scale.py [--runs 1000] [--agents-sqlite 8] [--agents-postgres 32]
                                    [--skip-postgres] [--timeout 240]

A grid sweep of RUNS points (`x: int_uniform 1..RUNS`) over a program that does nothing
(`pass`), launched through W&B's default command (`/usr/bin/env python noop.py --x=N`). N
`sweepctl agent ID` processes (one worker each) are started together and each runs until the
grid is handed out. Timed from outside: the first launch to the last agent's exit.

Then, from `sweepctl runs ID --json` and `sweepctl ls --json`: RUNS runs, each grid point
exactly once, all `finished`, the run numbers 0..RUNS-1 once each (a claim that did not see
the one before it would repeat a number), the sweep `finished`; every agent exited 0 and
printed no "error", "Traceback" or "database is locked"; no run's output holds a traceback;
no process left behind. The SQLite store is a file in a temporary folder; the PostgreSQL one
a fresh schema, dropped at the end. Results: bench/results/scale.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import fleet  # bench/fleet.py: `python bench/scale.py` puts bench/ first on sys.path

RESULTS = fleet.REPO / "bench" / "results" / "scale.md"
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


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Result:
    """One store × agent count: timings and what the checks found."""

    store: str
    agents: int
    runs: int
    wall: float = 0.0
    cpu: float = 0.0
    first_claim: float | None = None  # seconds after the first launch
    store_span: float | None = None  # first claim to last end, by the store's clock
    checks: list[Check] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def store_clock(url: str, sweep_id: str) -> tuple[float, float] | None:
    """(first claim, last end) in epoch seconds, read from the store itself."""
    from sweepctl.store import open_store

    store = open_store(url)
    try:
        runs = store.runs(sweep_id)
    finally:
        store.engine.dispose()
    starts = [r.started_at for r in runs if r.started_at is not None]
    ends = [r.ended_at for r in runs if r.ended_at is not None]
    return (min(starts), max(ends)) if starts and ends else None


def verify(
    result: Result, swarm: fleet.Fleet, finished_in_time: bool, workdir: Path, env: dict
) -> None:
    """Fill ``result.checks`` from the CLI's own view of the store and the agents' output."""
    checks = result.checks
    n = result.runs
    checks.append(
        Check("all agents exited before the timeout", finished_in_time, f"{len(swarm.agents)}")
    )
    runs = fleet.runs_json(swarm.sweep_id, swarm.url, workdir, env)
    result.states = dict(Counter(r["state"] for r in runs))
    points = Counter(r["config"].get("x") for r in runs)
    missing = sorted(set(range(1, n + 1)) - set(points))
    dupes = sorted(x for x, k in points.items() if k > 1)
    extra = sorted(x for x in points if x not in range(1, n + 1))
    checks.append(Check(f"{n} runs", len(runs) == n, f"{len(runs)} runs"))
    checks.append(
        Check(
            "every grid point exactly once",
            not missing and not dupes and not extra,
            f"missing {len(missing)} {missing[:10]}, duplicated {len(dupes)} {dupes[:10]}, "
            f"outside the grid {len(extra)}",
        )
    )
    not_finished = [r for r in runs if r["state"] != "finished"]
    checks.append(
        Check(
            "every run finished",
            not not_finished,
            ", ".join(f"{k}: {v}" for k, v in sorted(result.states.items())),
        )
    )
    numbers = Counter(r["number"] for r in runs)
    bad_numbers = sorted(k for k, v in numbers.items() if v > 1) + sorted(
        set(range(len(runs))) - set(numbers)
    )
    checks.append(
        Check(
            f"run numbers 0..{n - 1} once each",
            not bad_numbers,
            f"repeated or missing: {bad_numbers[:10]}" if bad_numbers else "yes",
        )
    )
    sweep = fleet.sweep_json(swarm.sweep_id, swarm.url, workdir, env)
    checks.append(
        Check(
            "sweep finished",
            sweep["state"] == "finished",
            f"{sweep['state']} ({sweep.get('state_reason')})",
        )
    )
    codes = Counter(a.proc.returncode for a in swarm.agents)
    checks.append(
        Check(
            "every agent exited 0",
            set(codes) == {0},
            ", ".join(f"exit {k}: {v}" for k, v in sorted(codes.items(), key=str)),
        )
    )
    bad = [(a.index, line) for a in swarm.agents for line in fleet.bad_lines(a.output())]
    checks.append(
        Check(
            'no "error", "Traceback", "database is locked" in agent output',
            not bad,
            f"{len(bad)} lines, first: {bad[0]}" if bad else "none",
        )
    )
    tracebacks = [
        p
        for p in swarm.logs.parent.glob(f"**/runs/{swarm.sweep_id}/*/output.log")
        if "Traceback" in p.read_text(errors="replace")
    ]
    checks.append(
        Check(
            "no traceback in any run's output",
            not tracebacks,
            f"{len(tracebacks)} logs" if tracebacks else "none",
        )
    )


def run_one(store: str, url: str, agents: int, runs: int, workdir: Path, timeout: float) -> Result:
    """Create the sweep, start the agents together, wait for them, and check the outcome."""
    env = fleet.base_env()
    sweep_id = fleet.create_sweep(workdir, "sweep.yaml", url, env)
    swarm = fleet.Fleet(workdir, url, sweep_id, env, workdir / f"logs-{store}")
    result = Result(store, agents, runs)
    try:
        cpu0 = _cpu_children()
        epoch0 = time.time()
        t0 = time.perf_counter()
        for _ in range(agents):
            swarm.start()
        finished = swarm.wait_all(time.monotonic() + timeout)
        result.wall = time.perf_counter() - t0
        left = swarm.close()  # only agents past the timeout, or children they left
        result.cpu = _cpu_children() - cpu0
        span = store_clock(url, sweep_id)
        if span is not None:
            result.first_claim = span[0] - epoch0
            result.store_span = span[1] - span[0]
        verify(result, swarm, finished, workdir, env)
        result.checks.append(Check("no process left behind", left == 0, f"{left} killed"))
    finally:
        swarm.close()
    return result


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "–" if value is None else format(value, spec)


def render(args: argparse.Namespace, results: list[Result], header: list[str]) -> str:
    rows = []
    for r in results:
        per_s = r.runs / r.wall if r.wall else None
        steady = r.runs / r.store_span if r.store_span else None
        rows.append(
            f"| {r.store} | {r.agents} | {r.runs} | {fmt(r.wall)} | **{fmt(per_s)}** | "
            f"{fmt(steady)} | {fmt(r.first_claim)} | {fmt(r.cpu)} | "
            f"{fmt(r.cpu / r.runs * 1000 if r.runs else None, '.0f')} | "
            f"{'pass' if r.ok else '**FAIL**'} |"
        )
    command = f"`.venv/bin/python bench/scale.py --runs {args.runs}"
    command += f" --agents-sqlite {args.agents_sqlite} --agents-postgres {args.agents_postgres}"
    command += " --skip-postgres`" if args.skip_postgres else "`"
    out = [
        "# Scale: one grid, many agents",
        "",
        f"{command}: a {args.runs}-point grid (`x: int_uniform 1..{args.runs}`) over a no-op "
        "program (`pass`) launched through W&B's default command (`/usr/bin/env python "
        "noop.py --x=N`); N `sweepctl agent ID` processes (one worker each) started together, "
        "each running until the grid is handed out.",
        "",
        *header,
        "",
        "| store | agents | runs | wall s | **runs/s** | runs/s, store clock | first claim s | "
        "CPU s | CPU ms/run | checks |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "- wall: first agent launched to last agent exited, timed from outside; runs/s = runs / "
        "wall. It includes every agent's start-up (interpreter, imports, opening the store).",
        "- runs/s, store clock: runs / (first claim's `started_at` to last run's `ended_at`), "
        "from the store: the pace once agents are up.",
        "- first claim: seconds from the first launch to the first run claimed.",
        "- CPU: user + sys of every agent and every child, from getrusage: the 2 cores are the "
        "limit here; runs/s cannot exceed about 2 / (CPU s per run).",
        "",
        "## Checks",
    ]
    for r in results:
        out += ["", f"### {r.store}, {r.agents} agents", ""]
        out += [f"- {'ok' if c.ok else '**FAILED**'}: {c.name}: {c.detail}" for c in r.checks]
    return "\n".join(out) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="grid points (runs)")
    parser.add_argument("--agents-sqlite", type=int, default=8, help="agents on SQLite")
    parser.add_argument("--agents-postgres", type=int, default=32, help="agents on PostgreSQL")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--postgres-url", default=fleet.POSTGRES_URL, help="server to use")
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="seconds allowed per store before failing"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file to write")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    load = os.getloadavg()
    header = fleet.environment_lines(with_postgres=not args.skip_postgres)
    results: list[Result] = []
    with (
        fleet.terminate_as_interrupt(),
        tempfile.TemporaryDirectory(prefix="sweepctl-scale-") as tmp,
    ):
        workdir = Path(tmp)
        (workdir / "noop.py").write_text(NOOP)
        (workdir / "sweep.yaml").write_text(SWEEP.format(runs=args.runs))
        sqlite_url = f"sqlite:///{workdir / 'store' / 'sweepctl.db'}"
        print(f"SQLite, {args.agents_sqlite} agents, {args.runs} runs ...", flush=True)
        results.append(
            run_one("SQLite", sqlite_url, args.agents_sqlite, args.runs, workdir, args.timeout)
        )
        print(f"  {results[-1].wall:.1f}s, checks {'pass' if results[-1].ok else 'FAIL'}")
        if not args.skip_postgres:
            print(f"PostgreSQL, {args.agents_postgres} agents, {args.runs} runs ...", flush=True)
            with fleet.postgres_schema(args.postgres_url) as pg_url:
                results.append(
                    run_one(
                        "PostgreSQL", pg_url, args.agents_postgres, args.runs, workdir, args.timeout
                    )
                )
            print(f"  {results[-1].wall:.1f}s, checks {'pass' if results[-1].ok else 'FAIL'}")
    header.append(fleet.load_line(load))
    text = render(args, results, header)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written: {args.out}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
