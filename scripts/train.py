"""Train a small transformer on synthetic G-code, written the way W&B sweeps run real scripts.

The data: G-code programs (G0/G1/G2 moves with X/Y/Z/F values, R on arcs) written by a few
simulated machines, each with its own feeds, precision, tool and habits, generated
deterministically from `data_seed`. Each number becomes one token that keeps its first
`vocab_bucket_digits` significant digits (a feed of 1575 becomes "1500" with 2 digits, "1570"
with 3), so the vocabulary's size and precision are a hyperparameter. From the last `seq_len`
tokens the model predicts the next line's command (G0/G1/G2) and its feed bucket, the two heads
of the G-code fingerprinting project, plus, as an auxiliary head, which machine wrote it.

The model is a tiny BERT, DistilBERT or GPT-2 built from a transformers config (nothing is
downloaded: there is no pretrained checkpoint), trained fully, through LoRA or IA3 adapters
(peft), or with its encoder frozen.

Like any W&B script it takes `--key=value` arguments, calls `wandb.init(config=...)`, reads
`run.config` (so a sweep's values win) and logs once per epoch. Defaults are in
configs/train.yaml; `--config=FILE` lays another YAML file over them. Without wandb installed
it logs through `sweepctl.log`, or prints JSON lines.

    python scripts/train.py --lr=0.001 --vocab_bucket_digits=None --model_family=gpt2
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import yaml
from torch import nn

# The model is built from a config, never downloaded: make any accidental hub call fail fast
# instead of waiting on the network. Set before transformers is first imported.
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
DEFAULTS_FILE = REPO / "configs" / "train.yaml"

CHOICES = {
    "model_family": ("bert", "distilbert", "gpt2"),
    "strategy": ("full", "lora", "ia3", "frozen"),
    "optimizer": ("adamw", "adam", "sgd"),
    "warmup_type": ("linear", "exponential", "cosine"),
    "scheduler": ("cosine", "onecycle", "plateau", "step"),
    "loss_type": ("cross_entropy", "focal", "label_smoothing"),
}
# Keys that may be None, with the type they have otherwise.
NULLABLE = {"vocab_bucket_digits": int}
PROBABILITIES = ("noise_prob", "shift_prob", "scale_prob", "dropout", "lora_dropout")
POSITIVE = (
    "num_machines", "num_programs", "lines_per_program", "seq_len", "oversampling_factor",
    "d_model", "num_layers", "num_heads", "lora_r", "epochs", "batch_size", "cpu_threads",
)  # fmt: skip
NON_NEGATIVE = (
    "noise_std", "scale_range", "temporal_shift_max", "mixup_alpha", "lora_alpha", "lr",
    "weight_decay", "warmup_epochs", "command_weight", "value_weight", "fingerprint_weight",
    "focal_gamma", "label_smoothing",
)  # fmt: skip


# -- configuration ---------------------------------------------------------------------------


class ConfigError(ValueError):
    """A hyperparameter that train.py does not know, or a value it cannot use."""


def load_defaults(path: Path = DEFAULTS_FILE) -> dict[str, Any]:
    """The default config: every hyperparameter train.py accepts, and its value."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_value(text: str) -> Any:
    """Read one value the way W&B's `${args}` writes it: Python's str() of the config value.

    So ints, floats (`0.001`, `1e-05`, `inf`), `True`/`False`, `None`, lists and dicts (their
    repr) come back as those types; YAML's true/false/null are read too, for people typing.
    Anything else is the string itself: `--optimizer=adamw`, `--name=hello world`.
    """
    stripped = text.strip()
    if stripped.lower() in _WORDS:
        return _WORDS[stripped.lower()]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return float(stripped)  # inf and nan, which literal_eval does not read
    except ValueError:
        return text


def parse_args(argv: Sequence[str]) -> dict[str, Any]:
    """`--key=value` arguments as a dict of parsed values.

    Also read: `--key value` (W&B's `${args_no_equals}`) and a bare `--flag` meaning True
    (`${args_no_boolean_flags}`); `-` in a key is read as `_`.
    """
    overrides: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--") or token == "--":
            raise ConfigError(f"unexpected argument {token!r}: give settings as --key=value")
        key, equals, text = token[2:].partition("=")
        if not equals:
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                i += 1
                text = argv[i]
            else:
                text = "True"
        overrides[key.replace("-", "_")] = parse_value(text)
        i += 1
    return overrides


def coerce(key: str, value: Any, default: Any) -> Any:
    """`value` as the type of the key's default, or ConfigError.

    Sweeps bend types in small ways that must not change a run: a grid of `[0, 0.01]` gives
    the int 0 for a float setting, a `q_uniform` gives 4.0 for an int one.
    """
    kind = NULLABLE.get(key, type(default))
    if value is None:
        if key in NULLABLE:
            return None
        raise ConfigError(f"{key} cannot be None")
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("yes", "no", "on", "off"):
            return value.strip().lower() in ("yes", "on")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        return value if isinstance(value, str) else str(value)
    else:
        return value
    raise ConfigError(f"{key} must be {kind.__name__}, got {value!r}")


def resolve(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` laid over it: every key known, every value of the right type."""
    config = dict(base)
    for key, value in overrides.items():
        if key.startswith("_"):  # wandb's own bookkeeping (`_wandb`) in run.config
            continue
        if key not in base:
            close = difflib.get_close_matches(key, list(base), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(f"unknown hyperparameter {key!r}{hint}")
        config[key] = coerce(key, value, base[key])
    check(config)
    return config


def check(config: dict[str, Any]) -> None:
    """Raise ConfigError listing every value train.py cannot run with."""
    problems = []
    for key, choices in CHOICES.items():
        if config[key] not in choices:
            problems.append(f"{key} must be one of {', '.join(choices)}, got {config[key]!r}")
    for key in POSITIVE:
        if config[key] < 1:
            problems.append(f"{key} must be at least 1, got {config[key]!r}")
    for key in NON_NEGATIVE:
        if not config[key] >= 0:
            problems.append(f"{key} must not be negative, got {config[key]!r}")
    for key in PROBABILITIES:
        if not 0 <= config[key] <= 1:
            problems.append(f"{key} must be between 0 and 1, got {config[key]!r}")
    if not 0 < config["val_fraction"] < 1:
        problems.append(f"val_fraction must be between 0 and 1, got {config['val_fraction']!r}")
    digits = config["vocab_bucket_digits"]
    if digits is not None and digits < 1:
        problems.append(f"vocab_bucket_digits must be None or at least 1, got {digits!r}")
    if config["num_heads"] >= 1 and config["d_model"] % config["num_heads"]:
        problems.append(
            f"d_model {config['d_model']} is not divisible by num_heads {config['num_heads']}"
        )
    if problems:
        raise ConfigError("; ".join(problems))


def load_config(argv: Sequence[str]) -> dict[str, Any]:
    """configs/train.yaml, then the `--config=FILE` given, then the other arguments."""
    overrides = parse_args(argv)
    config = load_defaults()
    extra = overrides.pop("config", None)
    if extra is not None:
        path = Path(str(extra))
        if not path.exists() and not path.is_absolute():
            path = REPO / path
        try:
            config = resolve(config, load_defaults(path) or {})
        except OSError as exc:
            raise ConfigError(f"cannot read --config file: {exc}") from None
    return resolve(config, overrides)


# -- data: simulated machines and their programs ---------------------------------------------

COMMANDS = ("G0", "G1", "G2")
LETTERS = ("X", "Y", "Z", "R", "F")
# Integer units per unit written: numbers are tokenised at 1 um (feeds at 1 mm/min), so the
# digit string, and what bucketing keeps of it, does not depend on how a machine formats them.
UNITS = {"X": 1000, "Y": 1000, "Z": 1000, "R": 1000, "F": 1}
PAD, UNK = "[PAD]", "[UNK]"
MIN_COUNT = 2  # occurrences in training for a token of its own, or a feed class of its own
WINDOW_STRIDE = 2  # predict every other line: neighbouring windows overlap almost entirely
PART_SIZE = 100  # mm
HAND_EDIT_PROB = 0.1  # lines that break the machine's move pattern


@dataclass(frozen=True)
class Machine:
    """A simulated CNC machine and post-processor: what makes its programs recognisable."""

    decimals: int  # digits its post-processor writes after the point
    tool_radius: float  # contour offset of every move
    safe_z: float
    depth: float  # depth of one cutting pass
    feeds: dict[str, float]  # programmed feed per command (the rapid rate on G0 lines)
    override_prob: float  # how often the operator's feed override changes a written feed
    cycle: tuple[str, ...]  # the move pattern its CAM output repeats, e.g. G0 G1 G1 G2


@dataclass(frozen=True)
class Line:
    """One G-code line: a command and its (letter, value) words, F always last."""

    command: str
    words: tuple[tuple[str, float], ...]

    @property
    def feed(self) -> float:
        return self.words[-1][1]


@dataclass(frozen=True)
class Program:
    machine: int
    lines: tuple[Line, ...]


def make_machines(count: int, rng: random.Random) -> list[Machine]:
    """`count` machines with distinct precision, tooling, feeds and move patterns."""
    machines = []
    for _ in range(count):
        cut = float(rng.randrange(400, 2400, 25))  # feeds are programmed in 25s, like 1575
        cycle = ("G0", *rng.choices(("G1", "G2"), k=rng.randint(2, 5)))
        machines.append(
            Machine(
                decimals=rng.choice((1, 2, 3)),
                tool_radius=rng.choice((1.5, 2.0, 3.175, 4.0, 6.35)),
                safe_z=rng.choice((2.0, 2.54, 5.0, 10.0)),
                depth=rng.choice((0.5, 1.0, 1.5, 2.0)),
                feeds={
                    "G0": rng.choice((3000.0, 5000.0, 8000.0, 10000.0)),
                    "G1": cut,
                    "G2": round(cut * rng.choice((0.6, 0.75, 0.8)) / 25) * 25.0,
                },
                override_prob=rng.uniform(0.1, 0.3),
                cycle=cycle,
            )
        )
    return machines


def generate_program(
    machine_id: int, machine: Machine, n_lines: int, rng: random.Random
) -> Program:
    """A program of `n_lines` moves following the machine's pattern, with some hand edits."""
    lines = []
    for position in range(n_lines):
        command = machine.cycle[position % len(machine.cycle)]
        if rng.random() < HAND_EDIT_PROB:
            command = rng.choice(COMMANDS)
        # Contours lie on the part's 1 mm grid, offset by the tool radius.
        x = rng.randrange(PART_SIZE) + machine.tool_radius
        y = rng.randrange(PART_SIZE) + machine.tool_radius
        z = machine.safe_z if command == "G0" else -machine.depth * rng.randint(1, 3)
        words = [("X", x), ("Y", y), ("Z", z)]
        if command == "G2":
            words.append(("R", rng.randrange(4, 40) / 2))
        feed = machine.feeds[command]
        if command != "G0" and rng.random() < machine.override_prob:
            feed = float(round(feed * rng.uniform(0.9, 1.1)))
        words = [(k, round(v, machine.decimals)) for k, v in words] + [("F", feed)]
        lines.append(Line(command, tuple(words)))
    return Program(machine_id, tuple(lines))


def augment(program: Program, decimals: int, config: dict, rng: random.Random) -> Program:
    """A copy with its geometry moved, scaled and jittered; feeds stay, as they are targets."""
    scale = 1.0
    if rng.random() < config["scale_prob"]:
        scale += rng.uniform(-config["scale_range"], config["scale_range"])
    shift = {"X": 0.0, "Y": 0.0}
    if rng.random() < config["shift_prob"]:
        shift = {"X": rng.uniform(-10, 10), "Y": rng.uniform(-10, 10)}
    noisy = rng.random() < config["noise_prob"]
    lines = []
    for line in program.lines:
        words = []
        for letter, value in line.words:
            if letter != "F":
                value = value * scale + shift.get(letter, 0.0)
                if noisy:
                    value *= 1 + rng.gauss(0.0, config["noise_std"])
                value = round(value, decimals)
            words.append((letter, value))
        lines.append(Line(line.command, tuple(words)))
    return Program(program.machine, tuple(lines))


def number_token(letter: str, value: float, digits: int | None) -> str:
    """The token of a number: its first `digits` significant digits, magnitude kept.

    X 12.345 is 12345 um: "12345" in full, "12300" with 3 digits, "10000" with 1.
    """
    units = round(abs(value) * UNITS[letter])
    text = str(units)
    if digits is not None and len(text) > digits:
        text = text[:digits] + "0" * (len(text) - digits)
    return ("-" if value < 0 and units else "") + text


def encode(program: Program, digits: int | None) -> tuple[list[str], list[int]]:
    """The program's tokens, and where each line starts among them."""
    tokens: list[str] = []
    starts = []
    for line in program.lines:
        starts.append(len(tokens))
        tokens.append(line.command)
        for letter, value in line.words:
            tokens += [letter, number_token(letter, value, digits)]
    return tokens, starts


@dataclass
class Windows:
    """Prediction points: the `seq_len` tokens before a line, and that line's targets."""

    tokens: torch.Tensor  # (n, seq_len) token ids
    command: torch.Tensor  # (n,) index into COMMANDS
    value: torch.Tensor  # (n,) feed bucket class; 0 is "rare or not seen in training"
    machine: torch.Tensor  # (n,) which machine wrote the program
    feed: torch.Tensor  # (n,) the true feed, for the error in mm/min

    def __len__(self) -> int:
        return len(self.command)

    def to(self, device: torch.device) -> Windows:
        return Windows(*(t.to(device) for t in vars(self).values()))


@dataclass
class Dataset:
    train: Windows
    val: Windows
    vocab_size: int
    value_classes: int
    feed_of_class: torch.Tensor  # mean true feed of each value class, for val/value_mae


def make_windows(
    programs: Sequence[tuple[Program, int]],
    vocab: dict[str, int],
    value_class: dict[str, int],
    config: dict,
    rng: random.Random,
) -> Windows:
    """Windows over (program, temporal shift in lines) pairs; unknown tokens become [UNK]."""
    seq_len, digits = config["seq_len"], config["vocab_bucket_digits"]
    rows: dict[str, list] = {k: [] for k in ("tokens", "command", "value", "machine", "feed")}
    for program, max_shift in programs:
        tokens, starts = encode(program, digits)
        ids = [vocab.get(t, vocab[UNK]) for t in tokens]
        first = next((j for j, s in enumerate(starts) if s >= seq_len), len(starts))
        for planned in range(first, len(starts), WINDOW_STRIDE):
            j = planned
            if max_shift:  # temporal shift: this copy predicts a line near the original's
                j = min(max(j + rng.randint(-max_shift, max_shift), first), len(starts) - 1)
            line = program.lines[j]
            rows["tokens"].append(ids[starts[j] - seq_len : starts[j]])
            rows["command"].append(COMMANDS.index(line.command))
            rows["value"].append(value_class.get(number_token("F", line.feed, digits), 0))
            rows["machine"].append(program.machine)
            rows["feed"].append(line.feed)
    return Windows(
        tokens=torch.tensor(rows["tokens"], dtype=torch.long).view(-1, seq_len),
        command=torch.tensor(rows["command"], dtype=torch.long),
        value=torch.tensor(rows["value"], dtype=torch.long),
        machine=torch.tensor(rows["machine"], dtype=torch.long),
        feed=torch.tensor(rows["feed"], dtype=torch.float),
    )


def build_dataset(config: dict) -> Dataset:
    """Generate the programs, split them, augment the training ones and tokenise both."""
    data_rng = random.Random(config["data_seed"])
    machines = make_machines(config["num_machines"], data_rng)
    n_lines = config["lines_per_program"]
    programs = []
    for i in range(config["num_programs"]):
        machine_id = i % len(machines)  # every machine writes the same number of programs
        programs.append(generate_program(machine_id, machines[machine_id], n_lines, data_rng))
    data_rng.shuffle(programs)
    n_val = max(1, round(len(programs) * config["val_fraction"]))
    val_programs, train_programs = programs[:n_val], programs[n_val:]

    # Augmentation is the run's own randomness: different seeds see different copies.
    aug_rng = random.Random(f"augment-{config['seed']}")
    train_set = [(p, 0) for p in train_programs]
    if config["augmentation"]:
        for _ in range(config["oversampling_factor"] - 1):
            for p in train_programs:
                copy = augment(p, machines[p.machine].decimals, config, aug_rng)
                train_set.append((copy, config["temporal_shift_max"]))

    # The vocabulary and the feed classes: what the real training programs hold often enough
    # to learn (augmented copies would count twice). The rest is [UNK] and class 0, which
    # training then sees too, so the model knows what to make of values it never saw.
    digits = config["vocab_bucket_digits"]
    counts = Counter(t for p in train_programs for t in encode(p, digits)[0])
    numbers = {t for t, n in counts.items() if n >= MIN_COUNT} - {*COMMANDS, *LETTERS}
    vocab = {t: i for i, t in enumerate([PAD, UNK, *COMMANDS, *LETTERS, *sorted(numbers)])}
    feeds: dict[str, list[float]] = {}
    for p in train_programs:
        for line in p.lines:
            feeds.setdefault(number_token("F", line.feed, digits), []).append(line.feed)
    names = sorted((n for n, fs in feeds.items() if len(fs) >= MIN_COUNT), key=float)
    value_class = {name: i + 1 for i, name in enumerate(names)}
    rare = [f for n, fs in feeds.items() if n not in value_class for f in fs]
    everything = [f for fs in feeds.values() for f in fs]
    feed_of_class = [statistics.median(rare or everything)]
    feed_of_class += [statistics.fmean(feeds[n]) for n in names]

    return Dataset(
        train=make_windows(train_set, vocab, value_class, config, aug_rng),
        val=make_windows([(p, 0) for p in val_programs], vocab, value_class, config, aug_rng),
        vocab_size=len(vocab),
        value_classes=len(names) + 1,
        feed_of_class=torch.tensor(feed_of_class),
    )


# -- model -------------------------------------------------------------------------------------

# The modules peft adapts in each family: peft's defaults for these architectures, spelled out
# so that every peft version in the supported range adapts the same ones.
LORA_TARGETS = {"bert": ["query", "value"], "distilbert": ["q_lin", "v_lin"], "gpt2": ["c_attn"]}
IA3_TARGETS = {  # (target_modules, feedforward_modules)
    "bert": (["key", "value", "output.dense"], ["output.dense"]),
    "distilbert": (["k_lin", "v_lin", "lin2"], ["lin2"]),
    "gpt2": (["c_attn", "mlp.c_proj"], ["mlp.c_proj"]),
}


def build_encoder(config: dict, vocab_size: int) -> nn.Module:
    """A randomly initialised transformers model of the configured family and size."""
    import transformers

    transformers.logging.set_verbosity_error()
    d, layers, heads = config["d_model"], config["num_layers"], config["num_heads"]
    p, positions = config["dropout"], config["seq_len"]
    family = config["model_family"]
    if family == "bert":
        cfg = transformers.BertConfig(
            vocab_size=vocab_size,
            hidden_size=d,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            intermediate_size=4 * d,
            hidden_dropout_prob=p,
            attention_probs_dropout_prob=p,
            max_position_embeddings=positions,
            type_vocab_size=1,
            pad_token_id=0,
        )
        return transformers.BertModel(cfg, add_pooling_layer=False)
    if family == "distilbert":
        cfg = transformers.DistilBertConfig(
            vocab_size=vocab_size,
            dim=d,
            n_layers=layers,
            n_heads=heads,
            hidden_dim=4 * d,
            dropout=p,
            attention_dropout=p,
            max_position_embeddings=positions,
            pad_token_id=0,
        )
        return transformers.DistilBertModel(cfg)
    cfg = transformers.GPT2Config(
        vocab_size=vocab_size,
        n_embd=d,
        n_layer=layers,
        n_head=heads,
        n_inner=4 * d,
        resid_pdrop=p,
        embd_pdrop=p,
        attn_pdrop=p,
        n_positions=positions,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2Model(cfg)


def apply_strategy(encoder: nn.Module, config: dict) -> nn.Module:
    """The encoder trained fully, frozen, or frozen with LoRA or IA3 adapters."""
    strategy, family = config["strategy"], config["model_family"]
    if strategy == "full":
        return encoder
    if strategy == "frozen":
        return encoder.requires_grad_(False)
    import peft  # here, not at the top: it adds seconds to every start

    if strategy == "lora":
        adapter = peft.LoraConfig(
            r=config["lora_r"],
            lora_alpha=config["lora_alpha"],
            lora_dropout=config["lora_dropout"],
            target_modules=LORA_TARGETS[family],
            fan_in_fan_out=family == "gpt2",  # GPT-2's Conv1D stores weights transposed
        )
    else:
        targets, feedforward = IA3_TARGETS[family]
        adapter = peft.IA3Config(
            target_modules=targets,
            feedforward_modules=feedforward,
            fan_in_fan_out=family == "gpt2",
        )
    return peft.get_peft_model(encoder, adapter)


@dataclass
class Logits:
    command: torch.Tensor
    value: torch.Tensor
    machine: torch.Tensor


class GCodeModel(nn.Module):
    """A transformers encoder and three heads on the hidden state of the last token."""

    def __init__(self, encoder: nn.Module, config: dict, value_classes: int) -> None:
        super().__init__()
        d = config["d_model"]
        self.encoder = encoder
        self.dropout = nn.Dropout(config["dropout"])
        self.command_head = nn.Linear(d, len(COMMANDS))
        self.value_head = nn.Linear(d, value_classes)
        self.machine_head = nn.Linear(d, config["num_machines"])

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.encoder.get_input_embeddings()(tokens)

    def forward(self, embeddings: torch.Tensor) -> Logits:
        # Embeddings in, not token ids, so that mixup can blend two sequences. The last token
        # sees the whole window in every family (GPT-2 is causal), so it stands for the window.
        hidden = self.encoder(inputs_embeds=embeddings).last_hidden_state[:, -1]
        hidden = self.dropout(hidden)
        return Logits(self.command_head(hidden), self.value_head(hidden), self.machine_head(hidden))


# -- training ----------------------------------------------------------------------------------

EXPONENTIAL_WARMUP_START = 0.01  # exponential warmup grows the lr from 1% of the peak
PLATEAU_PATIENCE = 1  # epochs without improvement before plateau halves the lr


def lr_factor(step: int, total: int, warmup: int, warmup_type: str, scheduler: str) -> float:
    """The multiple of the peak lr at optimiser step `step` (0-based) of `total`.

    Warmup first, then the base schedule over the remaining steps. One function rather than
    chained torch schedulers, because torch's SequentialLR cannot hold ReduceLROnPlateau.
    """
    if step < warmup:
        t = (step + 1) / warmup
        if warmup_type == "linear":
            return t
        if warmup_type == "exponential":
            return EXPONENTIAL_WARMUP_START ** (1 - t)
        return 0.5 * (1 - math.cos(math.pi * t))
    t = (step - warmup) / max(1, total - warmup)
    if scheduler == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if scheduler == "onecycle":
        # torch's OneCycleLR (pct_start 0.3, div_factor 25, final_div_factor 1e4, cosine
        # phases); after a warmup, which already did the rise, only its descent is left.
        start, low, final = (0.0 if warmup else 0.3), 1 / 25, 1 / 25 / 1e4
        if t < start:
            return low + (1 - low) * 0.5 * (1 - math.cos(math.pi * t / start))
        return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * (t - start) / (1 - start)))
    if scheduler == "step":
        return 0.5 ** int(3 * t)  # halved after a third and after two thirds
    return 1.0  # plateau: the epoch loop lowers the lr when val/loss stalls


@dataclass
class Plateau:
    """ReduceLROnPlateau's rule (factor 0.5, patience 1) as a multiplier on the lr."""

    scale: float = 1.0
    best: float = math.inf
    bad_epochs: int = 0

    def update(self, loss: float) -> None:
        if loss < self.best - 1e-4:
            self.best, self.bad_epochs = loss, 0
            return
        self.bad_epochs += 1
        if self.bad_epochs > PLATEAU_PATIENCE:
            self.scale, self.bad_epochs = self.scale * 0.5, 0


def make_optimizer(params: list[nn.Parameter], config: dict) -> torch.optim.Optimizer:
    lr, decay = config["lr"], config["weight_decay"]
    if config["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=decay)
    if config["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=decay)  # L2 added to the gradient
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=decay)


def head_loss(logits: torch.Tensor, target: torch.Tensor, config: dict) -> torch.Tensor:
    """One head's training loss: cross-entropy, focal, or cross-entropy with smoothing."""
    if config["loss_type"] == "label_smoothing":
        return F.cross_entropy(logits, target, label_smoothing=config["label_smoothing"])
    ce = F.cross_entropy(logits, target, reduction="none")
    if config["loss_type"] == "focal":
        # (1 - p_true)^gamma: confident, correct predictions contribute little.
        ce = (1 - torch.exp(-ce)) ** config["focal_gamma"] * ce
    return ce.mean()


def objective(logits: Logits, batch: Windows, config: dict) -> torch.Tensor:
    """The weighted sum of the heads' training losses."""
    return (
        config["command_weight"] * head_loss(logits.command, batch.command, config)
        + config["value_weight"] * head_loss(logits.value, batch.value, config)
        + config["fingerprint_weight"] * head_loss(logits.machine, batch.machine, config)
    )


def batches(windows: Windows, size: int, order: torch.Tensor | None = None):
    indices = order if order is not None else torch.arange(len(windows))
    for start in range(0, len(indices), size):
        pick = indices[start : start + size].to(windows.command.device)
        yield Windows(*(t[pick] for t in vars(windows).values()))


def train_epoch(
    model: GCodeModel,
    optimizer: torch.optim.Optimizer,
    data: Windows,
    config: dict,
    lr_at: Callable[[], float],
    rng: random.Random,
    generator: torch.Generator,
) -> dict[str, float]:
    """One pass over the training windows; the mean loss and accuracies seen on the way."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    loss_sum = command_hits = value_hits = 0.0
    order = torch.randperm(len(data), generator=generator)
    for batch in batches(data, config["batch_size"], order):
        for group in optimizer.param_groups:
            group["lr"] = lr_at()
        embeddings = model.embed(batch.tokens)
        alpha = config["mixup_alpha"] if config["augmentation"] else 0.0
        if alpha > 0:
            lam = rng.betavariate(alpha, alpha)
            perm = torch.randperm(len(batch), generator=generator).to(embeddings.device)
            logits = model(lam * embeddings + (1 - lam) * embeddings[perm])
            partner = Windows(*(t[perm] for t in vars(batch).values()))
            loss = lam * objective(logits, batch, config) + (1 - lam) * objective(
                logits, partner, config
            )
        else:
            logits = model(embeddings)
            loss = objective(logits, batch, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        loss_sum += loss.item() * len(batch)
        command_hits += (logits.command.argmax(1) == batch.command).sum().item()
        value_hits += (logits.value.argmax(1) == batch.value).sum().item()
    n = len(data)
    return {"loss": loss_sum / n, "acc_command": command_hits / n, "acc_value": value_hits / n}


@torch.no_grad()
def evaluate(model: GCodeModel, data: Windows, feed_of_class: torch.Tensor) -> dict[str, float]:
    """Validation metrics. `loss` is the plain, unweighted cross-entropy of the two main heads,
    so that it compares runs with different loss weights and loss types."""
    model.eval()
    sums = dict.fromkeys(("loss", "acc_command", "acc_value", "acc_machine", "value_mae"), 0.0)
    feed_of_class = feed_of_class.to(data.feed.device)
    for batch in batches(data, 512):
        logits = model(model.embed(batch.tokens))
        n = len(batch)
        sums["loss"] += n * (
            F.cross_entropy(logits.command, batch.command).item()
            + F.cross_entropy(logits.value, batch.value).item()
        )
        sums["acc_command"] += (logits.command.argmax(1) == batch.command).sum().item()
        sums["acc_value"] += (logits.value.argmax(1) == batch.value).sum().item()
        sums["acc_machine"] += (logits.machine.argmax(1) == batch.machine).sum().item()
        predicted = feed_of_class[logits.value.argmax(1)]
        sums["value_mae"] += (predicted - batch.feed).abs().sum().item()
    metrics = {k: v / len(data) for k, v in sums.items()}
    metrics["acc"] = (metrics["acc_command"] + metrics["acc_value"]) / 2
    return metrics


def pick_device(config: dict) -> torch.device:
    """The configured device; `auto` is CUDA when available. On CPU, use `cpu_threads`."""
    name = config["device"]
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cpu":
        # More threads than free cores makes torch's thread pool spin: 30x slower, measured
        # with two runs on two cores.
        torch.set_num_threads(config["cpu_threads"])
    return device


def train(config: dict, log: Callable[[dict[str, Any]], None]) -> dict[str, float]:
    """Build data and model from `config`, train, `log` one row per epoch; the last val row."""
    device = pick_device(config)
    torch.manual_seed(config["seed"])
    rng = random.Random(config["seed"])
    generator = torch.Generator().manual_seed(config["seed"])

    data = build_dataset(config)
    encoder = apply_strategy(build_encoder(config, data.vocab_size), config)
    model = GCodeModel(encoder, config, data.value_classes).to(device)
    train_set, val_set = data.train.to(device), data.val.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, config)

    steps_per_epoch = math.ceil(len(train_set) / config["batch_size"])
    total = steps_per_epoch * config["epochs"]
    warmup = steps_per_epoch * config["warmup_epochs"]
    plateau = Plateau()
    step = 0

    def lr_at() -> float:
        nonlocal step
        factor = lr_factor(step, total, warmup, config["warmup_type"], config["scheduler"])
        step += 1
        return config["lr"] * factor * plateau.scale

    val: dict[str, float] = {}
    for epoch in range(1, config["epochs"] + 1):
        started = time.perf_counter()
        fit = train_epoch(model, optimizer, train_set, config, lr_at, rng, generator)
        val = evaluate(model, val_set, data.feed_of_class)
        if config["scheduler"] == "plateau" and epoch >= config["warmup_epochs"]:
            plateau.update(val["loss"])
        row: dict[str, Any] = {"epoch": epoch}
        row |= {f"train/{k}": v for k, v in fit.items()}
        row |= {f"val/{k}": v for k, v in val.items()}
        row["lr"] = optimizer.param_groups[0]["lr"]
        row["time/epoch_s"] = time.perf_counter() - started
        if epoch == 1:
            row["params/total"] = sum(p.numel() for p in model.parameters())
            row["params/trainable"] = sum(p.numel() for p in params)
            row["data/vocab_size"] = data.vocab_size
            row["data/value_classes"] = data.value_classes
            row["data/train_windows"] = len(train_set)
        log(row)
        print(
            f"epoch {epoch}/{config['epochs']}  train/loss {fit['loss']:.4f}  "
            f"val/loss {val['loss']:.4f}  val/acc_command {val['acc_command']:.3f}  "
            f"val/acc_value {val['acc_value']:.3f}",
            flush=True,
        )
        if not math.isfinite(fit["loss"]):
            print("training diverged (non-finite loss); stopping", file=sys.stderr, flush=True)
            break
    return val


# -- entry point -------------------------------------------------------------------------------


def fallback_logger() -> Callable[[dict[str, Any]], None]:
    """How to log without wandb: sweepctl's metrics channel, else JSON lines on stdout."""
    try:
        import sweepctl

        return sweepctl.log
    except ImportError:
        return lambda row: print(json.dumps(row), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if {"-h", "--help"} & set(args):
        print(__doc__)
        print("Hyperparameters and defaults (configs/train.yaml):")
        for key, value in load_defaults().items():
            print(f"  --{key}={value}")
        return 0
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        return 2
    try:
        import wandb
    except ImportError:
        train(config, fallback_logger())
        return 0
    run = wandb.init(config=config)
    seen = {"argv": sys.argv[1:], "wandb_config": dict(run.config)}
    try:
        # A sweep's values arrive through run.config (WANDB_SWEEP_PARAM_PATH) and win.
        config = resolve(config, dict(run.config))
    except ConfigError as exc:
        print(f"train.py: {exc}", file=sys.stderr)
        run.finish(exit_code=2)
        return 2
    if os.environ.get("TRAIN_RECORD_INPUTS"):
        # For checking what a launcher really hands the script: its argv and wandb.config.
        with open(os.environ["TRAIN_RECORD_INPUTS"], "w") as fh:
            json.dump(seen, fh, default=str)
    train(config, run.log)
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
