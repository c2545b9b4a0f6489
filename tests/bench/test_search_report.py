"""bench/searchbench/report.py: the numbers RESULTS.md is made of, on small hand-made traces.

The benchmark's verdicts (mean rank first, within 2x of Optuna's GP, better than W&B, the
parallel ratio and duplicates) come from these functions; each test builds traces whose
answer is known and checks the verdict, including the ones that must say "missed".
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from searchbench import report  # noqa: E402

SUBJECT, GP, WANDB = report.SUBJECT, report.GP_PEER, report.WANDB_PEER
TPE = "optuna-tpe"
BRANIN_MIN = 0.397887


def test_regret_curve_is_best_so_far_minus_optimum():
    # no value yet: inf; None and non-finite values never improve it; below the optimum: 0
    curve = report.regret_curve([None, 5.0, math.nan, 7.0, 2.0, math.inf, 0.999999], 1.0)
    assert curve[0] == math.inf
    assert curve[1:] == [4.0, 4.0, 4.0, 1.0, 1.0, 0.0]


def test_ranks_share_the_mean_rank_on_ties():
    assert report.ranks({"a": 3.0, "b": 1.0, "c": 3.0, "d": 0.5}) == {
        "d": 1.0,
        "b": 2.0,
        "a": 3.5,
        "c": 3.5,
    }


def test_optima_are_known_minima_or_the_best_value_seen():
    traces = {
        ("sequential", "random", "mlp_digits", 0): {"values": [0.4, None, 0.3]},
        ("parallel", "optuna-gp", "mlp_digits", 1): {"values": [0.25, 0.5]},
        ("sequential", "random", "branin", 0): {"values": [0.1]},  # known minimum kept
    }
    best = report.optima(traces)
    assert best["mlp_digits"] == 0.25
    assert best["branin"] == pytest.approx(BRANIN_MIN)


def _curves(rows: dict[tuple[str, str, str], list[list[float]]]):
    """Curves as report.curves makes them, from (mode, engine, problem) -> seeds' values."""
    traces = {
        (mode, engine, problem, seed): {"values": values}
        for (mode, engine, problem), seeds in rows.items()
        for seed, values in enumerate(seeds)
    }
    return report.curves(traces, max(len(v) for s in rows.values() for v in s))


def test_median_and_mean_rank_per_budget():
    b = BRANIN_MIN
    rows = {
        # 3 seeds x 4 runs; after 2 runs SUBJECT leads on branin, after 4 the peer does
        ("sequential", SUBJECT, "branin"): [[b + r for r in (5, 1, 1, 1)]] * 3,
        ("sequential", GP, "branin"): [[b + r for r in (9, 2, 2, 0.5)]] * 3,
        ("sequential", SUBJECT, "levy"): [[9, 1, 1, 1], [9, 3, 3, 3], [9, 8, 8, 8]],
        ("sequential", GP, "levy"): [[9, 2, 2, 2]] * 3,
    }
    curves = _curves(rows)
    medians, mean_rank = report.table_data(
        curves, "sequential", [SUBJECT, GP], ["branin", "levy"], 2
    )
    assert medians["levy"] == {SUBJECT: 3.0, GP: 2.0}  # the median seed, not the mean
    assert medians["branin"][SUBJECT] == pytest.approx(1.0)
    assert mean_rank == {SUBJECT: 1.5, GP: 1.5}
    _, mean_rank = report.table_data(curves, "sequential", [SUBJECT, GP], ["branin", "levy"], 4)
    assert mean_rank == {SUBJECT: 2.0, GP: 1.0}


def _problem_rows(mode: str, regrets: dict[str, dict[str, list[float]]]):
    """One seed per (engine, problem); the regret values are offsets above the optimum."""
    optimum = {"branin": BRANIN_MIN, "levy": 0.0, "ackley": 0.0}
    return {
        (mode, engine, problem): [[optimum[problem] + r for r in values]]
        for engine, per_problem in regrets.items()
        for problem, values in per_problem.items()
    }


def test_goals_say_met_missed_and_by_how_much():
    problems = ["branin", "levy", "ackley"]
    regrets = {
        # after 1 run: first everywhere; after 2 runs: 3x the GP's regret on ackley (>2x),
        # worse than W&B on levy and ackley
        SUBJECT: {"branin": [1.0, 0.1], "levy": [1.0, 0.5], "ackley": [1.0, 0.3]},
        GP: {"branin": [2.0, 0.2], "levy": [2.0, 0.4], "ackley": [2.0, 0.1]},
        WANDB: {"branin": [3.0, 0.3], "levy": [3.0, 0.2], "ackley": [3.0, 0.2]},
    }
    curves = _curves(_problem_rows("sequential", regrets))
    lines = report.goals(curves, "sequential", [SUBJECT, GP, WANDB], problems, [1, 2])
    text = "\n".join(lines)
    assert f"Mean rank first at 1 runs: **met** ({SUBJECT} 1.00;" in text
    # after 2 runs: SUBJECT ranks 1, 3, 3 -> 2.33; GP 2, 2, 1 -> 1.67
    assert f"Mean rank first at 2 runs: **missed by 0.67** ({SUBJECT} 2.33;" in text
    assert "within 2× of optuna-gp on every problem: **missed on ackley**" in text
    assert "ackley 3.00×; worst ackley" in text
    assert "at 1 runs on at least 2 of 3 problems: met (3 of 3)" in text
    assert (
        "at 2 runs on at least 2 of 3 problems: **missed** (1 of 3; not better on levy, ackley)"
        in text
    )


def _goal_text(regrets: dict[str, dict[str, list[float]]]) -> str:
    engines = list(regrets)
    problems = list(regrets[SUBJECT])
    curves = _curves(_problem_rows("sequential", regrets))
    return "\n".join(report.goals(curves, "sequential", engines, problems, [1]))


def test_goals_at_the_optimum_and_shared_first_place():
    text = _goal_text(
        {
            SUBJECT: {"branin": [0.5], "levy": [0.0]},
            GP: {"branin": [0.4], "levy": [0.0]},
            WANDB: {"branin": [0.6], "levy": [0.0]},
        }
    )
    # ranks: branin 2 / 1 / 3, levy shared by all three (2 each): 2.0 against the GP's 1.5
    assert "**missed by 0.50**" in text
    assert "levy 1.00×" in text  # both at the optimum: even, not a division by zero
    text = _goal_text(
        {SUBJECT: {"branin": [0.5], "levy": [0.1]}, GP: {"branin": [0.5], "levy": [0.0]}}
    )
    assert "levy ∞ (peer at 0)" in text
    text = _goal_text(
        {SUBJECT: {"branin": [0.5], "levy": [0.1]}, GP: {"branin": [0.5], "levy": [0.1]}}
    )
    assert "Mean rank first at 1 runs: **met (shared)**" in text


def test_goals_without_the_subject_say_so():
    curves = _curves(_problem_rows("sequential", {GP: {"branin": [1.0]}}))
    assert report.goals(curves, "sequential", [GP], ["branin"], [1]) == [
        f"- {SUBJECT} did not run: no goals to judge."
    ]


def _series(regret_at: dict[int, float], budget: int) -> list[float]:
    """Values whose best-so-far regret steps down at the given runs (1-based)."""
    out, current = [], 10.0
    for n in range(1, budget + 1):
        current = regret_at.get(n, current)
        out.append(current)
    return out


def test_parallel_goals_ratio_at_40_runs_and_duplicates():
    problems = ["levy", "ackley"]
    rows = {
        ("sequential", SUBJECT, "levy"): [_series({1: 4.0, 37: 2.0, 40: 1.0}, 40)],
        ("parallel", SUBJECT, "levy"): [_series({1: 4.0, 40: 1.4}, 40)],  # 1.4x: within
        ("sequential", SUBJECT, "ackley"): [_series({1: 4.0, 40: 1.0}, 40)],
        ("parallel", SUBJECT, "ackley"): [_series({1: 4.0, 40: 1.6}, 40)],  # 1.6x: missed
    }
    curves = _curves(rows)
    traces = {
        ("parallel", SUBJECT, "levy", 0): {"configs": [{"x": 1}, {"x": 2}, {"x": 1}]},
        ("parallel", SUBJECT, "ackley", 0): {"configs": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]},
        ("sequential", SUBJECT, "ackley", 0): {"configs": [{"x": 1}, {"x": 1}]},  # not counted
        ("parallel", GP, "ackley", 0): {"configs": [{"x": 1}, {"x": 1}]},  # not counted
    }
    text = "\n".join(report.parallel_goals(traces, curves, problems))
    assert "within 1.5× of sequential: **missed on ackley** (parallel / sequential: " in text
    assert "levy 1.40×, ackley 1.60×" in text
    # key order does not make a config new
    assert (
        "Zero duplicate configs with 4 workers: **missed** (2 repeated configs in 2 parallel"
        in text
    )
    clean = {k: {"configs": [{"x": i} for i in range(3)]} for k in traces if k[0] == "parallel"}
    assert "**met** (0 repeated configs in 2 parallel sweeps)" in "\n".join(
        report.parallel_goals(clean, curves, problems)
    )


def test_parallel_goals_skip_the_ratio_when_sweeps_are_shorter():
    rows = {
        ("sequential", SUBJECT, "levy"): [_series({1: 4.0}, 20)],
        ("parallel", SUBJECT, "levy"): [_series({1: 4.0}, 20)],
    }
    assert report.parallel_goals({}, _curves(rows), ["levy"]) == []


def test_parallel_cost_table_gives_every_complete_engine_and_the_lag():
    rows = {
        ("sequential", SUBJECT, "levy"): [_series({1: 4.0, 37: 3.0, 40: 1.0}, 40)],
        ("parallel", SUBJECT, "levy"): [_series({1: 4.0, 40: 2.0}, 40)],
        ("sequential", GP, "levy"): [_series({1: 4.0, 40: 0.5}, 40)],
        ("parallel", GP, "levy"): [_series({1: 4.0, 40: 0.0}, 40)],
        ("sequential", WANDB, "levy"): [_series({1: 4.0}, 40)],  # no parallel sweeps: left out
    }
    lines = report.parallel_cost_table(_curves(rows), [SUBJECT, GP, WANDB], ["levy"])
    assert lines[2] == f"| problem | {SUBJECT} | {GP} | *lag* |"
    # ours 2.0 / 1.0; the GP's 0 / 0.5; lag: sequential at run 37 (3.0) / at run 40 (1.0)
    assert lines[4] == "| levy | 2.00× | 0.00× | 3.00× |"
    assert report.parallel_cost_table(_curves(rows), [WANDB], ["levy"]) == []


def test_regret_table_marks_the_lowest(tmp_path):
    medians = {"branin": {SUBJECT: 0.5, GP: 0.25}, "levy": {SUBJECT: 0.0, GP: math.inf}}
    lines = report.regret_table(medians, {SUBJECT: 1.5, GP: 1.5}, [SUBJECT, GP])
    assert lines[2] == "| branin | 0.5 | **0.25** |"
    assert lines[3] == "| levy | **0** | inf |"
    assert lines[4] == "| *mean rank* | **1.50** | **1.50** |"


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    rows = {
        ("sequential", engine, problem): [_series({1: 4.0, 5: 0.5}, 8), _series({2: 1.0}, 8)]
        for engine in (SUBJECT, GP)
        for problem in ("levy", "ackley")
    }
    path = tmp_path / "plots" / "regret.png"
    report.plot(_curves(rows), "sequential", [SUBJECT, GP], ["levy", "ackley"], path, "Regret")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_to_match_is_where_the_parallel_median_reaches_the_sequential_one():
    rows = {
        # one at a time: 1.0 after 40 runs; 4 workers: 2.0 until run 44, then 0.5
        ("sequential", SUBJECT, "levy"): [_series({1: 4.0, 40: 1.0}, 50)],
        ("parallel", SUBJECT, "levy"): [_series({1: 4.0, 30: 2.0, 44: 0.5}, 50)],
        # never gets there within 50 runs
        ("sequential", GP, "levy"): [_series({1: 4.0, 40: 0.1}, 50)],
        ("parallel", GP, "levy"): [_series({1: 4.0, 40: 0.2}, 50)],
        # equal counts as reached: at run 40 itself (one at a time improves again at run 41,
        # which is not the target)
        ("sequential", WANDB, "levy"): [_series({1: 4.0, 40: 3.0, 41: 0.1}, 50)],
        ("parallel", WANDB, "levy"): [_series({1: 4.0, 40: 3.0}, 50)],
        # reached at the very last run
        ("sequential", TPE, "levy"): [_series({1: 4.0, 40: 1.0}, 50)],
        ("parallel", TPE, "levy"): [_series({1: 4.0, 50: 1.0}, 50)],
    }
    curves = _curves(rows)
    assert report.runs_to_match(curves, SUBJECT, "levy", 40) == 44
    assert report.runs_to_match(curves, GP, "levy", 40) is None
    assert report.runs_to_match(curves, WANDB, "levy", 40) == 40
    assert report.runs_to_match(curves, TPE, "levy", 40) == 50
    lines = report.runs_to_match_table(curves, [SUBJECT, GP, WANDB, TPE], ["levy"])
    assert lines[0].startswith("Runs that 4 workers need") and "(> 50: not within" in lines[0]
    assert lines[2] == f"| problem | {SUBJECT} | {GP} | {WANDB} | {TPE} |"
    assert lines[4] == "| levy | 44 | > 50 | 40 | 50 |"


def test_runs_to_match_table_leaves_out_engines_without_both_modes():
    rows = {
        ("sequential", SUBJECT, "levy"): [_series({1: 4.0}, 50)],
        ("sequential", GP, "levy"): [_series({1: 4.0}, 50)],
        ("parallel", GP, "levy"): [_series({1: 4.0}, 50)],
    }
    lines = report.runs_to_match_table(_curves(rows), [SUBJECT, GP], ["levy"])
    assert lines[2] == f"| problem | {GP} |"
    assert report.runs_to_match_table(_curves(rows), [SUBJECT], ["levy"]) == []


def test_goals_compare_with_the_best_peer_on_each_problem_not_random():
    problems = ["branin", "levy"]
    regrets = {
        # at 2 runs: the GP is best on branin (ours 3x it), HEBO on levy (ours 1.5x it);
        # random is lower than everyone on levy but is a baseline, not a peer
        SUBJECT: {"branin": [1.0, 0.3], "levy": [1.0, 0.3]},
        GP: {"branin": [2.0, 0.1], "levy": [2.0, 0.5]},
        "hebo": {"branin": [2.0, 0.2], "levy": [2.0, 0.2]},
        "random": {"branin": [2.0, 0.9], "levy": [2.0, 0.01]},
    }
    curves = _curves(_problem_rows("sequential", regrets))
    text = "\n".join(report.goals(curves, "sequential", list(regrets), problems, [2]))
    assert "within 2× of the best peer on every problem: **missed on branin**" in text
    assert "best of optuna-gp, hebo: branin 3.00× (optuna-gp), levy 1.50× (hebo)" in text


def test_latency_times_each_engine_its_own_way_and_refuses_one_it_cannot(tmp_path):
    from searchbench import latency

    runs = latency.history("branin", 5)
    assert len(runs) == 5 and all(math.isfinite(value) for _, value in runs)
    # Random is timed as itself; an engine without a check is an error, not random's time
    # (HEBO and Ax fell through to random's branch and were reported as 0.0000 s).
    assert latency.time_once("random", "branin", runs, tmp_path) >= 0.0
    with pytest.raises(ValueError, match="no latency check"):
        latency.time_once("nonesuch", "branin", runs, tmp_path)
