"""A quick comparison of samplers for `method: bayes`: regret after 10, 25 and 50 runs.

    .venv/bin/python bench/bayes_quick.py [--seeds 5] [--runs 50] [--only gp5,tpe5]
    .venv/bin/python bench/bayes_quick.py --latency

Every candidate runs through sweepctl's own ``bayes.suggest`` (same encoding, same history
handling) with other settings; ``random`` is sweepctl's random search (W&B's stream) and
``wandb`` W&B's own bayes engine, run in bench/.venvs/wandb-sweeps when that virtualenv exists
(see tests/search/make_fidelity.py for how to make it). Problems: branin (2-D), hartmann6
(6-D) and a mixed surrogate of a training run (log-uniform lr, int layers, categorical
optimizer whose best lr depends on it, uniform dropout, q_log_uniform batch size). Regret is
the best value so far minus the known optimum, median over the seeds (mean in brackets).
``x4`` candidates run 4 agents in parallel: each suggestion sees the 3 previous ones running.

``--latency`` times one suggestion with 100 and 1000 finished runs (plus 4 running) of the
mixed problem, per sampler. This is a quick check for choosing the default; the benchmark
harness proper is bench/'s job. Results: bench/results/bayes_quick.md.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WANDB_PYTHON = ROOT / "bench" / ".venvs" / "wandb-sweeps" / "bin" / "python"
CHECKPOINTS = (10, 25, 50)


# --- problems (plain Python: the W&B worker imports this file in its own virtualenv) -------


def branin(c: dict[str, Any]) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
_H_P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]
_H_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(c: dict[str, Any]) -> float:
    x = [c[f"x{i}"] for i in range(1, 7)]
    total = 0.0
    for alpha, a, p in zip(_H_ALPHA, _H_A, _H_P, strict=True):
        inner = sum(a[j] * (x[j] - p[j] * 1e-4) ** 2 for j in range(6))
        total -= alpha * math.exp(-inner)
    return total


_BEST_LR = {"sgd": -1.5, "adam": -3.2, "rmsprop": -2.7}
_OPT_COST = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1}


def mixed(c: dict[str, Any]) -> float:
    opt = c["optimizer"]
    return (
        0.5 * (math.log10(c["lr"]) - _BEST_LR[opt]) ** 2
        + 0.04 * (c["layers"] - 5) ** 2
        + 3 * (c["dropout"] - 0.15) ** 2
        + 0.02 * (math.log2(c["batch_size"]) - 6) ** 2
        + _OPT_COST[opt]
    )


PROBLEMS: dict[str, tuple[Any, float, dict[str, Any]]] = {
    "branin": (
        branin,
        0.397887357729739,
        {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}},
    ),
    "hartmann6": (
        hartmann6,
        -3.32236801141551,
        {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(1, 7)},
    ),
    "mixed": (
        mixed,
        0.0,
        {
            "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
            "layers": {"min": 1, "max": 8},
            "optimizer": {"values": ["sgd", "adam", "rmsprop"]},
            "dropout": {"min": 0.0, "max": 0.6},
            "batch_size": {"distribution": "q_log_uniform_values", "min": 16, "max": 512, "q": 16},
        },
    ),
}


def sweep_config(problem: str) -> dict[str, Any]:
    return {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": PROBLEMS[problem][2],
    }


def regrets(values: list[float], optimum: float, runs: int) -> list[float]:
    best, out = math.inf, []
    for v in values[:runs]:
        best = min(best, v)
        out.append(best - optimum)
    return out


# --- candidates ------------------------------------------------------------------------------


def run_sweepctl(name: str, problem: str, seed: int, runs: int) -> list[float]:
    """Values of the runs of one sweep, in the order they were suggested."""
    from sweepctl.search import RunRecord, bayes
    from sweepctl.search import random as random_search
    from sweepctl.spec.model import build_spec

    objective = PROBLEMS[problem][0]
    spec = build_spec(sweep_config(problem))
    parallel = 4 if name.endswith("x4") else 1
    base = name.removesuffix("x4")
    settings = None
    if base != "random":
        deterministic = base.endswith("d")
        base = base.removesuffix("d")
        sampler = base.rstrip("0123456789")
        settings = bayes.Settings(
            sampler=sampler, n_startup=int(base[len(sampler) :]), deterministic=deterministic
        )
    history: list[RunRecord] = []
    values: list[float] = []
    pending: list[int] = []  # indices of running runs, oldest first
    for i in range(runs):
        rng = random.Random(seed)
        if settings is None:
            config = random_search.suggest(spec, history, rng)
        else:
            config = bayes.suggest(spec, history, rng, settings)
        history.append(RunRecord(str(i), "running", config))
        pending.append(i)
        while len(pending) >= parallel or (i == runs - 1 and pending):
            j = pending.pop(0)
            value = objective(history[j].config)
            history[j] = RunRecord(str(j), "finished", history[j].config, value)
            values.append(value)
    return values


def wandb_worker() -> None:
    """In W&B's virtualenv: run W&B's bayes on the problem given on stdin, print the values."""
    import numpy as np
    from sweeps.bayes_search import bayes_search_next_run
    from sweeps.run import RunState, SweepRun

    job = json.loads(sys.stdin.read())
    objective = PROBLEMS[job["problem"]][0]
    config = sweep_config(job["problem"])
    random.seed(job["seed"])
    np.random.seed(job["seed"])
    runs: list[SweepRun] = []
    values = []
    for i in range(job["runs"]):
        suggestion = bayes_search_next_run(runs, config)
        params = {k: v["value"] for k, v in suggestion.config.items()}
        params = {k: v.item() if hasattr(v, "item") else v for k, v in params.items()}
        value = objective(params)
        values.append(value)
        runs.append(
            SweepRun(
                name=str(i),
                state=RunState.finished,
                config=suggestion.config,
                summary_metrics={"loss": value},
                history=[{"loss": value}],
            )
        )
    print(json.dumps(values))


def run_wandb(problem: str, seed: int, runs: int) -> list[float]:
    job = json.dumps({"problem": problem, "seed": seed, "runs": runs})
    done = subprocess.run(
        [str(WANDB_PYTHON), __file__, "--wandb-worker"],
        input=job,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- reports ---------------------------------------------------------------------------------


def compare(names: list[str], seeds: int, runs: int) -> str:
    lines = [
        f"Regret (best so far - optimum), median [mean] over {seeds} seeds; "
        f"time = seconds per suggestion, mean.",
        "",
    ]
    checkpoints = [c for c in CHECKPOINTS if c <= runs]
    header = "| problem | candidate | " + " | ".join(f"@{c}" for c in checkpoints) + " | time |"
    lines += [header, "|" + "---|" * (len(checkpoints) + 3)]
    for problem, (_, optimum, _) in PROBLEMS.items():
        for name in names:
            curves, elapsed = [], 0.0
            for seed in range(seeds):
                start = time.perf_counter()
                if name == "wandb":
                    values = run_wandb(problem, seed, runs)
                else:
                    values = run_sweepctl(name, problem, seed, runs)
                elapsed += time.perf_counter() - start
                curves.append(regrets(values, optimum, runs))
            cells = []
            for c in checkpoints:
                at = [curve[c - 1] for curve in curves]
                cells.append(f"{statistics.median(at):.3g} [{statistics.mean(at):.3g}]")
            per = elapsed / (seeds * runs)
            row = f"| {problem} | {name} | " + " | ".join(cells) + f" | {per:.3f} |"
            lines.append(row)
            print(row, flush=True)
    return "\n".join(lines)


def latency() -> str:
    from sweepctl.search import RunRecord, bayes
    from sweepctl.search import random as random_search
    from sweepctl.spec.model import build_spec

    candidates = {
        "default": bayes.DEFAULT,
        "gp, no cap": bayes.Settings(sampler="gp", gp_max_history=10**9),
        "tpe": bayes.Settings(sampler="tpe"),
    }
    wide = dict(PROBLEMS["mixed"][2])
    wide.update({f"u{i}": {"min": 0.0, "max": 1.0} for i in range(6)})
    wide.update({f"c{i}": {"values": ["a", "b", "c", "d"]} for i in range(4)})
    wide["n"] = {"min": 1, "max": 100}
    spaces = {"mixed (5 params)": PROBLEMS["mixed"][2], "wide (16 params)": wide}
    lines = [
        "| space | settings | runs | first call (s) | median of 5 (s) |",
        "|---|---|---|---|---|",
    ]
    for space, parameters in spaces.items():
        spec = build_spec({**sweep_config("mixed"), "parameters": parameters})
        for size in (50, 100, 300, 1000):
            history = []
            for i in range(size + 4):
                config = random_search.suggest(spec, history, random.Random(7))
                done = i < size
                value = score(config) if done else None
                history.append(RunRecord(str(i), "finished" if done else "running", config, value))
            for label, settings in candidates.items():
                if label == "gp, no cap" and size <= bayes.DEFAULT.gp_max_history:
                    continue  # the same as the default
                times = []
                for k in range(6):
                    start = time.perf_counter()
                    bayes.suggest(spec, history, random.Random(k), settings)
                    times.append(time.perf_counter() - start)
                row = f"| {space} | {label} | {size} + 4 running | {times[0]:.3f} | "
                row += f"{statistics.median(times[1:]):.3f} |"
                lines.append(row)
                print(row, flush=True)
    return "\n".join(lines)


def score(config: dict[str, Any]) -> float:
    """Some deterministic number from any config (latency does not depend on it much)."""
    return sum(ord(ch) for ch in repr(config)) % 97 / 97


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--only", help="comma-separated candidates")
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--wandb-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.wandb_worker:
        wandb_worker()
        return
    sys.path.insert(0, str(ROOT))
    if args.latency:
        print(latency())
        return
    names = ["random", "tpe10", "tpe4", "gp10", "gp4", "tpe4x4", "gp4x4"]
    if WANDB_PYTHON.exists():
        names.insert(1, "wandb")
    if args.only:
        names = args.only.split(",")
    print(compare(names, args.seeds, args.runs))


if __name__ == "__main__":
    main()
