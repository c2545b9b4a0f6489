"""Record what W&B's own sweeps engine does, as the fixtures in tests/search/fidelity/.

Run by hand (pytest does not collect it), with a separate virtualenv that holds W&B's engine,
from the repository root:

    python3.11 -m venv bench/.venvs/wandb-sweeps
    bench/.venvs/wandb-sweeps/bin/pip install sweeps==0.3.0 pyyaml jsonschema
    bench/.venvs/wandb-sweeps/bin/python tests/search/make_fidelity.py

It writes:

* ``grid.json``: W&B's grid (``sweeps.grid_search.grid_search_next_runs``) for every grid file
  of the shared corpus whose MANIFEST reason is ``ok`` or ``sci_notation_string`` (read with
  sweepctl's loader, so ``1e-5`` is a float), and for hand-written cases; the next point for
  hand-written histories; and ``numpy.arange`` for q_uniform ranges.
* ``random.json``: seeded streams of ``sweeps.next_run`` for every distribution (``random``
  and numpy seeded with the case's seed), and W&B's value ``HyperParameter.ppf(u)`` at chosen
  draws ``u`` (ties, zero, both ends).

Values are stored as JSON: numpy scalars become the Python int/float they equal, NaN is
written as ``NaN``. A big grid keeps its size, its first 50 configs and its last one.
"""

from __future__ import annotations

import copy
import csv
import json
import platform
import random
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from sweeps.grid_search import grid_search_next_runs
from sweeps.params import HyperParameter
from sweeps.run import RunState, SweepRun

import sweeps

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # sweepctl's loader reads the corpus files as sweepctl does

from sweepctl.spec.loader import load_document  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
OUT = Path(__file__).resolve().parent / "fidelity"
KEEP = 50  # configs kept per grid
STREAM = 20  # runs per random stream

warnings.filterwarnings("ignore")  # pydantic's v2 notice; numpy's NaN-to-int cast


def plain(value: Any) -> Any:
    """A W&B value as plain JSON-able Python (numpy scalars to int/float/bool)."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def unwrap(run: SweepRun) -> dict[str, Any]:
    """W&B's run config ``{name: {"value": v}}`` as the plain config sweepctl returns."""
    return {k: plain(v["value"]) for k, v in run.config.items()}


def wrap(config: dict[str, Any]) -> dict[str, Any]:
    return {k: {"value": v} for k, v in config.items()}


def versions() -> dict[str, str]:
    names = ("sweeps", "numpy", "scipy", "PyYAML", "jsonschema")
    found = {name: metadata.version(name) for name in names}
    found["python"] = platform.python_version()
    found["machine"] = platform.machine()
    return found


def header(what: str) -> dict[str, Any]:
    return {
        "what": what,
        "generated_by": "tests/search/make_fidelity.py",
        "versions": versions(),
    }


# --- grid ----------------------------------------------------------------------------------

GRID_CASES: dict[str, dict[str, Any]] = {
    "reference_order": {"b": {"values": [1, 2]}, "a": {"values": ["x", "y", "z"]}},
    "int_uniform": {"n": {"min": 1, "max": 4}, "act": {"values": ["relu", "tanh"]}},
    "int_uniform_negative": {"k": {"distribution": "int_uniform", "min": -2, "max": 1}},
    "q_uniform_int_q": {"q": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 5}},
    "q_uniform_float_q": {"q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}},
    "q_uniform_drift": {"q": {"distribution": "q_uniform", "min": 1.0, "max": 1.3, "q": 0.1}},
    "q_uniform_default_q": {"q": {"distribution": "q_uniform", "min": 0, "max": 3}},
    "q_uniform_int_bounds_float_q": {
        "q": {"distribution": "q_uniform", "min": 1, "max": 2, "q": 0.1}
    },
    "duplicates_int_float": {"d": {"values": [1, 1.0, 2.5]}},
    "duplicates_bool_int_str": {"d": {"values": [True, 1, "yes", True]}},
    "duplicates_first_position_last_value": {"d": {"values": [1, 2, 1.0]}, "e": {"values": [0]}},
    "duplicates_big_integral_float": {"d": {"values": [3000000, 3.0e6, 3000001]}},
    "lists_keep_float_type": {"d": {"values": [[1, 2], [1.0, 2.0], [1, 2]]}},
    "dict_values": {
        "opt": {"values": [{"name": "adam", "lr": 0.1}, {"lr": 0.1, "name": "adam"}, {"n": 1}]}
    },
    "odd_scalars": {"v": {"values": [None, "null", 0, False, "", "0", 0.0, -0.0]}},
    "nested": {
        "lr": {"values": [0.1, 0.01]},
        "seed": {"value": 7},
        "model": {
            "parameters": {
                "depth": {"values": [1, 2]},
                "act": {"value": "relu"},
                "width": {"distribution": "int_uniform", "min": 8, "max": 9},
            }
        },
        "data": {"parameters": {"name": {"value": "mnist"}}},
    },
    "nested_deep": {
        "z": {"value": 1},
        "opt": {
            "parameters": {
                "b": {"values": [1, 2]},
                "a": {"parameters": {"x": {"values": ["p", "q"]}, "y": {"value": None}}},
            }
        },
    },
    "order_dash_dot_nested": {
        "a": {"parameters": {"x": {"values": [1, 2]}}},
        "a-b": {"values": [3, 4]},
        "a.c": {"values": [5, 6]},
        "B": {"values": [0, 1]},
        "_z": {"value": 0},
    },
    "constants_only": {"seed": {"value": 1}, "name": {"value": "x"}, "cfg": {"value": {"k": 1}}},
    "constants_and_axes": {
        "c": {"value": [1, 2]},
        "a": {"values": [1, 2]},
        "e": {"value": "last"},
    },
}

# (case, history) pairs: the history's runs are (state, plain config); W&B gives the next point.
HISTORY_CASES: list[dict[str, Any]] = [
    {
        "name": "failed_and_finished_points_are_taken",
        "parameters": GRID_CASES["reference_order"],
        "history": [
            ["failed", {"a": "x", "b": 1}],
            ["finished", {"a": "y", "b": 1}],
            ["crashed", {"a": "x", "b": 2}],
        ],
    },
    {
        "name": "running_and_killed_points_are_taken",
        "parameters": GRID_CASES["reference_order"],
        "history": [["running", {"a": "x", "b": 1}], ["killed", {"a": "x", "b": 2}]],
    },
    {
        "name": "run_missing_a_parameter_takes_nothing",
        "parameters": GRID_CASES["reference_order"],
        "history": [["finished", {"a": "x"}], ["finished", {"b": 1}]],
    },
    {
        "name": "integral_float_in_run_matches_int",
        "parameters": {"d": {"values": [3000000, 5]}},
        "history": [["finished", {"d": 3000000.0}]],
    },
    {
        "name": "int_in_run_matches_integral_float",
        "parameters": {"d": {"values": [2.0, 5.5]}},
        "history": [["finished", {"d": 2}]],
    },
    {
        "name": "bool_in_run_does_not_match_int",
        "parameters": {"d": {"values": [1, 2]}},
        "history": [["finished", {"d": True}]],
    },
    {
        "name": "extra_keys_in_dict_value_ignored",
        "parameters": GRID_CASES["dict_values"],
        "history": [["finished", {"opt": {"name": "adam", "lr": 0.1, "injected": 5}}]],
    },
    {
        "name": "nested_points_taken",
        "parameters": GRID_CASES["nested"],
        "history": [
            [
                "failed",
                {
                    "lr": 0.1,
                    "seed": 7,
                    "data": {"name": "mnist"},
                    "model": {"depth": 1, "width": 8},
                },
            ],
            ["finished", {"lr": 0.1, "model": {"depth": 1, "width": 9, "act": "relu"}}],
        ],
    },
    {
        "name": "values_outside_grid_take_nothing",
        "parameters": GRID_CASES["reference_order"],
        "history": [["finished", {"a": "w", "b": 1}], ["finished", {"a": "x", "b": 3}]],
    },
    {
        "name": "all_points_taken",
        "parameters": {"d": {"values": [1, 2]}},
        "history": [["finished", {"d": 1}], ["failed", {"d": 2.0}]],
    },
    {
        "name": "constants_only_taken_by_any_run",
        "parameters": GRID_CASES["constants_only"],
        "history": [["failed", {"other": 1}]],
    },
]

ARANGE_CASES = [
    (1.0, 1.3, 0.1),
    (0, 1, 0.25),
    (0, 10, 5),
    (0, 10, 4),
    (0.0, 1.0, 0.6),
    (0, 3, 1.0),
    (1, 2, 0.1),
    (0.1, 0.5, 0.1),
    (-1.0, 1.0, 0.2),
    (0.001, 0.01, 0.001),
    (5, 6, 0.3),
    (0, 1e-3, 1e-4),
    (2.5, 2.6, 1.0),
    (1e-5, 1e-4, 2e-5),
]


def grid_runs(parameters: dict[str, Any]) -> list[SweepRun]:
    """All of W&B's grid, in one call (the same as asking run by run, checked below)."""
    config = {"method": "grid", "parameters": copy.deepcopy(parameters)}
    runs = grid_search_next_runs([], config, n=10**7)
    assert runs[-1] is None
    return runs[:-1]


def check_incremental(parameters: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    """Run by run through ``sweeps.next_run``, with runs in mixed states, gives the same grid."""
    states = [RunState.finished, RunState.failed, RunState.running, RunState.crashed]
    runs: list[SweepRun] = []
    config = {"method": "grid", "parameters": copy.deepcopy(parameters)}
    while True:
        run = sweeps.next_run(config, runs)
        if run is None:
            break
        run.state = states[len(runs) % len(states)]
        runs.append(run)
    assert [unwrap(r) for r in runs] == expected


def grid_case(name: str, source: str, parameters: dict[str, Any]) -> dict[str, Any]:
    runs = grid_runs(parameters)
    configs = [unwrap(r) for r in runs]
    if len(configs) <= 500:
        check_incremental(parameters, configs)
    case: dict[str, Any] = {
        "name": name,
        "source": source,
        "parameters": parameters,
        "grid_points": len(configs),
        "configs": configs[:KEEP],
    }
    if len(configs) > KEEP:
        case["last_config"] = configs[-1]
    return case


def corpus_cases() -> list[dict[str, Any]]:
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        sys.exit(f"the shared corpus is missing: {manifest}")
    cases = []
    with manifest.open(newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["method"] != "grid" or row["reason"] not in ("ok", "sci_notation_string"):
                continue
            data = load_document(CORPUS / "files" / row["file"]).data
            case = grid_case(row["file"], f"corpus/files/{row['file']}", data["parameters"])
            assert str(case["grid_points"]) == row["grid_points"], row["file"]
            cases.append(case)
    return cases


def history_case(case: dict[str, Any]) -> dict[str, Any]:
    runs = [
        SweepRun(name=f"run-{i}", state=RunState(state), config=wrap(copy.deepcopy(config)))
        for i, (state, config) in enumerate(case["history"])
    ]
    config = {"method": "grid", "parameters": copy.deepcopy(case["parameters"])}
    run = sweeps.next_run(config, runs)
    return {**case, "next": None if run is None else unwrap(run)}


def grid_fixture() -> dict[str, Any]:
    return {
        **header("W&B grid search: every point in order, next point given a history"),
        "corpus": corpus_cases(),
        "cases": [grid_case(name, "hand", params) for name, params in GRID_CASES.items()],
        "history_cases": [history_case(case) for case in HISTORY_CASES],
        "arange": [
            {"start": a, "stop": b, "step": q, "values": np.arange(a, b, q).tolist()}
            for a, b, q in ARANGE_CASES
        ],
    }


# --- random --------------------------------------------------------------------------------

DISTRIBUTIONS: dict[str, dict[str, Any]] = {
    "constant": {"value": {"k": [1, 2]}},
    "categorical": {"values": [1, "two", 3.0, None, True]},
    "categorical_w_probabilities": {"values": ["a", "b", "c"], "probabilities": [0.1, 0.2, 0.7]},
    "categorical_w_probabilities_short_sum": {
        "values": ["a", "b", "c"],
        "probabilities": [0.2, 0.3, 0.4999999],
    },
    "int_uniform": {"min": 1, "max": 4},
    "int_uniform_negative": {"distribution": "int_uniform", "min": -10, "max": 10},
    "uniform": {"min": -1.5, "max": 2.0},
    "uniform_int_bounds": {"distribution": "uniform", "min": 0, "max": 10},
    "q_uniform_int_q": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 4},
    "q_uniform_float_q": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.6},
    "q_uniform_default_q": {"distribution": "q_uniform", "min": -3.0, "max": 3.0},
    "q_uniform_ties": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 1},
    "log_uniform": {"distribution": "log_uniform", "min": -9.2, "max": -2.3},
    "log_uniform_values": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
    "q_log_uniform": {"distribution": "q_log_uniform", "min": 0.0, "max": 6.0, "q": 2},
    "q_log_uniform_float_q": {"distribution": "q_log_uniform", "min": 0.0, "max": 3.0},
    "q_log_uniform_values": {
        "distribution": "q_log_uniform_values",
        "min": 1,
        "max": 1024,
        "q": 8,
    },
    "q_log_uniform_values_float_q": {
        "distribution": "q_log_uniform_values",
        "min": 1e-3,
        "max": 1.0,
        "q": 0.01,
    },
    "inv_log_uniform": {"distribution": "inv_log_uniform", "min": 0.0, "max": 7.0},
    "inv_log_uniform_values": {"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1.0},
    "normal": {"distribution": "normal", "mu": 1.0, "sigma": 2.5},
    "normal_default": {"distribution": "normal"},
    "q_normal": {"distribution": "q_normal", "mu": 0, "sigma": 3, "q": 2},
    "q_normal_float_q": {"distribution": "q_normal", "mu": 0.0, "sigma": 1.0, "q": 0.5},
    "log_normal": {"distribution": "log_normal", "mu": -2.0, "sigma": 0.7},
    "q_log_normal": {"distribution": "q_log_normal", "mu": 3, "sigma": 1, "q": 2},
    "q_log_normal_float_q": {"distribution": "q_log_normal", "mu": 0.0, "sigma": 0.5, "q": 0.1},
    "beta": {"distribution": "beta", "a": 2.0, "b": 5.0},
    "beta_default": {"distribution": "beta"},
    "beta_small_shapes": {"distribution": "beta", "a": 0.3, "b": 0.5},
    "q_beta": {"distribution": "q_beta", "a": 2, "b": 2, "q": 0.1},
    "q_beta_int_q": {"distribution": "q_beta", "a": 0.5, "b": 0.5, "q": 1},
}

# Values W&B gives that no stream is likely to show: degenerate shapes give NaN.
EDGE_DISTRIBUTIONS: dict[str, dict[str, Any]] = {
    "normal_sigma_0": {"distribution": "normal", "mu": 1.0, "sigma": 0},
    "q_normal_sigma_0_int_q": {"distribution": "q_normal", "mu": 1.0, "sigma": 0, "q": 1},
    "log_normal_sigma_0": {"distribution": "log_normal", "mu": 1.0, "sigma": 0.0},
    "beta_a_0": {"distribution": "beta", "a": 0, "b": 1},
    "q_uniform_signed_zero": {"distribution": "q_uniform", "min": -1.0, "max": 1.0, "q": 1.0},
}

MIXED = {
    "seed": {"value": 3},
    "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
    "batch_size": {"values": [16, 32, 64]},
    "epochs": {"min": 1, "max": 20},
    "dropout": {"min": 0.0, "max": 0.5},
    "optimizer": {
        "parameters": {
            "name": {"values": ["adam", "sgd"]},
            "momentum": {"distribution": "beta", "a": 5, "b": 2},
            "kind": {"value": "torch"},
            "sched": {
                "parameters": {
                    "gamma": {"distribution": "q_uniform", "min": 0.5, "max": 1.0, "q": 0.05},
                    "step": {"distribution": "q_log_uniform_values", "min": 1, "max": 100, "q": 1},
                }
            },
        }
    },
    "A_first": {"value": "upper-case sorts first"},
    "noise": {"distribution": "normal", "mu": 0.0, "sigma": 0.1},
    "warmup": {"distribution": "q_normal", "mu": 100, "sigma": 20, "q": 10},
    "data": {"parameters": {"name": {"value": "cifar10"}, "aug": {"values": [True, False]}}},
}

STREAMS: list[tuple[str, dict[str, Any], int]] = [
    *((f"{name}", {"x": spec}, 7 + i) for i, (name, spec) in enumerate(DISTRIBUTIONS.items())),
    ("mixed_nested", MIXED, 0),
    ("mixed_nested_seed_1", MIXED, 1),
    ("order_dash_dot_nested", GRID_CASES["order_dash_dot_nested"], 3),
    ("constants_only", {"a": {"value": 1}, "b": {"value": "two"}}, 5),
    ("constants_then_uniform", {"a": {"value": 1}, "b": {"min": 0.0, "max": 1.0}}, 5),
]

PPF_POINTS = [
    0.0,
    2.0**-53,
    1e-6,
    0.05,
    0.1,
    0.2,
    0.25,
    0.3,
    1 / 3,
    0.35,
    0.4,
    0.45,
    0.49,
    0.5,
    0.51,
    0.55,
    2 / 3,
    0.75,
    0.9,
    0.99999995,
    1 - 2.0**-53,
]


def stream(parameters: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    random.seed(seed)
    np.random.seed(seed)
    config = {"method": "random", "parameters": copy.deepcopy(parameters)}
    return [unwrap(sweeps.next_run(config, [])) for _ in range(STREAM)]


def ppf_case(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    param = HyperParameter("x", copy.deepcopy(spec))
    rng = random.Random(name)
    points = PPF_POINTS + [rng.random() for _ in range(20)]
    return {
        "name": name,
        "parameters": {"x": spec},
        "points": [[u, plain(param.ppf(u))] for u in points],
    }


def random_fixture() -> dict[str, Any]:
    return {
        **header("W&B random search: seeded streams of next_run, and ppf(u) per distribution"),
        "streams": [
            {"name": name, "parameters": params, "seed": seed, "configs": stream(params, seed)}
            for name, params, seed in STREAMS
        ],
        "ppf": [
            ppf_case(name, spec) for name, spec in {**DISTRIBUTIONS, **EDGE_DISTRIBUTIONS}.items()
        ],
    }


def write(name: str, data: dict[str, Any]) -> None:
    path = OUT / name
    text = json.dumps(data, indent=1) + "\n"
    path.write_text(text)
    print(f"{path.relative_to(REPO)}: {len(text) // 1024} KB")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    write("grid.json", grid_fixture())
    write("random.json", random_fixture())


if __name__ == "__main__":
    main()
