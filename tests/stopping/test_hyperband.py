"""Hyperband against W&B's own decisions (fixtures from make_fidelity.py) and the reference."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest

from sweepctl.run_metric import metric_history
from sweepctl.search import RunRecord
from sweepctl.spec import build_spec
from sweepctl.spec.model import SweepSpec
from sweepctl.stopping import hyperband, saved_iterations
from sweepctl.stopping.hyperband import bands, checks, should_stop, thresholds

FIDELITY = json.loads((Path(__file__).parent / "fidelity" / "hyperband.json").read_text())


def spec_of(early_terminate: dict[str, Any], metric: dict[str, Any] | None = None) -> SweepSpec:
    data: dict[str, Any] = {
        "method": "grid",
        "early_terminate": dict(early_terminate),
        "parameters": {"a": {"values": [1, 2]}},
    }
    if metric is not None:
        data["metric"] = dict(metric)
    return build_spec(data)


def from_rows(name: str, state: str, rows: list[Any], metric: str) -> RunRecord:
    """A run as the agent records it: the metric's history read from its logged rows."""
    rows = [row if isinstance(row, dict) else {metric: row} for row in rows]
    return RunRecord(
        run_id=name, state=state, config={}, history=tuple(metric_history(rows, metric))
    )


def run(run_id: str, state: str, *history: float) -> RunRecord:
    return RunRecord(run_id=run_id, state=state, config={}, history=tuple(map(float, history)))


# --- fidelity ------------------------------------------------------------------------------


def band_id(entry: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in entry["early_terminate"].items() if k != "type")


@pytest.mark.parametrize("entry", FIDELITY["bands"], ids=band_id)
def test_bands_match_wandb(entry: dict[str, Any]) -> None:
    block = spec_of(entry["early_terminate"], {"name": "loss"}).early_terminate
    if entry.get("error") == "OverflowError":
        # Known difference: W&B crashes; the list here ends at the last finite band.
        found = bands(block)
        assert 0 < len(found) < hyperband.MIN_ITER_BANDS
        assert found == sorted(found)
    elif "error" in entry:
        with pytest.raises(ValueError):
            bands(block)
    else:
        found = bands(block)
        expected = entry["bands"]
        assert found[: len(expected["head"])] == expected["head"]
        assert len(found) == expected["count"]
        assert hashlib.sha256(json.dumps(found).encode()).hexdigest() == expected["sha256"]


def case_id(case: dict[str, Any]) -> str:
    return case["name"]


@pytest.mark.parametrize("case", FIDELITY["cases"], ids=case_id)
def test_decisions_match_wandb(case: dict[str, Any]) -> None:
    spec = spec_of(case["early_terminate"], case["metric"])
    name = case["metric"]["name"]
    runs = [from_rows(run_id, state, rows, name) for run_id, state, rows in case["runs"]]
    wandb = case["wandb"]
    if "error" in wandb:
        with pytest.raises(ValueError):
            should_stop(spec, runs)
        return

    assert list(should_stop(spec, runs)) == wandb["stop"]

    # W&B prints the band, value and threshold of every running run that reached a band, in
    # its own sign (negated for maximize).
    sign = -1 if spec.metric.maximize else 1
    judged = {
        c.run_id: [c.band, sign * c.value, sign * c.threshold]
        for c in checks(spec.early_terminate, spec.metric, runs)
    }
    assert judged == wandb.get("judged", {})
    for c in checks(spec.early_terminate, spec.metric, runs):
        assert c.stop == (c.run_id in wandb["stop"])

    if "thresholds" in wandb:
        histories = [[sign * v for v in r.history] for r in runs if r.history]
        ours = thresholds(bands(spec.early_terminate), histories, spec.early_terminate["eta"])
        expected = wandb["thresholds"]
        assert ours[: len(expected)] == expected
        assert all(math.isinf(t) for t in ours[len(expected) :])


def test_fidelity_covers_what_it_claims() -> None:
    cases = [c for c in FIDELITY["cases"] if "error" not in c["wandb"]]
    verdicts = [
        (band, value, threshold)
        for c in cases
        for band, value, threshold in c["wandb"].get("judged", {}).values()
    ]
    assert sum(v > t for _, v, t in verdicts) >= 50  # stopped
    assert sum(v == t for _, v, t in verdicts) >= 50  # ties, kept
    assert sum(v < t for _, v, t in verdicts) >= 50  # kept
    blocks = [c["early_terminate"] for c in cases]
    assert any("min_iter" in b for b in blocks) and any("max_iter" in b for b in blocks)
    assert any(b.get("strict") is False for b in blocks)
    assert any(c["metric"].get("goal") == "maximize" for c in cases)
    assert {s for c in cases for _, s, _ in c["runs"]} >= {"running", "finished", "failed"}


# --- the reference, by hand ----------------------------------------------------------------

HB = {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}  # bands [3, 9]
LOSS = {"name": "val_loss", "goal": "minimize"}


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"max_iter": 27, "s": 2, "eta": 3}, [3, 9]),
        ({"max_iter": 5, "s": 2, "eta": 2}, [1, 2]),
        ({"max_iter": 19, "s": 2, "eta": 3}, [2, 6]),
        ({"max_iter": 27, "s": 2}, [3, 9]),  # eta defaults to 3
        ({"max_iter": 81, "s": 9, "eta": 3}, [1, 3, 9, 27]),  # stops below 1
    ],
)
def test_max_iter_bands(block: dict[str, Any], expected: list[int]) -> None:
    assert bands({"type": "hyperband", **block}) == expected


def test_min_iter_bands_are_100_powers() -> None:
    found = bands({"type": "hyperband", "min_iter": 3, "eta": 3})
    assert found[:5] == [3, 9, 27, 81, 243]
    assert len(found) == 100
    assert found[-1] == 3**100


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ({"max_iter": 2, "s": 2, "eta": 3}, "no band"),
        ({"max_iter": 27, "s": 0}, "no band"),
        ({"max_iter": 27, "s": 2.0}, "whole number"),
        ({"max_iter": 27, "min_iter": 3}, "needs `s`"),
        ({"eta": 3}, "needs `min_iter`"),
        ({"min_iter": 3, "eta": 1}, "above 1"),
    ],
)
def test_blocks_wandb_fails_on_raise_a_clear_error(block: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        bands({"type": "hyperband", **block})


def test_float_eta_overflow_ends_the_bands() -> None:
    found = bands({"type": "hyperband", "min_iter": 1, "eta": 2000.0})
    assert found[:3] == [1, 2000, 4000000]
    assert len(found) == 94  # 2000.0**93 is finite, 2000.0**94 is not


def test_first_run_alone_is_never_stopped() -> None:
    spec = spec_of(HB, LOSS)
    assert should_stop(spec, [run("a", "running", *[9.0] * 12)]) == {}


def test_equal_to_the_threshold_survives_and_above_stops() -> None:
    spec = spec_of(HB, LOSS)
    done = [run("a", "finished", 3, 2, 0.5), run("b", "finished", 3, 2, 0.5)]
    assert should_stop(spec, [*done, run("c", "running", 3, 2, 0.5)]) == {}
    assert list(should_stop(spec, [*done, run("c", "running", 3, 2, 0.6)])) == ["c"]


def test_reason_names_metric_value_band_threshold_and_count() -> None:
    spec = spec_of(HB, LOSS)
    done = [run(f"f{i}", "finished", *[0.5 + i / 100] * 9) for i in range(11)]
    judged = run("r", "running", *[0.9] * 8, 0.83)
    assert should_stop(spec, [*done, judged]) == {
        "r": "val_loss 0.83 at iteration 9 is worse than the band-9 threshold 0.54"
        " (eta 3, 12 runs reached it)"
    }


def test_reason_for_maximize_and_lenient_rule_uses_the_metrics_own_sign() -> None:
    spec = spec_of({**HB, "strict": False}, {"name": "acc", "goal": "maximize"})
    runs = [run("a", "finished", 0.5, 0.6, 0.7), run("b", "running", 0.2, 0.3, 0.4, 0.45)]
    assert should_stop(spec, runs) == {
        "b": "best acc 0.45 in 4 iterations is worse than the band-3 threshold 0.7"
        " (eta 3, 2 runs reached it)"
    }


def test_reason_shows_full_precision_when_rounding_would_hide_the_gap() -> None:
    spec = spec_of(HB, LOSS)
    runs = [
        run("a", "finished", 0, 0, 0.1),
        run("b", "finished", 0, 0, 0.1),
        run("c", "running", 0, 0, 0.10000000000000002),
    ]
    assert "0.10000000000000002 at iteration 3" in should_stop(spec, runs)["c"]
    assert "threshold 0.1 " in should_stop(spec, runs)["c"]


def test_threshold_index_is_wandbs_one_over_eta_times_n() -> None:
    # int((1/49) * 49) == 0 while int(49 / 49) == 1: W&B's threshold is the best value.
    block = {"type": "hyperband", "min_iter": 1, "eta": 49}
    runs = [run(f"f{v}", "finished", v) for v in range(49) if v != 1]
    runs.append(run("r", "running", 1))
    assert list(should_stop(spec_of(block, LOSS), runs)) == ["r"]


def test_runs_short_of_the_first_band_and_finished_runs_are_not_judged() -> None:
    spec = spec_of(HB, LOSS)
    runs = [run("a", "finished", 0, 0, 0), run("b", "finished", 9, 9, 9), run("c", "running", 9)]
    assert should_stop(spec, runs) == {}
    assert checks(spec.early_terminate, spec.metric, runs) == []


def test_no_early_terminate_stops_nothing_and_no_metric_is_an_error() -> None:
    assert should_stop(build_spec({"method": "grid", "parameters": {}}), []) == {}
    with pytest.raises(ValueError, match="metric"):
        should_stop(spec_of(HB), [])


# --- compute saved -------------------------------------------------------------------------


def test_saved_iterations_counts_up_to_the_longest_run_kept() -> None:
    runs = [
        run("done", "finished", *range(27)),
        run("going", "running", *range(12)),
        run("cut", "stopped", *range(3)),
        run("cut9", "stopped", *range(9)),
    ]
    assert saved_iterations(runs, {"cut", "cut9"}) == {"cut": 24, "cut9": 18}
    assert saved_iterations(runs, set()) == {}


def test_saved_iterations_when_every_run_was_stopped() -> None:
    runs = [run("a", "stopped", 1, 2, 3), run("b", "stopped", 1)]
    assert saved_iterations(runs, {"a", "b"}) == {"a": 0, "b": 2}
    assert saved_iterations([], {"a"}) == {}
