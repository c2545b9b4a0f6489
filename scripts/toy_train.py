"""A small, real training script written the way W&B sweeps expect, for the demo and tests.

It fits a logistic-regression classifier with mini-batch SGD on a synthetic two-moons-like
data set it generates itself (pure Python: no downloads, no numpy), in well under a second.
Like a typical W&B script it takes `--key=value` arguments, calls `wandb.init(config=...)`,
reads `wandb.config` and calls `wandb.log` once per epoch; nothing in it knows sweepctl.
Without wandb installed it logs through `sweepctl.log` instead.

    python scripts/toy_train.py --lr=0.1 --epochs=20 --batch_size=32
"""

from __future__ import annotations

import argparse
import math
import random

DEFAULTS = {
    "lr": 0.05,
    "epochs": 15,
    "batch_size": 32,
    "l2": 0.0,
    "optimizer": "sgd",
    "features": "poly",
    "seed": 0,
}


def make_data(n: int, seed: int) -> list[tuple[list[float], int]]:
    rng = random.Random(seed)
    data = []
    for _ in range(n):
        label = rng.random() < 0.5
        angle = rng.uniform(0, math.pi)
        x = math.cos(angle) + (1.0 if label else 0.0) + rng.gauss(0, 0.2)
        y = (math.sin(angle) if not label else -math.sin(angle) + 0.5) + rng.gauss(0, 0.2)
        data.append(([x, y], int(label)))
    return data


def features(point: list[float], kind: str) -> list[float]:
    x, y = point
    if kind == "linear":
        return [1.0, x, y]
    return [1.0, x, y, x * x, y * y, x * y, x**3, y**3]


def train(config: dict, log) -> float:
    rng = random.Random(config["seed"])
    data = make_data(600, seed=1234)
    train_set, val_set = data[:480], data[480:]
    dim = len(features([0.0, 0.0], config["features"]))
    weights = [0.0] * dim
    velocity = [0.0] * dim
    lr, l2 = float(config["lr"]), float(config["l2"])
    batch = max(1, int(config["batch_size"]))

    def predict(point: list[float]) -> float:
        z = sum(w * f for w, f in zip(weights, features(point, config["features"]), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def evaluate(rows) -> tuple[float, float]:
        loss = correct = 0.0
        for point, label in rows:
            p = min(max(predict(point), 1e-7), 1 - 1e-7)
            loss -= label * math.log(p) + (1 - label) * math.log(1 - p)
            correct += (p > 0.5) == bool(label)
        return loss / len(rows), correct / len(rows)

    val_loss = float("inf")
    for epoch in range(int(config["epochs"])):
        rng.shuffle(train_set)
        for start in range(0, len(train_set), batch):
            grad = [0.0] * dim
            chunk = train_set[start : start + batch]
            for point, label in chunk:
                error = predict(point) - label
                for i, f in enumerate(features(point, config["features"])):
                    grad[i] += error * f / len(chunk)
            for i in range(dim):
                g = grad[i] + l2 * weights[i]
                if config["optimizer"] == "momentum":
                    velocity[i] = 0.9 * velocity[i] + g
                    g = velocity[i]
                weights[i] -= lr * g
        train_loss, train_acc = evaluate(train_set)
        val_loss, val_acc = evaluate(val_set)
        log(
            {
                "epoch": epoch,
                "train/loss": train_loss,
                "train/acc": train_acc,
                "val/loss": val_loss,
                "val/acc": val_acc,
            }
        )
    return val_loss


def parse_args() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=value)
    return vars(parser.parse_args())


def main() -> None:
    args = parse_args()
    try:
        import wandb
    except ImportError:
        import sweepctl

        train(args, sweepctl.log)
        return
    run = wandb.init(config=args)
    train(dict(run.config), wandb.log)
    run.finish()


if __name__ == "__main__":
    main()
