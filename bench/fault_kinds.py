"""The slow faults of bench/faults.py: network partitions, a database restart, a full disk.

Each kind runs one grid sweep of POINTS over a program that logs STEPS steps (the last one
``score = x``) STEP_S apart, with a few agents kept running, and injects one fault per round:

- ``partition``: two agents in a network namespace (tests/faults/netns.py) reach the shared
  PostgreSQL server through a TCP forwarder on a veth link, one agent runs on this host; each
  round drops every packet on the link for a random 1..MAX_CUT s. The agents use sweepctl's
  default connection limits.
- ``restart``: three agents on a private PostgreSQL server (tests/faults/private_postgres.py,
  never the shared one); each round stops it (`pg_ctl stop -m fast`, as `pg_ctlcluster ...
  stop -m fast` does) for a random 1..MAX_DOWN s, then starts it.
- ``disk``: two agents on an SQLite store on a 32 MiB tmpfs (their output elsewhere); each
  round fills the file system, waits for every agent to stop (they must exit 1 and say the
  disk is full), checks `PRAGMA integrity_check`, frees the space and starts two new agents.

Rounds begin 1-2 s apart, once a run is running. After every round the store is read: no grid
point may have two finished runs. For partitions and restarts, the time from the end of the
fault until every live agent has heartbeated again is measured (agents heartbeat every
heartbeat_timeout / 3 s), and "unresponsive" is the longest an agent went without a heartbeat
across a round; for the full disk, the time from the fill until the last agent had exited.
After the rounds the sweep is left to finish (a new agent after the heartbeat timeout when
none is left), then: every point has exactly one finished run whose history has all STEPS
steps and ends with score = x (else the run counts as lost), and no agent printed a traceback.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fleet

sys.path.insert(0, str(fleet.REPO / "tests" / "faults"))
from netns import Namespace
from private_postgres import PrivatePostgres

FORWARDER = fleet.REPO / "tests" / "faults" / "forwarder.py"
KINDS = ("partition", "restart", "disk")
# Grid points per round unless --slow-points says: about what the agents run between faults,
# so that the grid lasts as long as the rounds (a full disk stops every agent each round).
POINTS_PER_ROUND = {"partition": 5, "restart": 5, "disk": 2}
STEPS = 12
STEP_S = 0.25
PROGRAM = "slow_faults_prog.py"
PROGRAM_TEXT = f"""\
import argparse
import time

import sweepctl

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int, required=True)
x = parser.parse_args().x
for step in range({STEPS}):
    sweepctl.log({{"score": x if step == {STEPS - 1} else 0}})
    time.sleep({STEP_S})
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
"""
AGENT_ENV = {
    "WANDB_AGENT_DISABLE_FLAPPING": "true",
    "WANDB_AGENT_MAX_INITIAL_FAILURES": "1000000",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class SlowRound:
    index: int
    fault_s: float  # how long the fault lasted
    recovery_s: float | None  # fault's end -> every agent heard from again (None: never)
    silent_s: float  # longest an agent went without a heartbeat across the round


@dataclass
class SlowOutcome:
    kind: str
    store: str
    points: int
    planned: int
    rounds: list[SlowRound] = field(default_factory=list)
    first_violation: int | None = None
    violations: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    runs_lost: int = 0
    finished_twice: int = 0
    agents_started: int = 0
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def survived(self) -> int:
        if self.first_violation is not None:
            return self.first_violation - 1
        return len(self.rounds)

    @property
    def longest_unresponsive(self) -> float:
        return max((r.silent_s for r in self.rounds), default=0.0)

    @property
    def longest_recovery(self) -> float | None:
        values = [r.recovery_s for r in self.rounds]
        if any(v is None for v in values):
            return None
        return max(values, default=0.0)


class Harness:
    """One sweep, its agents, and the store read from this host."""

    def __init__(self, kind: str, url: str, workdir: Path, args: Any, store_label: str):
        from sweepctl.store import open_store

        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = workdir
        self.url = url
        self.points = args.slow_points or POINTS_PER_ROUND[kind] * args.slow_rounds
        (workdir / PROGRAM).write_text(PROGRAM_TEXT)
        (workdir / "slow.yaml").write_text(
            SWEEP.format(program=PROGRAM, points=self.points, heartbeat=args.slow_heartbeat)
        )
        self.env = fleet.base_env(AGENT_ENV)
        sweep_id = fleet.create_sweep(workdir, "slow.yaml", url, self.env)
        # The agents' output goes beside the work folder, not into it: that may be the small
        # disk this harness fills.
        logs = Path(tempfile.mkdtemp(prefix=f"sweepctl-{kind}-logs-"))
        self.swarm = fleet.Fleet(workdir, url, sweep_id, self.env, logs)
        self.store = open_store(url)
        self.out = SlowOutcome(kind, store_label, self.points, args.slow_rounds)
        self.started = time.monotonic()

    # -- reading the store -----------------------------------------------------------------
    def beats(self) -> dict[str, float]:
        """Heartbeat time of every agent of the sweep still running (not ended)."""
        import sqlalchemy as sa

        from sweepctl.store import tables as t

        rows = self.store.read(
            lambda c: c.execute(
                sa.select(t.agents.c.id, t.agents.c.heartbeat_at).where(
                    t.agents.c.sweep_id == self.swarm.sweep_id, t.agents.c.ended_at.is_(None)
                )
            ).all()
        )
        return {row.id: row.heartbeat_at for row in rows}

    def running(self) -> bool:
        return any(r.state == "running" for r in self.store.runs(self.swarm.sweep_id))

    def finished_everywhere(self) -> bool:
        runs = self.store.runs(self.swarm.sweep_id)
        done = {r.config.get("x") for r in runs if r.state == "finished"}
        return len(done) >= self.points

    def check_store(self, index: int) -> None:
        seen = Counter(
            r.config.get("x") for r in self.store.runs(self.swarm.sweep_id) if r.state == "finished"
        )
        twice = {x: n for x, n in seen.items() if n > 1}
        if twice:
            self.out.violations.append(f"after round {index}: points finished twice: {twice}")
            if self.out.first_violation is None:
                self.out.first_violation = index

    def wait_for_run(self, patience: float = 10.0) -> None:
        until = time.monotonic() + patience
        while time.monotonic() < until and not self.running():
            time.sleep(0.1)

    def recovery(self, before: dict[str, float], ended: float, limit: float = 180.0):
        """Seconds from ``ended`` (wall clock) until every agent alive at the start has
        heartbeated after it, and the longest silence; None if one never did in ``limit``."""
        until = time.monotonic() + limit
        while time.monotonic() < until:
            try:
                now = self.beats()
            except Exception:  # the store itself is still coming back
                time.sleep(0.2)
                continue
            waiting = [a for a in before if a in now and now[a] < ended]
            if not waiting:
                heard = [now[a] for a in before if a in now]
                silent = max((now[a] - before[a] for a in before if a in now), default=0.0)
                return (max(heard, default=ended) - ended if heard else 0.0), silent
            time.sleep(0.2)
        return None, time.time() - min(before.values(), default=time.time())

    # -- the end ---------------------------------------------------------------------------
    def settle(self, start_agent, deadline: float) -> bool:
        """Let the grid finish: a new agent after the heartbeat timeout when none is left."""
        while time.monotonic() < deadline:
            if self.swarm.alive():
                time.sleep(0.3)
                continue
            if self.store.sweep_state(self.swarm.sweep_id) == "finished":
                return True
            time.sleep(self.args.slow_heartbeat + 0.5)
            start_agent()
        return False

    def verify(self, settled: bool, *, allowed_exit: set[int]) -> None:
        out = self.out
        out.elapsed_s = time.monotonic() - self.started
        checks = out.checks
        checks.append(Check("the sweep finished before the timeout", settled, ""))
        runs = self.store.runs(self.swarm.sweep_id)
        out.states = dict(Counter(r.state for r in runs))
        finished = [r for r in runs if r.state == "finished"]
        per_point = Counter(r.config.get("x") for r in finished)
        missing = [x for x in range(1, out.points + 1) if per_point[x] == 0]
        incomplete = [
            r.id
            for r in finished
            if r.steps != STEPS
            or r.summary.get("_step") != STEPS - 1
            or r.summary.get("score") != r.config.get("x")
        ]
        out.runs_lost = len(missing) + len(incomplete)
        out.finished_twice = sum(1 for n in per_point.values() if n > 1)
        checks.append(
            Check(
                "runs lost: points without a finished run + finished runs missing steps",
                out.runs_lost == 0,
                f"{len(missing)} points without ({missing[:10]}), {len(incomplete)} incomplete "
                f"({incomplete[:5]})",
            )
        )
        checks.append(
            Check("no point finished twice", out.finished_twice == 0, f"{out.finished_twice}")
        )
        left = [r.id for r in runs if r.state == "running"]
        checks.append(Check("no run left running", not left, f"{left[:5]}"))
        codes = Counter(a.proc.returncode for a in self.swarm.agents)
        checks.append(
            Check(
                f"every agent exited with {sorted(allowed_exit)}",
                set(codes) <= allowed_exit,
                ", ".join(f"exit {k}: {v}" for k, v in sorted(codes.items(), key=str)),
            )
        )
        tracebacks = [a.index for a in self.swarm.agents if "Traceback" in a.output()]
        checks.append(Check("no traceback in any agent's output", not tracebacks, f"{tracebacks}"))
        out.agents_started = len(self.swarm.agents)

    def close(self) -> None:
        left = self.swarm.close()
        shutil.rmtree(self.swarm.logs, ignore_errors=True)
        self.out.checks.append(Check("no process left behind", left == 0, f"{left} killed"))
        self.store.engine.dispose()


def _forwarder(listen: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, str(FORWARDER), listen, "127.0.0.1", "5432"],
        stdout=subprocess.PIPE,
        text=True,
    )
    word, port = proc.stdout.readline().split()
    assert word == "ready", word
    return proc, int(port)


def run_partition(args: Any) -> SlowOutcome:
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sweepctl-part-")))
        url = stack.enter_context(fleet.postgres_schema(args.postgres_url))
        ns = Namespace()
        stack.callback(ns.close)
        proc, port = _forwarder(ns.host_ip)
        stack.callback(lambda: (proc.terminate(), proc.wait(10)))
        link_url = url.replace("127.0.0.1:5432", f"{ns.host_ip}:{port}")
        h = Harness("partition", url, workdir, args, "PostgreSQL over a veth link")
        stack.callback(h.close)
        h.out.notes.append(f"packets dropped with tc {ns.cut_with}")
        inside = ns.argv()

        def start_inside() -> None:
            h.swarm.start(prefix=inside, url=link_url)

        start_inside()
        start_inside()
        h.swarm.start()  # one on this host
        deadline = time.monotonic() + args.slow_timeout
        for index in range(1, args.slow_rounds + 1):
            if h.finished_everywhere() or not h.swarm.alive():
                h.out.notes.append(f"the grid was done after {index - 1} rounds")
                break
            time.sleep(h.rng.uniform(1.0, 2.0))
            h.wait_for_run()
            before = h.beats()
            cut_for = h.rng.uniform(1.0, args.max_cut)
            ns.cut()
            try:
                time.sleep(cut_for)
            finally:
                ns.heal()
            recovery, silent = h.recovery(before, time.time())
            h.out.rounds.append(SlowRound(index, cut_for, recovery, silent))
            h.check_store(index)
        settled = h.settle(h.swarm.start, deadline)
        h.swarm.wait_all(deadline)
        h.verify(settled, allowed_exit={0})
        return h.out


def run_restart(args: Any) -> SlowOutcome:
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sweepctl-rst-")))
        server = PrivatePostgres()
        stack.callback(server.close)
        h = Harness("restart", server.url, workdir, args, "PostgreSQL (private server)")
        stack.callback(h.close)
        for _ in range(3):
            h.swarm.start()
        deadline = time.monotonic() + args.slow_timeout
        for index in range(1, args.slow_rounds + 1):
            if h.finished_everywhere() or not h.swarm.alive():
                h.out.notes.append(f"the grid was done after {index - 1} rounds")
                break
            time.sleep(h.rng.uniform(1.0, 2.0))
            h.wait_for_run()
            before = h.beats()
            down_for = h.rng.uniform(1.0, args.max_down)
            began = time.monotonic()
            server.stop()
            try:
                time.sleep(down_for)
            finally:
                server.start()
            recovery, silent = h.recovery(before, time.time())
            h.out.rounds.append(SlowRound(index, time.monotonic() - began, recovery, silent))
            h.check_store(index)
        settled = h.settle(h.swarm.start, deadline)
        h.swarm.wait_all(deadline)
        h.verify(settled, allowed_exit={0})
        return h.out


def run_disk(args: Any) -> SlowOutcome:
    with contextlib.ExitStack() as stack:
        mount = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sweepctl-disk-")))
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=32m,mode=0700", "tmpfs", str(mount)],
            check=True,
            timeout=30,
        )
        stack.callback(lambda: subprocess.run(["umount", "-l", str(mount)], timeout=30))
        url = f"sqlite:///{mount / 'store' / 'sweepctl.db'}"
        h = Harness("disk", url, mount, args, "SQLite on a 32 MiB tmpfs")
        stack.callback(h.close)
        filler = mount / "filler"
        said_full = 0
        for _ in range(2):
            h.swarm.start()
        deadline = time.monotonic() + args.slow_timeout
        for index in range(1, args.slow_rounds + 1):
            if h.finished_everywhere():
                h.out.notes.append(f"the grid was done after {index - 1} rounds")
                break
            time.sleep(h.rng.uniform(1.0, 2.0))
            h.wait_for_run()
            live = h.swarm.alive()
            began = time.monotonic()
            with contextlib.suppress(OSError), open(filler, "wb") as fh:
                for _ in range(1 << 12):  # 256 MiB at most; stops at "no space left"
                    fh.write(b"\0" * 65536)
                    fh.flush()
            stopped = h.swarm.wait_all(time.monotonic() + 120)
            took = time.monotonic() - began
            said_full += sum("is full" in a.output() for a in live)
            with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
                ok = conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            conn.close()
            if not ok:
                h.out.violations.append(f"after round {index}: integrity_check failed")
                h.out.first_violation = h.out.first_violation or index
            filler.unlink(missing_ok=True)
            h.out.rounds.append(SlowRound(index, took, took if stopped else None, took))
            h.check_store(index)
            if not stopped:
                h.out.notes.append(f"round {index}: an agent did not stop within 120 s")
                break
            for _ in range(2):
                h.swarm.start()
        h.out.notes.append(
            f"{said_full} of the agents stopped by a full disk said so (every round stops all)"
        )
        settled = h.settle(h.swarm.start, deadline)
        h.swarm.wait_all(deadline)
        h.verify(settled, allowed_exit={0, 1})
        stopped_ok = [
            a.proc.returncode == 1 and "is full" in a.output()
            for a in h.swarm.agents[: 2 * len(h.out.rounds)]
        ]
        h.out.checks.append(
            Check(
                "every agent stopped by the full disk exited 1 and said the disk is full",
                all(stopped_ok),
                f"{sum(stopped_ok)} of {len(stopped_ok)}",
            )
        )
        return h.out


RUNNERS = {"partition": run_partition, "restart": run_restart, "disk": run_disk}


def render(args: Any, results: list[SlowOutcome]) -> list[str]:
    """The slow faults' part of bench/results/faults.md."""
    lines = [
        "",
        "# Slow faults: network partitions, a database restart, a full disk",
        "",
        f"`--kinds {','.join(r.kind for r in results)} --slow-rounds {args.slow_rounds} "
        + (f"--slow-points {args.slow_points} " if args.slow_points else "")
        + f"--max-cut {args.max_cut:g} --max-down "
        f"{args.max_down:g} --slow-heartbeat {args.slow_heartbeat:g}`: a grid over a program "
        f"that logs {STEPS} steps {STEP_S:g} s apart (the last `score = x`); "
        f"`heartbeat_timeout: {args.slow_heartbeat:g}s` (agents heartbeat every "
        f"{args.slow_heartbeat / 3:g} s), `retries: 100`. See bench/fault_kinds.py.",
        "",
        "| fault | store | points | rounds | **rounds survived** | **runs lost** | "
        "**points finished twice** | longest fault s | longest recovery s | "
        "**longest unresponsive s** | agents started | total s | runs by state | checks |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        recovery = r.longest_recovery
        lines.append(
            f"| {r.kind} | {r.store} | {r.points} | {len(r.rounds)} | **{r.survived}** | "
            f"**{r.runs_lost}** | **{r.finished_twice}** | "
            f"{max((x.fault_s for x in r.rounds), default=0):.1f} | "
            f"{'never' if recovery is None else f'{recovery:.1f}'} | "
            f"**{r.longest_unresponsive:.1f}** | {r.agents_started} | {r.elapsed_s:.0f} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.states.items()))
            + f" | {'pass' if r.ok else '**FAIL**'} |"
        )
    lines += [
        "",
        "- partition and restart: recovery is the time from the fault's end until every agent "
        "alive at its start had heartbeated again; unresponsive is the longest an agent went "
        "without a heartbeat across a round (the fault itself included). disk: both are the "
        "time from filling the disk until the last agent had exited (they must stop).",
        "- runs lost: grid points without a finished run, plus finished runs whose history "
        f"lacks any of the {STEPS} steps or whose summary is not `score = x`.",
    ]
    for r in results:
        lines += ["", f"## {r.kind}: checks", ""]
        lines += [f"- {'ok' if c.ok else '**FAILED**'}: {c.name}: {c.detail}" for c in r.checks]
        lines += [f"- note: {n}" for n in r.notes]
        if r.violations:
            lines += ["", "Violations seen during the rounds:", ""]
            lines += [f"- {v}" for v in r.violations[:20]]
    return lines
