"""Grid search against W&B's own engine (fixtures from make_fidelity.py) and its contract."""

from __future__ import annotations

import copy
import csv
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from sweepctl.search import RunRecord
from sweepctl.search.grid import arange, grid_configs, grid_points, suggest
from sweepctl.spec import build_spec, load_spec
from sweepctl.spec.loader import load_document

FIDELITY = json.loads((Path(__file__).parent / "fidelity" / "grid.json").read_text())
ALL_CASES = FIDELITY["corpus"] + FIDELITY["cases"]
STATES = ("finished", "failed", "crashed", "running", "killed")


def same(actual: Any, expected: Any, path: tuple = ()) -> None:
    """Equal values, types and key order; floats bit for bit (NaN and -0.0 included)."""
    where = "/".join(map(str, path)) or "config"
    assert type(actual) is type(expected), f"{where}: {actual!r} is not {expected!r}"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: key order {list(actual)}"
        for key, value in expected.items():
            same(actual[key], value, (*path, key))
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{where}: {actual!r} is not {expected!r}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            same(a, e, (*path, index))
    elif isinstance(expected, float):
        assert repr(actual) == repr(expected), f"{where}: {actual!r} is not {expected!r}"
    else:
        assert actual == expected, f"{where}: {actual!r} is not {expected!r}"


def spec_of(parameters: dict[str, Any]):
    return build_spec({"method": "grid", "parameters": copy.deepcopy(parameters)})


def records(configs: list[dict[str, Any]], states=STATES) -> list[RunRecord]:
    return [
        RunRecord(run_id=f"r{i}", state=states[i % len(states)], config=copy.deepcopy(config))
        for i, config in enumerate(configs)
    ]


def case_id(case: dict[str, Any]) -> str:
    return case["name"]


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_grid_configs_match_wandb(case: dict[str, Any]) -> None:
    spec = spec_of(case["parameters"])
    assert grid_points(spec) == case["grid_points"]
    configs = list(grid_configs(spec))
    assert len(configs) == case["grid_points"]
    same(configs[: len(case["configs"])], case["configs"])
    if "last_config" in case:
        same(configs[-1], case["last_config"])


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_suggest_walks_wandb_grid_run_by_run(case: dict[str, Any]) -> None:
    """With the first k of W&B's points in the history (any states), suggest gives point k."""
    spec = spec_of(case["parameters"])
    expected = case["configs"]
    for k in range(len(expected)):
        same(suggest(spec, records(expected[:k]), random.Random()), expected[k])
    if len(expected) == case["grid_points"]:
        assert suggest(spec, records(expected), random.Random()) is None


@pytest.mark.parametrize("case", FIDELITY["history_cases"], ids=case_id)
def test_next_point_given_history_matches_wandb(case: dict[str, Any]) -> None:
    spec = spec_of(case["parameters"])
    history = [
        RunRecord(run_id=f"r{i}", state=state, config=config)
        for i, (state, config) in enumerate(case["history"])
    ]
    result = suggest(spec, history, random.Random())
    if case["next"] is None:
        assert result is None
    else:
        same(result, case["next"])


@pytest.mark.parametrize(
    "case", FIDELITY["arange"], ids=lambda c: f"{c['start']}:{c['stop']}:{c['step']}"
)
def test_arange_matches_numpy(case: dict[str, Any]) -> None:
    same(arange(case["start"], case["stop"], case["step"]), case["values"])


def test_reference_drift_example() -> None:
    """reference section 4: q_uniform 1.0..1.3 step 0.1 has four points, the last above max."""
    spec = spec_of({"q": {"distribution": "q_uniform", "min": 1.0, "max": 1.3, "q": 0.1}})
    assert [c["q"] for c in grid_configs(spec)] == [
        1.0,
        1.1,
        1.2000000000000002,
        1.3000000000000003,
    ]


def test_every_point_issued_exactly_once_whatever_the_run_states() -> None:
    spec = spec_of(
        {
            "a": {"values": [1, 1.0, 2]},
            "b": {"distribution": "int_uniform", "min": 0, "max": 2},
            "m": {"parameters": {"k": {"values": ["x", "y"]}, "c": {"value": 0}}},
        }
    )
    history: list[RunRecord] = []
    while (config := suggest(spec, history, random.Random())) is not None:
        history.append(
            RunRecord(run_id=str(len(history)), state=STATES[len(history) % 5], config=config)
        )
    issued = [json.dumps(run.config) for run in history]
    assert len(issued) == len(set(issued)) == grid_points(spec) == 2 * 3 * 2
    assert issued == [json.dumps(c) for c in grid_configs(spec)]


def test_point_held_by_a_failed_run_is_not_issued_again() -> None:
    spec = spec_of({"lr": {"values": [0.1, 0.01]}})
    failed = RunRecord(run_id="r0", state="failed", config={"lr": 0.1})
    assert suggest(spec, [failed], random.Random()) == {"lr": 0.01}


def test_exhausted_grid_returns_none() -> None:
    spec = spec_of({"lr": {"values": [0.1, 0.01]}, "seed": {"value": 1}})
    done = records(list(grid_configs(spec)))
    assert suggest(spec, done, random.Random()) is None


def test_constants_only_is_one_point() -> None:
    spec = spec_of({"seed": {"value": 1}})
    assert grid_points(spec) == 1
    assert list(grid_configs(spec)) == [{"seed": 1}]
    assert suggest(spec, [], random.Random()) == {"seed": 1}
    assert suggest(spec, records([{"seed": 1}]), random.Random()) is None


def test_configs_do_not_share_mutable_values_with_the_spec() -> None:
    spec = spec_of({"layers": {"values": [[64, 64]]}, "opt": {"value": {"name": "adam"}}})
    config = suggest(spec, [], random.Random())
    assert config is not None
    config["layers"].append(1)
    config["opt"]["name"] = "sgd"
    assert next(grid_configs(spec)) == {"layers": [64, 64], "opt": {"name": "adam"}}


def test_continuous_parameter_cannot_be_enumerated() -> None:
    spec = spec_of({"lr": {"min": 0.0, "max": 1.0}})
    with pytest.raises(ValueError, match="cannot be enumerated"):
        suggest(spec, [], random.Random())


def test_grid_points_of_corpus_files_match_manifest(corpus: Path) -> None:
    with (corpus / "MANIFEST.tsv").open(newline="") as f:
        rows = [
            row
            for row in csv.DictReader(f, delimiter="\t")
            if row["method"] == "grid" and row["reason"] in ("ok", "sci_notation_string")
        ]
    assert rows
    fixture = {case["name"]: case for case in FIDELITY["corpus"]}
    for row in rows:
        path = corpus / "files" / row["file"]
        spec, _ = load_spec(path)
        assert grid_points(spec) == int(row["grid_points"]), row["file"]
        # The fixture recorded W&B on the same parameters sweepctl reads from the file.
        assert fixture[row["file"]]["parameters"] == load_document(path).data["parameters"]


def test_big_grid_is_enumerated_lazily() -> None:
    axes = {f"p{i}": {"values": list(range(10))} for i in range(9)}
    spec = spec_of(axes)
    assert grid_points(spec) == 10**9
    first = list(itertools.islice(grid_configs(spec), 2))
    assert first[1] == {**{f"p{i}": 0 for i in range(8)}, "p8": 1}
