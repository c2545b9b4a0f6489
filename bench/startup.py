"""Start-up time of `sweepctl validate` and `sweepctl --help`, against `python -c "import wandb"`.

    .venv/bin/python bench/startup.py [--repeat 15] [--warmup 2] [--no-importtime]

Every command runs as a whole process, timed from outside: the console script `sweepctl` in
this interpreter's bin/ (so its import of the package is counted), on a valid sweep file this
script writes to a temporary folder. The yardstick is the same interpreter importing wandb,
which is what `wandb sweep FILE` pays before it reads a file. `python -c pass` is the floor:
the interpreter alone.

The commands run in turn, A B C D A B C D ..., the order rotating each round, so that a
machine whose speed drifts slows every command alike; the ratio is of medians. CPU time
(user + sys of the child, from getrusage) is printed beside wall time: it moves less when
other work shares the cores.

Two conditions, because Python's start-up depends on it:
- as found: the environment as it is. Where PYTHONDONTWRITEBYTECODE is set and the checkout has
  no __pycache__ (an editable install under that variable), every start compiles sweepctl's
  modules again, which no installed copy does.
- bytecode cached: the variable unset, caches written under a temporary PYTHONPYCACHEPREFIX
  (nothing is written into the checkout), warmed before timing. This is what users see.

The goal is median(validate) / median(import wandb) <= 0.35 in the cached condition. Last,
unless --no-importtime, `python -X importtime -m sweepctl validate FILE` lists the packages
that cost the most. Results go to bench/results/startup.md.

To cross-check one figure with a public tool, time the same two commands in turn, e.g.
`hyperfine -N --warmup 2 '.venv/bin/sweepctl validate FILE' '.venv/bin/python -c "import
wandb"'`, or run each under `/usr/bin/time -v` a few times and compare the elapsed medians.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "startup.md"
BIN = Path(sys.executable).parent
GOAL = 0.35

SWEEP = """\
method: bayes
metric: {name: val_loss, goal: minimize}
program: train.py
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - ${args}
early_terminate: {type: hyperband, min_iter: 3}
parameters:
  lr: {distribution: log_uniform_values, min: 1.0e-5, max: 0.1}
  batch_size: {values: [16, 32, 64]}
  dropout: {min: 0.0, max: 0.5}
  optimizer:
    parameters:
      name: {values: [adam, sgd]}
      momentum: {distribution: uniform, min: 0.8, max: 0.99}
"""


@dataclass
class Samples:
    """Wall and CPU seconds of each run of one command."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def commands(sweep: Path) -> dict[str, list[str]]:
    sweepctl = str(BIN / "sweepctl")
    return {
        "sweepctl validate": [sweepctl, "validate", str(sweep)],
        "sweepctl --help": [sweepctl, "--help"],
        "python -c 'import wandb'": [sys.executable, "-c", "import wandb"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One whole process: (wall seconds, user + sys seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def measure(
    cmds: dict[str, list[str]], env: dict[str, str], repeat: int, warmup: int
) -> dict[str, Samples]:
    names = list(cmds)
    for _ in range(warmup):
        for name in names:
            run_once(cmds[name], env)
    results = {name: Samples() for name in names}
    for round_ in range(repeat):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = run_once(cmds[name], env)
            results[name].wall.append(wall)
            results[name].cpu.append(cpu)
    return results


def conditions(workdir: Path) -> dict[str, dict[str, str]]:
    found = dict(os.environ)
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return {"as found": found, "bytecode cached": cached}


def importtime(sweep: Path, env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """Cumulative import time of the top-level packages `sweepctl validate` imports."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "sweepctl", "validate", str(sweep)],
        env=env,
        capture_output=True,
        text=True,
    )
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        # "import time: SELF | CUMULATIVE | NAME", NAME indented by its depth of nesting.
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        if parts[2].startswith("  "):  # imported by another module; counted in its parent
            continue
        name = parts[2].strip()
        totals[name] = totals.get(name, 0.0) + int(parts[1]) / 1e6
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


def versions() -> str:
    found = []
    for dist in ("sweepctl", "wandb", "typer", "click", "rich", "PyYAML", "jsonschema"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} (not installed)")
    return ", ".join(found)


def table(results: dict[str, Samples], yardstick: str) -> list[str]:
    ref_wall = statistics.median(results[yardstick].wall)
    ref_cpu = statistics.median(results[yardstick].cpu)
    rows = [
        "| command | wall min | wall median | wall max | cpu median | median / import wandb |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in results.items():
        wall = statistics.median(s.wall)
        rows.append(
            f"| `{name}` | {min(s.wall) * 1e3:.0f} ms | {wall * 1e3:.0f} ms "
            f"| {max(s.wall) * 1e3:.0f} ms | {statistics.median(s.cpu) * 1e3:.0f} ms "
            f"| {wall / ref_wall:.2f} (cpu {statistics.median(s.cpu) / ref_cpu:.2f}) |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs of each first")
    parser.add_argument("--no-importtime", action="store_true", help="skip the import profile")
    args = parser.parse_args()

    load_before = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    report = [
        "# Start-up: `sweepctl validate` and `--help` against `import wandb`",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; {args.repeat} timed runs of each command, "
        f"interleaved, after {args.warmup} untimed",
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{platform.machine()}, {platform.system()} {platform.release()}",
        f"- python: {platform.python_version()} ({sys.executable})",
        f"- versions: {versions()}",
        f"- goal: median(validate) / median(import wandb) <= {GOAL} (bytecode cached)",
        "",
    ]
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="sweepctl-startup-") as tmp:
        workdir = Path(tmp)
        sweep = workdir / "sweep.yaml"
        sweep.write_text(SWEEP)
        cmds = commands(sweep)
        profiles = {}
        for label, env in conditions(workdir).items():
            print(f"{label}: timing {len(cmds)} commands x {args.repeat} ...", file=sys.stderr)
            results = measure(cmds, env, args.repeat, args.warmup)
            rows = table(results, "python -c 'import wandb'")
            ratio = statistics.median(results["sweepctl validate"].wall) / statistics.median(
                results["python -c 'import wandb'"].wall
            )
            verdicts.append((label, ratio))
            report += [f"## {label}", "", *rows, ""]
            print("\n".join([f"{label}:", *rows, ""]))
            if not args.no_importtime:
                profiles[label] = importtime(sweep, env)
        load_after = os.getloadavg()
        report.append(
            f"Load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, "
            f"on {len(os.sched_getaffinity(0))} CPUs: a high load widens min..max."
        )
        report.append("")
        for label, ratio in verdicts:
            met = "meets" if ratio <= GOAL else "misses"
            line = f"**{label}: validate / import wandb = {ratio:.2f}** ({met} the goal {GOAL})"
            report.append(f"- {line}")
            print(line)
        report.append("")
        for label, top in profiles.items():
            report += [
                f"## Where `sweepctl validate` spends its imports ({label})",
                "",
                "`python -X importtime -m sweepctl validate FILE`, top-level packages, "
                "cumulative (one run, so rough):",
                "",
                "| package | cumulative |",
                "|---|---:|",
                *(f"| `{name}` | {secs * 1e3:.0f} ms |" for name, secs in top),
                "",
            ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(report))
    print(f"wrote {RESULTS.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    main()
