"""The W&B guide's Hugging Face sweep, run by sweepctl: only the two sweep lines change.

    sweep_id = wandb.sweep(sweep_config, project="hf-sweep")      # before
    wandb.agent(sweep_id, function=train, count=10)               # before
    sweep_id = sweepctl.sweep(sweep_config, project="hf-sweep")   # after
    sweepctl.agent(sweep_id, function=train, count=10)            # after

`train()` is the guide's: `wandb.init()`, a `Trainer` built from `wandb.config`, and
`report_to="wandb"`, so the Trainer's own W&B callback logs `eval/loss`, which the sweep
optimises. The model is a tiny BERT built from a config and the data is synthetic (is a
sequence's token sum even?), so nothing is downloaded and it runs on a CPU in seconds.
Without W&B credentials wandb runs offline; `sweepctl sync` can upload the runs later.

    python examples/hf_trainer_sweep.py --count 4
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is built, never downloaded

import torch
import wandb
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import sweepctl

sweep_config = {
    "method": "bayes",
    "metric": {"name": "eval/loss", "goal": "minimize"},
    "parameters": {
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 3e-2},
        "per_device_train_batch_size": {"values": [8, 16, 32]},
        "hidden_size": {"values": [16, 32]},
        "weight_decay": {"min": 0.0, "max": 0.1},
    },
}


class ParityData(torch.utils.data.Dataset):
    """Sequences of 8 tokens; the label says whether their sum is even."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 20, (size, 8), generator=generator)
        self.labels = (self.ids.sum(dim=1) % 2).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def train() -> None:
    with wandb.init() as run:
        config = run.config
        model = BertForSequenceClassification(
            BertConfig(
                vocab_size=24,
                hidden_size=config.hidden_size,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=2 * config.hidden_size,
                max_position_embeddings=16,
                num_labels=2,
            )
        )
        with tempfile.TemporaryDirectory() as out:
            args = TrainingArguments(
                output_dir=out,
                learning_rate=config.learning_rate,
                per_device_train_batch_size=config.per_device_train_batch_size,
                weight_decay=config.weight_decay,
                num_train_epochs=2,
                eval_strategy="epoch",
                logging_steps=10,
                save_strategy="no",
                report_to="wandb",
                use_cpu=True,
                disable_tqdm=True,
            )
            Trainer(
                model=model,
                args=args,
                train_dataset=ParityData(256, seed=0),
                eval_dataset=ParityData(64, seed=1),
            ).train()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--storage", default=None, help="a store URL or file (default: found)")
    options = parser.parse_args()
    sweep_id = sweepctl.sweep(sweep_config, project="hf-sweep", storage=options.storage)
    sweepctl.agent(sweep_id, function=train, count=options.count, storage=options.storage)
    best = sweepctl.best(sweep_id, storage=options.storage)
    print(f"best eval/loss {best.value:.4f} with {best.config}")
