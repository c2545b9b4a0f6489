"""Record what W&B's own hyperband early termination does, as tests/stopping/fidelity/.

Run by hand (pytest does not collect it), with a separate virtualenv that holds W&B's engine,
from the repository root:

    python3.11 -m venv bench/.venvs/wandb-sweeps
    bench/.venvs/wandb-sweeps/bin/pip install sweeps==0.3.0 pyyaml jsonschema
    bench/.venvs/wandb-sweeps/bin/python tests/stopping/make_fidelity.py

It writes ``hyperband.json`` with two lists, made by calling W&B's ``sweeps.stop_runs`` (which
calls ``sweeps.hyperband_stopping.hyperband_stop_runs``) on ``SweepRun`` objects:

* ``bands``: for many ``early_terminate`` blocks, the bands W&B computed (read from the
  ``early_terminate_info`` it attaches to a running run), or the error it raised. A band list
  is stored as its first 20 bands, its length and the SHA-256 of its JSON (the min_iter form's
  100 bands run to 48 digits).
* ``cases``: generated sweeps (seeded, so the file is reproducible) and hand-written ones:
  both forms, several eta (including float eta where ``int((1/eta) * n)`` is not
  ``int(n / eta)``), s, strict true/false/absent, minimize/maximize/absent, runs in every
  W&B state, ties, runs alone in a band, runs short of the first band, and history rows that
  do not count (no metric key, NaN, infinities, strings, bools, None). For each: W&B's bands
  and thresholds (the thresholds up to the last finite one), the runs it stopped, and for
  each running run that reached a band the band, compared value and threshold W&B printed in
  its info lines (in W&B's sign: negated for maximize).

Runs are stored as ``[name, state, rows]``; a row that is not an object stands for
``{metric_name: row}``. NaN and infinities are written as the tokens Python's json reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import random
import re
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

from sweeps.run import RunState, SweepRun

import sweeps

OUT = Path(__file__).resolve().parent / "fidelity" / "hyperband.json"
BAND_HEAD = 20
STATES = [s.value for s in RunState]
LINE = re.compile(
    r"^Run: (?P<name>\S+) Step: (?P<step>\d+) "
    r"(?: \(Band: (?P<band>\d+) Metric: (?P<value>\S+) Threshold: (?P<threshold>\S+)\))?"
)

warnings.filterwarnings("ignore")  # pydantic's v2 notice


def versions() -> dict[str, str]:
    names = ("sweeps", "numpy", "jsonschema")
    found = {name: metadata.version(name) for name in names}
    found["python"] = platform.python_version()
    found["machine"] = platform.machine()
    return found


def plain(value: Any) -> Any:
    """numpy scalars as the Python int/float they equal."""
    if hasattr(value, "item"):
        return value.item()
    return value


def config_of(early_terminate: dict[str, Any], metric: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": dict(metric),
        "early_terminate": dict(early_terminate),
        "parameters": {"a": {"values": [1, 2]}},
    }


def expand(rows: list[Any], metric: str) -> list[dict[str, Any]]:
    return [row if isinstance(row, dict) else {metric: row} for row in rows]


def run_wandb(
    early_terminate: dict[str, Any], metric: dict[str, Any], runs: list[list[Any]]
) -> dict[str, Any]:
    """W&B's decision on one sweep, or the error it raised."""
    sweep_runs = [
        SweepRun(name=name, state=RunState(state), history=expand(rows, metric["name"]))
        for name, state, rows in runs
    ]
    try:
        stopped = sweeps.stop_runs(config_of(early_terminate, metric), sweep_runs)
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    info = next((r.early_terminate_info for r in sweep_runs if r.early_terminate_info), None)
    out: dict[str, Any] = {"stop": [r.name for r in stopped]}
    if info is None:  # no running run: W&B attaches its bands to none
        return out
    bands = [plain(b) for b in info["bands"]]
    limits = [plain(t) for t in info["thresholds"]]
    while limits and math.isinf(limits[-1]):
        limits.pop()
    out["bands"] = band_record(bands)
    out["thresholds"] = limits
    judged = {}
    # `info.copy()` is shallow, so every run's info holds the lines of all running runs.
    for line in info["lines"][1:]:
        match = LINE.match(line)
        assert match, line
        if match["band"] is not None:
            judged[match["name"]] = [
                int(match["band"]),
                number(match["value"]),
                number(match["threshold"]),
            ]
    out["judged"] = judged
    return out


def number(text: str) -> float | int:
    return int(text) if re.fullmatch(r"-?\d+", text) else float(text)


def band_record(bands: list[int]) -> dict[str, Any]:
    text = json.dumps(bands)
    return {
        "head": bands[:BAND_HEAD],
        "count": len(bands),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


# --- bands ---------------------------------------------------------------------------------


def band_cases() -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3},
        {"type": "hyperband", "max_iter": 5, "s": 2, "eta": 2},
        {"type": "hyperband", "max_iter": 19, "s": 2, "eta": 3},
        {"type": "hyperband", "max_iter": 27, "s": 2},
        {"type": "hyperband", "min_iter": 3, "eta": 3},
        {"type": "hyperband", "min_iter": 3},
        {"type": "hyperband", "min_iter": 1, "eta": 1.1},
        {"type": "hyperband", "min_iter": 2, "eta": 1.5},
        {"type": "hyperband", "min_iter": 1, "eta": 2.0},
        {"type": "hyperband", "min_iter": 1, "eta": 1.0001},
        {"type": "hyperband", "min_iter": 7, "eta": 1000},
        {"type": "hyperband", "min_iter": 1, "eta": 1000.0},
        {"type": "hyperband", "max_iter": 100, "s": 10, "eta": 1.5},
        {"type": "hyperband", "max_iter": 81, "s": 4, "eta": 3},
        {"type": "hyperband", "max_iter": 81, "s": 5, "eta": 3},
        {"type": "hyperband", "max_iter": 3, "s": 1, "eta": 3},
        {"type": "hyperband", "max_iter": 10, "s": 3, "eta": 3.3},
        {"type": "hyperband", "max_iter": 1000, "s": 100, "eta": 1.01},
        {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3, "min_iter": 5},
        {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3, "strict": False},
        # Schema-valid blocks W&B's controller fails on.
        {"type": "hyperband", "max_iter": 2, "s": 2, "eta": 3},
        {"type": "hyperband", "max_iter": 27, "s": 0, "eta": 3},
        {"type": "hyperband", "max_iter": 27, "s": -1, "eta": 3},
        {"type": "hyperband", "max_iter": 27, "s": 2.0, "eta": 3},
        {"type": "hyperband", "max_iter": 27, "s": 1.5, "eta": 3},
        {"type": "hyperband", "max_iter": 0, "s": 2, "eta": 3},
        {"type": "hyperband", "max_iter": 27, "min_iter": 3},
        {"type": "hyperband", "min_iter": 1, "eta": 2000.0},
        {"type": "hyperband", "min_iter": 3, "eta": 1e10},
    ]
    rng = random.Random(6)
    for _ in range(60):
        eta = rng.choice([2, 3, 4, 5, 10, 1.5, 2.5, 3.0, 1.1, 1.3, 2.2, 2.7, 1.05, 7.5])
        if rng.random() < 0.6:
            blocks.append(
                {
                    "type": "hyperband",
                    "max_iter": rng.randint(1, 300),
                    "s": rng.randint(0, 8),
                    "eta": eta,
                }
            )
        else:
            blocks.append({"type": "hyperband", "min_iter": rng.randint(1, 12), "eta": eta})
    out = []
    for block in blocks:
        # One running run with one value: W&B then reports its bands in the run's info.
        result = run_wandb(block, {"name": "loss"}, [["r0", "running", [1.0]]])
        entry: dict[str, Any] = {"early_terminate": block}
        if "error" in result:
            entry["error"] = result["error"]
            entry["message"] = result["message"]
        else:
            entry["bands"] = result["bands"]
        out.append(entry)
    return out


# --- stop decisions ------------------------------------------------------------------------

JUNK = [float("nan"), float("inf"), float("-inf"), None, "0.5", True, False, {"acc": 0.1}]


def value(rng: random.Random, mode: str) -> Any:
    if mode == "ties":
        return rng.randint(0, 4)
    if mode == "halves":
        return rng.randint(-4, 4) / 2
    return round(rng.uniform(-1, 3), 2)


def random_case(rng: random.Random, index: int) -> dict[str, Any]:
    eta = rng.choice([2, 3, 3, 4, 3.0, 1.5, 2.5, 1.1, 1.3, 2.2, 2.7, None])
    if rng.random() < 0.5:
        block: dict[str, Any] = {
            "type": "hyperband",
            "max_iter": rng.randint(2, 40),
            "s": rng.randint(1, 4),
        }
    else:
        block = {"type": "hyperband", "min_iter": rng.randint(1, 4)}
    if eta is not None:
        block["eta"] = eta
    strict = rng.choice([True, False, None])
    if strict is not None:
        block["strict"] = strict
    metric: dict[str, Any] = {"name": "loss"}
    goal = rng.choice(["minimize", "maximize", None])
    if goal is not None:
        metric["goal"] = goal
    mode = rng.choice(["ties", "halves", "floats"])
    junk = rng.choice([0.0, 0.0, 0.1, 0.25])
    longest = rng.choice([4, 8, 12, 20])
    runs = []
    for r in range(rng.randint(1, 12)):
        state = "running" if rng.random() < 0.45 else rng.choice(STATES)
        rows = []
        for _ in range(rng.randint(0, longest)):
            rows.append(rng.choice(JUNK) if rng.random() < junk else value(rng, mode))
        runs.append([f"r{r}", state, rows])
    return {"name": f"random_{index:03d}", "early_terminate": block, "metric": metric, "runs": runs}


def ranked_case(name: str, eta: float, n: int) -> dict[str, Any]:
    """n runs at band 1 with values 0..n-1; the running one holds ``int(n / eta)``.

    W&B's index ``int((1/eta) * n)`` differs from ``int(n / eta)`` for these (eta, n), so the
    threshold is the value just beside the judged run's: a plain division decides otherwise.
    """
    mine = int(n / eta)
    runs = [[f"f{v}", "finished", [v]] for v in range(n) if v != mine]
    runs.append(["judged", "running", [mine]])
    block = {"type": "hyperband", "min_iter": 1, "eta": eta}
    return {"name": name, "early_terminate": block, "metric": {"name": "loss"}, "runs": runs}


HB = {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}  # bands [3, 9]
LOSS = {"name": "loss", "goal": "minimize"}


def hand_cases() -> list[dict[str, Any]]:
    cases = [
        {
            "name": "wandb_docstring_example",
            "early_terminate": {"type": "hyperband", "max_iter": 5, "eta": 2, "s": 2},
            "metric": LOSS,
            "runs": [
                ["a", "finished", [10, 9]],
                ["b", "running", [10, 10]],
                ["c", "running", [10, 8, 8]],
                ["d", "running", [10, 7, 7]],
                ["e", "finished", [10, 6, 6]],
            ],
        },
        {
            "name": "first_run_alone_never_stopped",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [["only", "running", [9.0] * 12]],
        },
        {
            "name": "alone_in_its_band_kept_though_worst_at_band_3",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [
                ["long", "running", [5.0] * 10],
                ["a", "finished", [1.0, 1.0, 1.0]],
                ["b", "finished", [1.0, 1.0, 1.0, 1.0]],
            ],
        },
        {
            "name": "equal_to_threshold_survives",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [
                ["a", "finished", [3, 2, 1]],
                ["b", "finished", [3, 2, 1]],
                ["c", "running", [3, 2, 1]],
            ],
        },
        {
            "name": "just_above_threshold_stops",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [
                ["a", "finished", [3, 2, 1.0]],
                ["b", "finished", [3, 2, 1.0]],
                ["c", "running", [3, 2, 1.0000000000000002]],
            ],
        },
        {
            "name": "fewer_values_than_first_band_not_judged",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [
                ["a", "finished", [0, 0, 0]],
                ["b", "finished", [0, 0, 0]],
                ["c", "running", [9, 9]],
            ],
        },
        {
            "name": "rows_without_metric_do_not_advance",
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3},
            "metric": LOSS,
            "runs": [
                ["a", "finished", [0.1, 0.1]],
                ["b", "finished", [0.2, 0.2]],
                ["c", "running", [0.9, {"acc": 1}, {"acc": 2}, {"acc": 3}]],
            ],
        },
        {
            "name": "nonfinite_values_do_not_count",
            "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
            "metric": LOSS,
            "runs": [
                ["a", "finished", [0.5, 0.5]],
                ["b", "running", [float("nan"), 0.9, float("inf"), 0.9]],
                ["c", "running", [0.1, None, "0.1", True, 0.1]],
            ],
        },
        {
            "name": "strict_false_uses_best_value_so_far",
            "early_terminate": {**HB, "strict": False},
            "metric": LOSS,
            "runs": [
                ["a", "finished", [0.5, 0.5, 0.5]],
                ["b", "finished", [0.5, 0.5, 0.5]],
                ["c", "running", [0.1, 0.9, 0.9]],
            ],
        },
        {
            "name": "strict_true_same_runs_stops",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [
                ["a", "finished", [0.5, 0.5, 0.5]],
                ["b", "finished", [0.5, 0.5, 0.5]],
                ["c", "running", [0.1, 0.9, 0.9]],
            ],
        },
        {
            "name": "maximize_negates",
            "early_terminate": HB,
            "metric": {"name": "acc", "goal": "maximize"},
            "runs": [
                ["a", "finished", [0.5, 0.6, 0.7]],
                ["b", "failed", [0.5, 0.6, 0.8]],
                ["low", "running", [0.5, 0.6, 0.6]],
                ["high", "running", [0.5, 0.6, 0.9]],
            ],
        },
        {
            "name": "maximize_strict_false",
            "early_terminate": {**HB, "strict": False},
            "metric": {"name": "acc", "goal": "maximize"},
            "runs": [
                ["a", "finished", [0.5, 0.6, 0.7]],
                ["b", "finished", [0.5, 0.6, 0.8]],
                ["peaked", "running", [0.95, 0.6, 0.1]],
                ["flat", "running", [0.5, 0.6, 0.6]],
            ],
        },
        {
            "name": "largest_band_only",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [
                ["a", "finished", [0, 0, 0, 0, 0, 0, 0, 0, 9]],
                ["b", "finished", [0, 0, 0, 0, 0, 0, 0, 0, 9]],
                ["c", "running", [9, 9, 9, 9, 9, 9, 9, 9, 1]],
            ],
        },
        {
            "name": "every_state_counts_for_thresholds",
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
            "metric": LOSS,
            "runs": [[s, s, [0.1]] for s in STATES if s != "running"]
            + [["judged", "running", [0.2]]],
        },
        {
            "name": "only_running_runs_are_judged",
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
            "metric": LOSS,
            "runs": [[s, s, [9.0]] for s in STATES if s != "running"]
            + [["best", "running", [0.1]], ["worst", "running", [99.0]]],
        },
        {
            "name": "min_iter_float_eta_duplicate_bands",
            "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 1.1},
            "metric": LOSS,
            "runs": [
                ["a", "finished", [1, 2, 3, 4, 5]],
                ["b", "finished", [1, 1, 1, 1, 1]],
                ["c", "running", [1, 1, 2, 2]],
            ],
        },
        {
            "name": "no_running_runs",
            "early_terminate": HB,
            "metric": LOSS,
            "runs": [["a", "finished", [1, 2, 3]], ["b", "failed", [4, 5, 6]]],
        },
        {"name": "no_runs", "early_terminate": HB, "metric": LOSS, "runs": []},
        {
            "name": "no_band_wandb_raises",
            "early_terminate": {"type": "hyperband", "max_iter": 2, "s": 2, "eta": 3},
            "metric": LOSS,
            "runs": [["a", "running", [1, 2, 3]]],
        },
    ]
    cases += [
        ranked_case("index_eta_49_of_49", 49, 49),
        ranked_case("index_eta_1.1_of_33", 1.1, 33),
        ranked_case("index_eta_2.2_of_33", 2.2, 33),
        ranked_case("index_eta_1.3_of_39", 1.3, 39),
        ranked_case("index_eta_2.7_of_81", 2.7, 81),
    ]
    return cases


def main() -> None:
    rng = random.Random(20240601)
    cases = hand_cases() + [random_case(rng, i) for i in range(200)]
    for case in cases:
        case["wandb"] = run_wandb(case["early_terminate"], case["metric"], case["runs"])
    data = {
        "what": "W&B sweeps hyperband_stop_runs: bands, thresholds and stop decisions",
        "generated_by": "tests/stopping/make_fidelity.py",
        "source": "sweeps/hyperband_stopping.py (hyperband_stop_runs), via sweeps.stop_runs",
        "versions": versions(),
        "bands": band_cases(),
        "cases": cases,
    }
    OUT.parent.mkdir(exist_ok=True)
    # One entry a line: small enough to diff, and under 200 KB.
    parts = []
    for key, item in data.items():
        if isinstance(item, list):
            rows = ",\n".join("  " + json.dumps(x, separators=(",", ":")) for x in item)
            parts.append(f"{json.dumps(key)}: [\n{rows}\n]")
        else:
            parts.append(f"{json.dumps(key)}: {json.dumps(item)}")
    OUT.write_text("{\n" + ",\n".join(parts) + "\n}\n")
    stops = sum(len(c["wandb"].get("stop", [])) for c in cases)
    print(f"{OUT}: {len(cases)} cases, {stops} stops, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
