"""Per-run cost of `sweepctl.agent(sweep_id, function=...)` beside the CLI agent's, in one run.

    .venv/bin/python bench/function_agent.py [--runs 200] [--repeat 3]

Every cell runs an N-point grid sweep on its own embedded SQLite store in a temporary folder,
in a fresh interpreter (so each pays its own imports, as a user's script does):

- function, no-op: `sweepctl.agent(id, function=noop)`, `noop` doing nothing: everything
  measured is the agent's own cost per run (claim, run files, environment, the keeper thread,
  the end written to the store);
- function, init + log: the function reads its config with `sweepctl.init()` and logs one
  step, which the agent stores;
- CLI agent, no-op program: `sweepctl agent ID` launching `python noop.py --x=I` per run; its
  per-run cost includes starting a Python child, which a function run does not need. Its
  overhead alone (the child's own start taken out) is measured by bench/overhead.py.

Reported: wall time T(N) of the agent (median of the repetitions) / N, and the same with the
one-time start-up (a 1-run agent) taken out: (T(N) - T(1)) / (N - 1). For function cells T
is the `sweepctl.agent(...)` call inside the script (its imports already paid); for the CLI
cell it is the whole `sweepctl agent` command, interpreter start included.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "function_agent.md"

FUNCTION_CELL = """
import sys, time
import sweepctl

runs, kind = int(sys.argv[1]), sys.argv[2]
config = {{"method": "grid", "metric": {{"name": "loss"}},
          "parameters": {{"x": {{"values": list(range(runs))}}}}}}
sweep_id = sweepctl.sweep(config, storage="s.db")

def noop():
    pass

def init_and_log():
    with sweepctl.init() as run:
        run.log({{"loss": run.config["x"]}})

function = noop if kind == "noop" else init_and_log
sys.stderr = open("agent.log", "w")  # the agent's lines, kept out of the timing's terminal
start = time.perf_counter()
report = sweepctl.agent(sweep_id, function=function, storage="s.db")
print(time.perf_counter() - start, len(report.outcomes))
"""

CLI_SWEEP = """\
method: grid
metric: {{name: loss}}
program: noop.py
parameters:
  x: {{values: {values}}}
"""


def function_cell(kind: str, runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-c", FUNCTION_CELL.format(), str(runs), kind],
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        wall, count = done.stdout.split()
        assert int(count) == runs, done.stdout
        return float(wall)


def cli_cell(runs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "noop.py").write_text("pass\n")
        (path / "sweep.yaml").write_text(CLI_SWEEP.format(values=list(range(runs))))
        env = dict(
            os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
        )
        sweepctl = [sys.executable, "-m", "sweepctl"]
        created = subprocess.run(
            [*sweepctl, "create", "sweep.yaml", "-q", "--storage", "s.db"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        sweep_id = created.stdout.strip()
        start = time.perf_counter()
        subprocess.run(
            [*sweepctl, "agent", sweep_id, "--storage", "s.db"],
            cwd=folder,
            env=env,
            capture_output=True,
            check=True,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cells = {
        "function, no-op": lambda n: function_cell("noop", n),
        "function, sweepctl.init + one log": lambda n: function_cell("log", n),
        "CLI agent, no-op program": cli_cell,
    }
    walls: dict[str, dict[int, list[float]]] = {name: {1: [], args.runs: []} for name in cells}
    for _ in range(args.repeat):  # cells in turn, so drifting load touches all alike
        for name, cell in cells.items():
            for n in (1, args.runs):
                walls[name][n].append(cell(n))
    load = os.getloadavg()[0]
    lines = [
        "# Function agent: per-run cost",
        "",
        f"`.venv/bin/python bench/function_agent.py --runs {args.runs} --repeat {args.repeat}`:"
        f" a {args.runs}-point grid per cell, embedded SQLite store, a fresh interpreter each.",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {os.cpu_count()} cores, {platform.platform()}; Python "
        f"{platform.python_version()}; load average (1 min) at the end {load:.2f}",
        "",
        "| cell | whole agent, ms per run | per further run, ms ((T(N) - T(1)) / (N - 1)) |"
        " agent of 1 run, s |",
        "|---|---|---|---|",
    ]
    for name in cells:
        big = statistics.median(walls[name][args.runs])
        one = statistics.median(walls[name][1])
        lines.append(
            f"| {name} | {1000 * big / args.runs:.1f} | "
            f"{1000 * (big - one) / (args.runs - 1):.1f} | {one:.2f} |"
        )
    lines.append("")
    text = "\n".join(lines)
    RESULTS.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
