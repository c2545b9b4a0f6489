"""A quick in-process check of bayes settings, one run at a time against 4 agents at once.

    .venv/bin/python bench/parallel_quick.py [--seeds 10] [--first-seed 0] [--budget 50]
        [--jobs 2] [--problems branin,hartmann6,...] [--split tuning|held-back] [--modes 1,4]
        [--candidate NAME=FIELD:VALUE,FIELD:VALUE ...] [--peers optuna-gp,wandb-bayes,...]
        [--below REGRET]

Every candidate is ``sweepctl.search.bayes.suggest`` with some fields of ``bayes.Settings``
changed (``default`` is the shipped settings, included unless ``--no-default``). The problems
are bench/problems' synthetic ones by default (the MLP is slow for a quick check; with
``--problems mlp_digits`` its cells are the median best value, as it has no known minimum).
With 4 agents, each suggestion sees the 3 claims before it as running and the oldest run
finishes when 4 are in flight: the way ``sweepctl agent --workers 4`` claims, without the
processes. ``--peers`` adds engines of bench/searchbench/engines.py that run in-process
(Optuna's, W&B's, random) on the same problems and seeds, with the same number of workers, as
bench/search.py runs them (asynchronously, HEBO in rounds). It prints the median regret after
10, 25, 40 and 50 runs over the seeds, per problem, mode and candidate (``--below R``: how many
seeds are below regret R instead). bench/search.py is the benchmark proper (the real CLI, all
engines); this is for choosing settings before running it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

from problems import METRIC, PROBLEMS, SPLITS, evaluate, wandb_parameters  # noqa: E402

CHECKPOINTS = (10, 25, 40, 50)
QUICK_PROBLEMS = ("branin", "hartmann6", "rosenbrock", "ackley", "levy", "surrogate")


def parse_candidate(text: str) -> tuple[str, dict[str, Any]]:
    """``name=field:value,field:value`` -> (name, {field: value}); values are Python literals."""
    import ast

    name, _, fields = text.partition("=")
    changes = {}
    for item in filter(None, fields.split(",")):
        key, _, value = item.partition(":")
        changes[key.strip()] = ast.literal_eval(value.strip())
    return name.strip(), changes


def sweep(job: tuple[dict[str, Any] | str, str, int, int, int]) -> list[float]:
    """The values of one sweep's runs, in the order they were claimed; the job's first item is
    bayes.Settings changes, or the name of a peer engine."""
    from sweepctl.search import RunRecord, bayes
    from sweepctl.spec.model import build_spec

    changes, problem, seed, agents, budget = job
    if isinstance(changes, str):
        from searchbench import engines

        return engines.run_peer(changes, problem, seed, budget, agents).values
    settings = dataclasses.replace(bayes.DEFAULT, **changes)
    spec = build_spec(
        {
            "method": "bayes",
            "metric": {"name": METRIC, "goal": "minimize"},
            "parameters": wandb_parameters(problem),
            "sweepctl": {"seed": seed},
        }
    )
    history: list[RunRecord] = []
    in_flight: list[int] = []
    for i in range(budget):
        config = bayes.suggest(spec, history, random.Random(seed), settings)
        history.append(RunRecord(str(i), "running", config))
        in_flight.append(i)
        while len(in_flight) >= agents or (i == budget - 1 and in_flight):
            k = in_flight.pop(0)
            run = history[k]
            history[k] = RunRecord(
                run.run_id, "finished", run.config, evaluate(problem, run.config)
            )
    return [run.metric for run in history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--problems", default=",".join(QUICK_PROBLEMS))
    parser.add_argument(
        "--split", choices=sorted(SPLITS), help="that half's problems and seeds (bench/search.py)"
    )
    parser.add_argument("--modes", default="1,4", help="agents at once, comma-separated")
    parser.add_argument("--candidate", action="append", default=[], help="name=field:value,...")
    parser.add_argument("--no-default", action="store_true", help="only the --candidate ones")
    parser.add_argument("--peers", default="", help="in-process engines beside, comma-separated")
    parser.add_argument(
        "--below",
        type=float,
        help="print how many seeds end below this regret instead of medians (for outcomes "
        "with two modes, such as hartmann6's trap, where a median flips with one seed)",
    )
    args = parser.parse_args()
    if args.split:
        split_problems, split_seeds = SPLITS[args.split]
        if args.problems == ",".join(QUICK_PROBLEMS):  # --problems can take a part of the half
            args.problems = ",".join(split_problems)
        args.first_seed, args.seeds = split_seeds.start, min(args.seeds, len(split_seeds))
    candidates = dict([("default", {}), *(parse_candidate(c) for c in args.candidate)])
    if args.no_default and (len(candidates) > 1 or args.peers):
        del candidates["default"]
    peers = [p for p in args.peers.split(",") if p]
    if "wandb-bayes" in peers:
        from searchbench import environments

        environments.ensure_wandb_venv()
    candidates.update({peer: peer for peer in peers})
    problems = args.problems.split(",")
    modes = [int(m) for m in args.modes.split(",")]
    keys = [
        (name, problem, agents, seed)
        for name in candidates
        for problem in problems
        for agents in modes
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    jobs = [(candidates[n], p, s, a, args.budget) for n, p, a, s in keys]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = dict(zip(keys, pool.map(sweep, jobs), strict=True))
    points = [c for c in CHECKPOINTS if c <= args.budget]
    print("| problem | agents | candidate | " + " | ".join(f"@{c}" for c in points) + " |")
    print("|---|---|---|" + "---|" * len(points))
    for problem in problems:
        # Without a known minimum (the MLP), the cells are the median best value itself.
        optimum = PROBLEMS[problem].optimum or 0.0
        for agents in modes:
            for name in candidates:
                cells = []
                for c in points:
                    regrets = [
                        min(results[(name, problem, agents, s)][:c]) - optimum
                        for s in range(args.first_seed, args.first_seed + args.seeds)
                    ]
                    if args.below is None:
                        cells.append(f"{statistics.median(regrets):.3g}")
                    else:
                        cells.append(f"{sum(r < args.below for r in regrets)}/{len(regrets)}")
                print(f"| {problem} | {agents} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
