"""Every W&B parameter form, and a check that a config of them is in support and typed as
W&B types it: shared by the search tests (tests/search/)."""

from __future__ import annotations

import math
from typing import Any

EVERY_FORM: dict[str, Any] = {
    "uniform": {"min": -2.0, "max": 3.0},
    "int_uniform": {"min": -3, "max": 4},
    "q_uniform_int": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 4},
    "q_uniform_float": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25},
    "log_uniform": {"distribution": "log_uniform", "min": -9.2, "max": -2.3},
    "log_uniform_values": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
    "q_log_uniform": {"distribution": "q_log_uniform", "min": 0.0, "max": 5.0, "q": 2},
    "q_log_uniform_values": {
        "distribution": "q_log_uniform_values",
        "min": 16,
        "max": 512,
        "q": 16,
    },
    "inv_log_uniform": {"distribution": "inv_log_uniform", "min": 1.0, "max": 5.0},
    "inv_log_uniform_values": {"distribution": "inv_log_uniform_values", "min": 0.001, "max": 1},
    "normal": {"distribution": "normal", "mu": 3.0, "sigma": 2.0},
    "q_normal": {"distribution": "q_normal", "mu": 10.0, "sigma": 3.0, "q": 1},
    "log_normal": {"distribution": "log_normal", "mu": -2.0, "sigma": 1.0},
    "q_log_normal": {"distribution": "q_log_normal", "mu": 2.0, "sigma": 0.5, "q": 0.5},
    "beta": {"distribution": "beta", "a": 0.5, "b": 2.0},
    "q_beta": {"distribution": "q_beta", "a": 2.0, "b": 2.0, "q": 0.1},
    "categorical": {"values": ["a", "b", "c"]},
    "weighted": {"values": ["x", "never", "y"], "probabilities": [0.5, 0.0, 0.5]},
    "constant": {"value": [1, 2]},
}


def on_lattice(value: float, q: float, low: float, high: float) -> bool:
    k = round(value / q)
    return math.isclose(value, k * q, abs_tol=1e-12) and low <= value <= high


def check_every_form(config: dict[str, Any], normals_within: float | None = 3.8) -> None:
    """Each value of a config of EVERY_FORM inside its distribution's support, with W&B's
    type. ``normals_within``: how many sigmas the normal family may reach (bayes clips its
    latent range; random search draws from the whole distribution: None)."""

    def is_float(name: str) -> bool:
        return type(config[name]) is float

    assert list(config) == sorted(EVERY_FORM)
    assert config["constant"] == [1, 2]
    assert -2.0 <= config["uniform"] <= 3.0 and is_float("uniform")
    assert type(config["int_uniform"]) is int and -3 <= config["int_uniform"] <= 4
    assert type(config["q_uniform_int"]) is int and config["q_uniform_int"] in (0, 4, 8)
    assert is_float("q_uniform_float") and on_lattice(config["q_uniform_float"], 0.25, 0, 1)
    assert is_float("log_uniform")
    assert math.exp(-9.2) * (1 - 1e-12) <= config["log_uniform"] <= math.exp(-2.3) * (1 + 1e-12)
    assert 1e-5 <= config["log_uniform_values"] <= 0.1 and is_float("log_uniform_values")
    assert type(config["q_log_uniform"]) is int
    assert on_lattice(config["q_log_uniform"], 2, 0, round(math.exp(5) / 2) * 2)
    assert type(config["q_log_uniform_values"]) is int
    assert on_lattice(config["q_log_uniform_values"], 16, 16, 512)
    low, high = math.exp(-5.0), math.exp(-1.0)
    assert low <= config["inv_log_uniform"] <= high and is_float("inv_log_uniform")
    assert 0.001 <= config["inv_log_uniform_values"] <= 1 and is_float("inv_log_uniform_values")
    k = math.inf if normals_within is None else normals_within
    assert abs(config["normal"] - 3.0) <= 2.0 * k and is_float("normal")
    assert type(config["q_normal"]) is int and abs(config["q_normal"] - 10) <= 3 * k + 1
    assert 0 < config["log_normal"] <= math.exp(-2.0 + k) and is_float("log_normal")
    assert is_float("q_log_normal") and on_lattice(
        config["q_log_normal"], 0.5, 0, 100 if k < math.inf else k
    )
    assert 0 <= config["beta"] <= 1 and is_float("beta")
    assert is_float("q_beta") and on_lattice(config["q_beta"], 0.1, 0, 1)
    assert config["categorical"] in ("a", "b", "c")
    assert config["weighted"] in ("x", "y")  # probability 0 is never suggested
