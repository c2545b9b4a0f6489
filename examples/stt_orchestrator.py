"""The STT fine-tuning project's orchestrator, in plain sweepctl calls.

That project drove W&B from Python: `create_sweep(config)`, `run_sweep_agent(train_fn,
sweep_id, count=20)`, `get_best_run(sweep_id)`, `save_best_config(path, sweep_id)`; first a
random sweep to map the space, then a bayes sweep around its best region. The same flow here,
offline on the embedded store:

    random sweep -> best run -> refine (bayes, ranges narrowed around the best runs)
                 -> bayes sweep -> optimal_hyperparameters.json

`train_fn` stands in for a Whisper fine-tune: a smooth word-error-rate surface over learning
rate, warmup, SpecAugment masking and LoRA rank, with a little noise, logged per epoch with
`sweepctl.init()` (no wandb needed). Swap in a real training function unchanged.

    python examples/stt_orchestrator.py --random 12 --bayes 12
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

import sweepctl

RANDOM_SWEEP = {
    "name": "stt-random",
    "method": "random",
    "metric": {"name": "eval/wer", "goal": "minimize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-3},
        "warmup_steps": {"distribution": "int_uniform", "min": 0, "max": 1000},
        "mask_time_prob": {"min": 0.0, "max": 0.3},
        "lora_rank": {"values": [4, 8, 16, 32]},
        "seed": {"value": 42},
    },
    "sweepctl": {"seed": 7},
}


def train_fn() -> None:
    """One fine-tuning run: three epochs, the word error rate logged after each."""
    with sweepctl.init() as run:
        c = run.config
        rng = random.Random(f"{c['learning_rate']}-{c['seed']}")
        lr_term = (math.log10(c["learning_rate"]) + 4.3) ** 2 * 0.05
        warmup_term = ((c["warmup_steps"] - 400) / 1000) ** 2 * 0.2
        mask_term = (c["mask_time_prob"] - 0.12) ** 2 * 2.0
        rank_term = {4: 0.03, 8: 0.01, 16: 0.0, 32: 0.005}[c["lora_rank"]]
        floor = 0.08 + lr_term + warmup_term + mask_term + rank_term
        for epoch in range(1, 4):
            wer = floor + 0.3 / epoch + rng.gauss(0, 0.002)
            run.log({"eval/wer": wer, "epoch": epoch})


def create_sweep(config: dict | str | Path, storage: str | None) -> str:
    return sweepctl.sweep(config, storage=storage)


def run_sweep_agent(train: object, sweep_id: str, count: int, storage: str | None) -> None:
    sweepctl.agent(sweep_id, function=train, count=count, storage=storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--random", type=int, default=20, help="runs of the random sweep")
    parser.add_argument("--bayes", type=int, default=20, help="runs of the bayes sweep")
    parser.add_argument("--storage", default=None, help="a store URL or file (default: found)")
    parser.add_argument("--out", default="optimal_hyperparameters.json")
    options = parser.parse_args()

    first = create_sweep(RANDOM_SWEEP, options.storage)
    run_sweep_agent(train_fn, first, options.random, options.storage)
    best = sweepctl.best(first, storage=options.storage)
    print(f"random: best eval/wer {best.value:.4f} with {best.config}")

    refined = Path("stt-refined.yaml")
    sweepctl.refine(first, refined, top=5, storage=options.storage)
    second = create_sweep(refined, options.storage)
    run_sweep_agent(train_fn, second, options.bayes, options.storage)
    final = sweepctl.best(second, storage=options.storage)
    print(f"bayes:  best eval/wer {final.value:.4f} with {final.config}")

    winner = final if final.value <= best.value else best
    sweepctl.export_best(winner.sweep.id, options.out, storage=options.storage)
    print(f"wrote {options.out}: {json.loads(Path(options.out).read_text())}")


if __name__ == "__main__":
    main()
