"""Fault injection: kill -9 agents and children mid-run, restart them, then check exactly-once.

    .venv/bin/python bench/faults.py [--rounds 50] [--points 60] [--agents 3] [--seed N]
                                     [--postgres | --postgres-only]
                                     [--kinds kill,partition,restart,disk] [--slow-rounds 50]

``--kinds`` adds the slow faults of bench/fault_kinds.py (network partitions, a database
restart, a full disk; they need root) beside ``kill`` (kill -9, described here).

A grid of POINTS (`x: int_uniform 1..POINTS`) over a program that logs a metric, sleeps a
random 0.2-1.5 s and logs it again, with `sweepctl: {heartbeat_timeout: 2s, retries: 100,
retry_failed: true}`. AGENTS `sweepctl agent ID` processes are kept running. Each round sleeps
a random 0.1-0.8 s and waits (up to 5 s) until some live agent has a child running, then
SIGKILLs at random either an agent with a child running, and starts a replacement, or a
running child of a live agent (found through /proc: its cmdline names the program and its
parent is an agent), so the kill lands mid-run. An agent killed leaves its child to run on,
orphaned, as a real `kill -9` does. After every round the store is read: no grid point may
have two finished runs.

After the rounds, no more faults: agents that exit are replaced, one at a time and only after
the heartbeat timeout, until the sweep is `finished`, so runs left `running` by a killed agent
become `crashed` and are run again. Then, from `sweepctl runs ID --json`: every grid point
has exactly one `finished` run, no run is still `running`, every finished run recorded its
metric; every agent not killed exited 0 and printed no "error", "Traceback" or "database is
locked"; SQLite passes `PRAGMA integrity_check` and `foreign_key_check`; no process is left.

The agents run with WANDB_AGENT_DISABLE_FLAPPING=true and a huge
WANDB_AGENT_MAX_INITIAL_FAILURES: the runs this script kills would otherwise trip W&B's
"3 failures in the first minute" rule, which is about a broken program, not about this test.
Results: bench/results/faults.md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fault_kinds
import fleet  # bench/fleet.py: `python bench/faults.py` puts bench/ first on sys.path

RESULTS = fleet.REPO / "bench" / "results" / "faults.md"
PROGRAM = "faults_prog.py"
PROGRAM_TEXT = """\
import argparse
import random
import time

import sweepctl

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int, required=True)
x = parser.parse_args().x
sweepctl.log({"score": 0})
time.sleep(random.uniform(0.2, 1.5))
sweepctl.log({"score": x})
"""
SWEEP = """\
program: {program}
method: grid
metric:
  name: score
  goal: maximize
parameters:
  x:
    distribution: int_uniform
    min: 1
    max: {points}
sweepctl:
  heartbeat_timeout: {heartbeat}s
  retries: 100
  retry_failed: true
"""
AGENT_ENV = {
    "WANDB_AGENT_DISABLE_FLAPPING": "true",
    "WANDB_AGENT_MAX_INITIAL_FAILURES": "1000000",
}


@dataclass
class Round:
    index: int
    at: float  # seconds since the first agent started
    kind: str  # "agent" or "child"
    pid: int
    run_id: str | None  # the run the killed child (or the killed agent's child) belonged to
    note: str = ""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Outcome:
    """One store's fault run: rounds, timings, checks and any violation seen."""

    store: str
    points: int
    rounds: list[Round] = field(default_factory=list)
    first_violation: int | None = None  # the round after which a violation was first seen
    violations: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    agents_started: int = 0
    agents_killed: int = 0
    injection_s: float = 0.0
    settle_s: float = 0.0
    late_agents: int = 0
    grid_done_early: bool = False

    @property
    def ok(self) -> bool:
        return not self.violations and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def survived(self) -> int:
        """Rounds after which the store still held no point finished twice."""
        if self.first_violation is not None:
            return min(self.first_violation - 1, len(self.rounds))
        return len(self.rounds)


def run_of(pid: int) -> str | None:
    """The run a child belongs to: the agent gives it SWEEPCTL_RUN_ID."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            for item in fh.read().split(b"\0"):
                if item.startswith(b"SWEEPCTL_RUN_ID="):
                    return item.split(b"=", 1)[1].decode()
    except OSError:
        return None
    return None


def children(swarm: fleet.Fleet) -> dict[int, list[int]]:
    """Running children of the live agents, by agent pid: the program's pids in the work dir."""
    live = {a.pid for a in swarm.alive()}
    found: dict[int, list[int]] = {}
    for pid in fleet.processes_in(swarm.workdir):
        if not any(arg.endswith(PROGRAM) for arg in fleet.cmdline(pid)):
            continue
        parent = fleet.parent_pid(pid)
        if parent in live:
            found.setdefault(parent, []).append(pid)
    return found


def finished_twice(runs: list[Any]) -> dict[Any, list[str]]:
    """Grid points with more than one finished run: {x: [run ids]}."""
    seen: dict[Any, list[str]] = {}
    for run in runs:
        if run.state == "finished":
            seen.setdefault(run.config.get("x"), []).append(run.id)
    return {x: ids for x, ids in seen.items() if len(ids) > 1}


class Injector:
    """Keeps the agents up and kills one thing per round."""

    def __init__(self, swarm: fleet.Fleet, store: Any, args: argparse.Namespace, label: str):
        self.swarm = swarm
        self.store = store  # sweepctl's Store, read after every round
        self.args = args
        self.rng = random.Random(args.seed)
        self.out = Outcome(label, args.points)
        self.t0 = time.monotonic()

    def top_up(self) -> None:
        while len(self.swarm.alive()) < self.args.agents:
            self.swarm.start()

    def check_store(self, index: int) -> bool:
        """No point finished twice; False once the grid has a finished run for every point."""
        runs = self.store.runs(self.swarm.sweep_id)
        twice = finished_twice(runs)
        if twice:
            self.out.violations.append(f"after round {index}: points finished twice: {twice}")
            if self.out.first_violation is None:
                self.out.first_violation = index
        done = {r.config.get("x") for r in runs if r.state == "finished"}
        return len(done) < self.args.points

    def wait_for_child(self, patience: float = 5.0) -> dict[int, list[int]]:
        """The running children of live agents, waiting a little for one so kills land mid-run.

        Replacement agents spend a second or more starting up on a busy machine; without the
        wait, many rounds would only ever hit agents between runs.
        """
        until = time.monotonic() + patience
        while not (kids := children(self.swarm)) and time.monotonic() < until:
            self.top_up()  # agents exit while every config is handed out and none is stale
            time.sleep(0.05)
        return kids

    def one_round(self, index: int) -> None:
        self.top_up()
        time.sleep(self.rng.uniform(self.args.min_gap, self.args.max_gap))
        kids = self.wait_for_child()
        kind = self.rng.choice(("agent", "child"))
        note = ""
        if kind == "child" and not kids:
            kind, note = "agent", "no child running: killed an agent instead"
        if kind == "child":
            pid = self.rng.choice([p for pids in kids.values() for p in pids])
            run_id = run_of(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                note = "the child had already exited"
        else:
            self.top_up()
            live = self.swarm.alive()
            busy = [a for a in live if a.pid in kids]
            victim = self.rng.choice(busy or live)
            if not busy:
                note = note or "no agent had a child running"
            run_id = run_of(kids[victim.pid][0]) if victim.pid in kids else None
            pid = victim.pid
            self.swarm.kill(victim)
            self.out.agents_killed += 1
            self.swarm.start()  # the replacement
        at = time.monotonic() - self.t0
        self.out.rounds.append(Round(index, at, kind, pid, run_id, note))

    def inject(self) -> None:
        for _ in range(self.args.agents):
            self.swarm.start()
        start = time.monotonic()
        for index in range(1, self.args.rounds + 1):
            self.one_round(index)
            if not self.check_store(index):
                self.out.grid_done_early = index < self.args.rounds
                break
        self.out.injection_s = time.monotonic() - start

    def settle(self, deadline: float) -> None:
        """Let the grid finish: one fresh agent at a time, after the heartbeat timeout."""
        start = time.monotonic()
        while time.monotonic() < deadline:
            if self.swarm.alive():
                time.sleep(0.2)
                continue
            state = self.store.sweep_state(self.swarm.sweep_id)
            if state == "finished":
                break
            # Runs whose agent was killed stay `running` until the timeout says crashed.
            time.sleep(self.args.heartbeat + 0.5)
            self.swarm.start()
            self.out.late_agents += 1
        self.swarm.wait_all(deadline)
        self.out.settle_s = time.monotonic() - start
        self.check_store(len(self.out.rounds) + 1)


def sqlite_integrity(url: str) -> list[Check]:
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
    conn.close()
    return [
        Check("SQLite PRAGMA integrity_check", integrity == ["ok"], ", ".join(integrity)[:300]),
        Check("SQLite PRAGMA foreign_key_check", not foreign, f"{len(foreign)} rows"),
    ]


def verify(out: Outcome, swarm: fleet.Fleet, settled: bool, env: dict[str, str]) -> None:
    checks = out.checks
    checks.append(Check("the sweep settled before the timeout", settled, "every agent exited"))
    runs = fleet.runs_json(swarm.sweep_id, swarm.url, swarm.workdir, env)
    out.states = dict(Counter(r["state"] for r in runs))
    finished = Counter(r["config"].get("x") for r in runs if r["state"] == "finished")
    points = range(1, out.points + 1)
    none = [x for x in points if finished[x] == 0]
    twice = {x: k for x, k in finished.items() if k > 1}
    checks.append(
        Check(
            "every grid point has exactly one finished run",
            not none and not twice and set(finished) <= set(points),
            f"no finished run: {none[:10]}; finished more than once: {twice}",
        )
    )
    running = [r["run_id"] for r in runs if r["state"] == "running"]
    checks.append(Check("no run left running", not running, f"{running[:10]}"))
    no_metric = [
        r["run_id"]
        for r in runs
        if r["state"] == "finished" and r["summary"].get("score") != r["config"].get("x")
    ]
    checks.append(
        Check(
            "every finished run recorded its last metric (score = x)",
            not no_metric,
            f"{len(no_metric)} without: {no_metric[:5]}",
        )
    )
    by_id = {r["run_id"]: r for r in runs}
    ends: Counter[str] = Counter()
    unexpected = []
    for rnd in out.rounds:
        run = by_id.get(rnd.run_id or "")
        if run is None:
            continue
        ends[f"{rnd.kind} killed, run {run['state']}"] += 1
        # `finished`: the child had exited (a zombie takes SIGKILL silently) and its end was
        # recorded before the kill; anything else would be wrong.
        allowed = {"failed", "finished"} if rnd.kind == "child" else {"crashed", "finished"}
        if run["state"] not in allowed:
            unexpected.append(f"round {rnd.index} ({rnd.kind}): {run['run_id']} {run['state']}")
    checks.append(
        Check(
            "each run hit ended as a kill should leave it (child: failed, agent: crashed)",
            not unexpected,
            "; ".join(unexpected[:5]) or ", ".join(f"{k}: {v}" for k, v in sorted(ends.items())),
        )
    )
    alive_codes = Counter(a.proc.returncode for a in swarm.agents if not a.killed)
    checks.append(
        Check(
            "every agent not killed exited 0",
            set(alive_codes) <= {0},
            ", ".join(f"exit {k}: {v}" for k, v in sorted(alive_codes.items(), key=str)),
        )
    )
    bad = [(a.index, line) for a in swarm.agents for line in fleet.bad_lines(a.output())]
    checks.append(
        Check(
            'no "error", "Traceback", "database is locked" in any agent\'s output',
            not bad,
            f"{len(bad)} lines, first: {bad[0]}" if bad else "none",
        )
    )
    if swarm.url.startswith("sqlite"):
        checks.extend(sqlite_integrity(swarm.url))


def run_one(label: str, url: str, args: argparse.Namespace, workdir: Path) -> Outcome:
    from sweepctl.store import open_store

    env = fleet.base_env(AGENT_ENV)
    sweep_id = fleet.create_sweep(workdir, "sweep.yaml", url, env)
    swarm = fleet.Fleet(workdir, url, sweep_id, env, workdir / f"logs-{label}")
    store = open_store(url)
    injector = Injector(swarm, store, args, label)
    out = injector.out
    try:
        deadline = time.monotonic() + args.timeout
        print(f"{label}: {args.rounds} rounds on {args.points} points ...", flush=True)
        injector.inject()
        print(f"  {len(out.rounds)} rounds in {out.injection_s:.0f}s; settling ...", flush=True)
        injector.settle(deadline)
        settled = not swarm.alive() and store.sweep_state(sweep_id) == "finished"
        time.sleep(1.6)  # the children orphaned by the last agent kills end by themselves
        left = swarm.close()
        out.agents_started = len(swarm.agents)
        verify(out, swarm, settled, env)
        out.checks.append(Check("no process left behind", left == 0, f"{left} killed"))
    finally:
        swarm.close()
        store.engine.dispose()
    print(f"  checks {'pass' if out.ok else 'FAIL'}", flush=True)
    return out


def render(args: argparse.Namespace, results: list[Outcome], header: list[str]) -> str:
    rows = []
    for r in results:
        kinds = Counter(x.kind for x in r.rounds)
        rows.append(
            f"| {r.store} | {r.points} | {len(r.rounds)} | {kinds['agent']} | {kinds['child']} | "
            f"**{r.survived}** | {r.agents_started} | {r.late_agents} | {r.injection_s:.0f} | "
            f"{r.settle_s:.0f} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.states.items()))
            + f" | {'pass' if r.ok else '**FAIL**'} |"
        )
    out = [
        "# Fault injection: kill -9 agents and children mid-run",
        "",
        f"`.venv/bin/python bench/faults.py --rounds {args.rounds} --points {args.points} "
        f"--agents {args.agents} --seed {args.seed}"
        + (" --postgres" if args.postgres else "")
        + "`: a grid over a program that logs a metric, sleeps 0.2-1.5 s and logs it again; "
        f"`heartbeat_timeout: {args.heartbeat:g}s`, `retries: 100`, `retry_failed: true`; "
        f"{args.agents} agents kept running; each round sleeps {args.min_gap:g}-"
        f"{args.max_gap:g} s, waits for a child to be running, and SIGKILLs a random agent "
        "with a child running (then starts a replacement) or a random running child. After the "
        "rounds, agents are replaced one at a time, after the heartbeat timeout, until the "
        "sweep is finished.",
        "",
        *header,
        "",
        "| store | points | rounds | agents killed | children killed | **rounds survived** | "
        "agents started | late agents | injecting s | settling s | runs by state | checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "- rounds survived: rounds after which the store still had no point finished twice "
        "(read after every round); the checks below say whether the end state was right.",
        "- late agents: started after the rounds, each after the heartbeat timeout, to retry "
        "the runs that killed agents left `running` (they become `crashed`).",
        "- failed runs are the children killed (`killed by SIGKILL`), retried by `retry_failed`;"
        " crashed runs are those of the agents killed.",
    ]
    for r in results:
        out += ["", f"## {r.store}: checks", ""]
        out += [f"- {'ok' if c.ok else '**FAILED**'}: {c.name}: {c.detail}" for c in r.checks]
        if r.grid_done_early:
            out.append(
                f"- note: the grid was done after {len(r.rounds)} rounds, before "
                f"--rounds {args.rounds}: use more --points"
            )
        if r.violations:
            out += ["", "Violations seen during the rounds:", ""]
            out += [f"- {v}" for v in r.violations[:20]]
        notes = Counter(x.note for x in r.rounds if x.note)
        if notes:
            out += ["", "Rounds that could not kill mid-run as chosen:", ""]
            out += [f"- {n}: {k}" for n, k in notes.items()]
    return "\n".join(out) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="fault rounds (at least 50)")
    parser.add_argument("--points", type=int, default=60, help="grid points")
    parser.add_argument("--agents", type=int, default=3, help="agents kept running")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault choices")
    parser.add_argument("--heartbeat", type=float, default=2.0, help="heartbeat_timeout, s")
    parser.add_argument("--min-gap", type=float, default=0.1, help="shortest sleep per round")
    parser.add_argument("--max-gap", type=float, default=0.8, help="longest sleep per round")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL after SQLite")
    parser.add_argument("--postgres-only", action="store_true", help="PostgreSQL alone")
    parser.add_argument("--postgres-url", default=fleet.POSTGRES_URL, help="server to use")
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="seconds allowed per store before failing"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="the Markdown file to write")
    parser.add_argument(
        "--kinds", default="kill", help="comma-separated: kill, partition, restart, disk"
    )
    parser.add_argument("--slow-rounds", type=int, default=50, help="rounds per slow fault")
    parser.add_argument(
        "--slow-points", type=int, default=None, help="grid points of the slow faults' sweeps"
    )
    parser.add_argument("--slow-heartbeat", type=float, default=9.0, help="their heartbeat, s")
    parser.add_argument("--max-cut", type=float, default=8.0, help="longest partition, s")
    parser.add_argument("--max-down", type=float, default=6.0, help="longest restart, s")
    parser.add_argument(
        "--slow-timeout", type=float, default=900.0, help="seconds allowed per slow fault"
    )
    args = parser.parse_args()
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(args.kinds) - {"kill", *fault_kinds.KINDS}
    if unknown:
        parser.error(f"unknown --kinds {sorted(unknown)}")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10**6)
    if args.postgres_only:
        args.postgres = True
    return args


def main() -> int:
    args = parse_args()
    load = os.getloadavg()
    header = fleet.environment_lines(with_postgres=args.postgres)
    results: list[Outcome] = []
    slow: list[fault_kinds.SlowOutcome] = []
    with ExitStack() as stack:
        stack.enter_context(fleet.terminate_as_interrupt())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sweepctl-faults-")))
        (workdir / PROGRAM).write_text(PROGRAM_TEXT)
        (workdir / "sweep.yaml").write_text(
            SWEEP.format(program=PROGRAM, points=args.points, heartbeat=f"{args.heartbeat:g}")
        )
        if "kill" in args.kinds and not args.postgres_only:
            url = f"sqlite:///{workdir / 'store' / 'sweepctl.db'}"
            results.append(run_one("SQLite", url, args, workdir))
        if "kill" in args.kinds and args.postgres:
            with fleet.postgres_schema(args.postgres_url) as pg_url:
                results.append(run_one("PostgreSQL", pg_url, args, workdir))
        for kind in fault_kinds.KINDS:
            if kind in args.kinds:
                print(f"{kind}: up to {args.slow_rounds} rounds ...", flush=True)
                slow.append(fault_kinds.RUNNERS[kind](args))
                print(f"  checks {'pass' if slow[-1].ok else 'FAIL'}", flush=True)
    header.append(fleet.load_line(load))
    text = render(args, results, header) if results else "\n".join(header) + "\n"
    if slow:
        text += "\n".join(fault_kinds.render(args, slow)) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written: {args.out}")
    return 0 if all(r.ok for r in [*results, *slow]) else 1


if __name__ == "__main__":
    sys.exit(main())
