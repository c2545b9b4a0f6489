"""scripts/train.py: its `--key=value` parser, one real run, and the sweep files that drive it.

The parser is checked against the argv that sweepctl's W&B-exact macro code renders, so the
script reads what W&B's `${args}` writes. The real run goes through the bootstrap that
captures `wandb.log`, with a W&B parameter file whose values must win over the argv.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sweepctl.agent.macros import render_command, write_param_file

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train.py"
BOOTSTRAP = REPO / "sweepctl" / "agent" / "bootstrap"
TRAIN_SWEEPS = sorted(
    path
    for path in (REPO / "sweeps").rglob("*.yaml")
    if yaml.safe_load(path.read_text()).get("program") == "scripts/train.py"
)


DEFAULTS = yaml.safe_load((REPO / "configs" / "train.yaml").read_text())


@pytest.fixture(scope="module")
def train():
    """scripts/train.py as a module; its tests skip where the `train` extra is not installed."""
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("train_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# -- (a) the --key=value parser --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5),
        ("-3", -3),
        ("0.001", 0.001),
        ("1e-05", 1e-05),  # str(0.00001), as W&B renders it
        ("1e+20", 1e20),
        ("2.0", 2.0),
        ("True", True),
        ("False", False),
        ("None", None),
        ("true", True),  # YAML spellings, for people typing
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("{'depth': 2, 'lr': 0.1}", {"depth": 2, "lr": 0.1}),
        ("adamw", "adamw"),
        ("hello world", "hello world"),  # one argv token, spaces and all
        ("configs/smoke.yaml", "configs/smoke.yaml"),
        ("", ""),
    ],
)
def test_parse_value_reads_what_wandb_writes(train, text, expected):
    value = train.parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_value_reads_infinity_and_nan(train):
    assert train.parse_value("inf") == math.inf
    assert math.isnan(train.parse_value("nan"))


@given(st.floats(allow_nan=False) | st.integers() | st.booleans() | st.none() | st.text())
def test_every_rendered_value_reads_back(train, value):
    if isinstance(value, str) and value != train.parse_value(value):
        return  # a string that spells another type reads as that type, like YAML does
    assert train.parse_value(str(value)) == value


def test_parse_args_reads_the_argv_of_the_default_command(train):
    config = {
        "lr": 1e-05,
        "d_model": 64,
        "vocab_bucket_digits": None,
        "augmentation": True,
        "optimizer": "adamw",
        "weight_decay": 0,
    }
    argv = render_command(None, config, program="scripts/train.py", environ={})
    assert argv[:3] == ["/usr/bin/env", "python", "scripts/train.py"]
    assert "--lr=1e-05" in argv and "--vocab_bucket_digits=None" in argv
    assert train.parse_args(argv[3:]) == config


def test_parse_args_reads_other_argument_macros(train):
    config = {"lr": 0.01, "augmentation": True, "strategy": "lora"}
    for command in (["${args_no_equals}"], ["${args_no_boolean_flags}"]):
        argv = render_command(command, config, program="x", environ={})
        assert train.parse_args(argv) == config
    assert train.parse_args(["--warmup-epochs=2"]) == {"warmup_epochs": 2}


def test_parse_args_refuses_a_positional_argument(train):
    with pytest.raises(train.ConfigError, match="--key=value"):
        train.parse_args(["lr=0.1"])


def test_values_take_the_type_of_their_default(train):
    config = train.resolve(
        DEFAULTS,
        {"weight_decay": 0, "d_model": 32.0, "vocab_bucket_digits": None, "augmentation": "no"},
    )
    assert config["weight_decay"] == 0.0 and isinstance(config["weight_decay"], float)
    assert config["d_model"] == 32 and isinstance(config["d_model"], int)
    assert config["vocab_bucket_digits"] is None
    assert config["augmentation"] is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"lrr": 0.1}, "unknown hyperparameter 'lrr'; did you mean lr"),
        ({"lr": None}, "lr cannot be None"),
        ({"d_model": 2.5}, "d_model must be int"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of adamw, adam, sgd"),
        ({"d_model": 30, "num_heads": 4}, "not divisible by num_heads"),
        ({"noise_prob": 1.5}, "noise_prob must be between 0 and 1"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(train, overrides, message):
    with pytest.raises(train.ConfigError, match=message):
        train.resolve(DEFAULTS, overrides)


def test_main_exits_2_on_a_typo_before_training(train, capsys):
    assert train.main(["--lrr=0.1"]) == 2
    assert "did you mean lr?" in capsys.readouterr().err


def test_config_file_is_laid_over_the_defaults(train):
    config = train.load_config(["--config=configs/smoke.yaml", "--epochs=3"])
    assert config["num_layers"] == 1  # from smoke.yaml
    assert config["epochs"] == 3  # the argument wins over the file
    assert config["lr"] == DEFAULTS["lr"]  # untouched keys keep their default


# -- the pieces the sweeps search over --------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "token"), [(None, "1575"), (3, "1570"), (2, "1500"), (1, "1000"), (5, "1575")]
)
def test_bucketing_keeps_leading_digits_and_magnitude(train, digits, token):
    assert train.number_token("F", 1575.0, digits) == token


def test_coordinates_are_tokenised_in_micrometres(train):
    assert train.number_token("X", 12.345, None) == "12345"
    assert train.number_token("Z", -1.5, 1) == "-1000"
    assert train.number_token("Z", -0.0001, None) == "0"


def test_warmup_reaches_the_peak_then_the_scheduler_takes_over(train):
    total, warmup = 100, 10
    for kind in ("linear", "exponential", "cosine"):
        factors = [train.lr_factor(s, total, warmup, kind, "cosine") for s in range(total)]
        assert factors[0] < 0.2 and factors[warmup - 1] == pytest.approx(1.0)
        assert factors[:warmup] == sorted(factors[:warmup])
        assert factors[warmup:] == sorted(factors[warmup:], reverse=True)
        assert factors[-1] < 0.01
    step = [train.lr_factor(s, total, 0, "linear", "step") for s in (0, 40, 80)]
    assert step == [1.0, 0.5, 0.25]
    onecycle = [train.lr_factor(s, total, 0, "linear", "onecycle") for s in (0, 30, 99)]
    assert onecycle[0] == pytest.approx(1 / 25) and onecycle[1] == 1.0 and onecycle[2] < 1e-3
    assert train.lr_factor(50, total, 0, "linear", "plateau") == 1.0


def test_plateau_halves_the_lr_after_two_epochs_without_progress(train):
    plateau = train.Plateau()
    for loss in (2.0, 1.5, 1.6, 1.6):
        plateau.update(loss)
    assert plateau.scale == 0.5


def test_data_is_deterministic_and_split_by_program(train):
    config = train.load_config(["--config=configs/smoke.yaml"])
    first, second = train.build_dataset(config), train.build_dataset(config)
    assert first.train.tokens.equal(second.train.tokens)
    assert first.val.value.equal(second.val.value)
    assert first.train.tokens.shape[1] == config["seq_len"]
    assert int(first.train.tokens.max()) < first.vocab_size


def test_coarser_buckets_make_a_smaller_vocabulary(train):
    sizes = []
    for digits in (3, 2, 1):
        config = train.load_config(["--config=configs/smoke.yaml"])
        config["vocab_bucket_digits"] = digits
        data = train.build_dataset(config)
        sizes.append((data.vocab_size, data.value_classes))
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[-1]


# -- (b) one real run ----------------------------------------------------------------------------


@pytest.mark.slow
def test_real_run_logs_every_epoch_and_sweep_values_win(train, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("wandb")
    metrics = tmp_path / "metrics.jsonl"
    params = tmp_path / "config-run.yaml"
    # What a sweep's agent writes; it must win over the argv, as it does under W&B.
    sweep = {"epochs": 2, "vocab_bucket_digits": None}
    write_param_file(params, sweep)
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(tmp_path),
        "WANDB_SWEEP_PARAM_PATH": str(params),
        "SWEEPCTL_METRICS_FILE": str(metrics),
        "PYTHONPATH": str(BOOTSTRAP),
    }
    argv = ["--config=configs/smoke.yaml", "--epochs=1", "--lr=0.003", "--vocab_bucket_digits=2"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    for row in rows:
        for key in ("train/loss", "val/loss", "val/acc_command", "val/acc_value", "val/acc"):
            assert math.isfinite(row[key]), key
    # The data was tokenised at full precision (the param file's null), not at 2 digits.
    expected = train.build_dataset(train.resolve(train.load_config(argv), sweep))
    assert rows[0]["data/vocab_size"] == expected.vocab_size
    assert expected.vocab_size != train.build_dataset(train.load_config(argv)).vocab_size
    assert rows[0]["params/trainable"] == rows[0]["params/total"]


# -- (c) the sweep files -------------------------------------------------------------------------


def test_there_are_sweeps_for_train_py():
    names = {path.relative_to(REPO / "sweeps").as_posix() for path in TRAIN_SWEEPS}
    assert {
        "phase3/vocabulary_bucketing.yaml",
        "phase3/augmentation_optimization.yaml",
        "phase3/warmup_optimization.yaml",
        "phase3/architecture.yaml",
        "phase3/loss_weighting.yaml",
        "finetune/explore.yaml",
        "comparison/models_peft_aug.yaml",
    } <= names


@pytest.mark.parametrize(
    "path",
    sorted(p for p in (REPO / "sweeps").rglob("*.yaml") if p.name != "campaign.yaml"),
    ids=lambda p: p.relative_to(REPO).as_posix(),
)
def test_sweep_file_is_valid_without_warnings(path):
    from typer.testing import CliRunner

    from sweepctl.cli import app

    result = CliRunner().invoke(app, ["validate", "--strict", str(path)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", TRAIN_SWEEPS, ids=lambda p: p.name)
def test_sweep_parameters_are_hyperparameters_train_py_accepts(train, path):
    spec = yaml.safe_load(path.read_text())
    for name, param in spec["parameters"].items():
        assert name in DEFAULTS, f"{path.name}: train.py has no hyperparameter {name!r}"
        # Every value the sweep can hand out must be one train.py runs with.
        candidates = param.get("values", [param.get("value")] if "value" in param else [])
        candidates += [param[k] for k in ("min", "max") if k in param]
        for value in candidates:
            overrides = {name: value}
            if name == "d_model":  # checked with each num_heads the sweep offers
                heads = spec["parameters"].get("num_heads", {}).get("values", [1])
                for h in heads:
                    train.resolve(DEFAULTS, {**overrides, "num_heads": h})
                continue
            train.resolve(DEFAULTS, overrides)
