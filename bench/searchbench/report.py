"""From cached traces to numbers: regret, ranks, the issue's goals, tables and plots.

Definitions used throughout (and printed in RESULTS.md):

* regret after n runs = (best value among the first n suggested runs) - optimum; a run with
  no value does not improve it. The MLP problem has no known optimum: its regret is taken
  against the best value any engine reached anywhere in the same results (so the best engine
  there can reach 0 regret).
* median regret: over the seeds, per (mode, engine, problem, budget).
* rank: per (problem, budget), engines ranked by median regret (1 = lowest; ties share the
  mean of their ranks); mean rank = mean over the problems.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from problems import PROBLEMS

from searchbench.engines import ENGINES

Key = tuple[str, str, str, int]  # (mode, engine, problem, seed)
SUBJECT = "sweepctl-bayes"
GP_PEER = "optuna-gp"
RANDOM_ENGINES = ("sweepctl-random", "random")  # not peers: the baselines
WANDB_PEER = "wandb-bayes"


def optima(traces: dict[Key, dict[str, Any]]) -> dict[str, float]:
    """The optimum regret is measured against, per problem (the best seen where unknown)."""
    out = {}
    for name, problem in PROBLEMS.items():
        if problem.optimum is not None:
            out[name] = problem.optimum
            continue
        seen = [
            v
            for (_, _, p, _), t in traces.items()
            if p == name
            for v in t["values"]
            if v is not None
        ]
        if seen:
            out[name] = min(seen)
    return out


def regret_curve(values: Sequence[float | None], optimum: float) -> list[float]:
    """Best-so-far minus optimum after each run (inf until a run has a value)."""
    best, out = math.inf, []
    for v in values:
        if v is not None and math.isfinite(v):
            best = min(best, v)
        out.append(max(best - optimum, 0.0))  # rounding at the optimum can go a hair below
    return out


def curves(
    traces: dict[Key, dict[str, Any]], budget: int
) -> dict[tuple[str, str, str], list[list[float]]]:
    """Regret curves per (mode, engine, problem): one list per seed, ``budget`` long."""
    best = optima(traces)
    out: dict[tuple[str, str, str], list[list[float]]] = {}
    for (mode, engine, problem, _seed), trace in sorted(traces.items()):
        curve = regret_curve(trace["values"][:budget], best[problem])
        out.setdefault((mode, engine, problem), []).append(curve)
    return out


def median_regret(runs: list[list[float]], n: int) -> float:
    """Median over the seeds of the regret after ``n`` runs."""
    return statistics.median(c[n - 1] for c in runs)


def ranks(row: dict[str, float]) -> dict[str, float]:
    """Rank of each engine's value (1 = lowest); ties share the mean rank."""
    ordered = sorted(row, key=lambda e: row[e])
    out: dict[str, float] = {}
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and row[ordered[j + 1]] == row[ordered[i]]:
            j += 1
        for e in ordered[i : j + 1]:
            out[e] = (i + j) / 2 + 1
        i = j + 1
    return out


def table_data(
    all_curves: dict[tuple[str, str, str], list[list[float]]],
    mode: str,
    engines: Sequence[str],
    problems: Sequence[str],
    n: int,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Median regret after ``n`` runs per problem and engine, and each engine's mean rank."""
    medians = {
        p: {e: median_regret(all_curves[(mode, e, p)], n) for e in engines} for p in problems
    }
    per_problem = [ranks(medians[p]) for p in problems]
    mean_rank = {e: statistics.mean(r[e] for r in per_problem) for e in engines}
    return medians, mean_rank


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    return f"{x:.3g}" if math.isfinite(x) else "inf"


def regret_table(
    medians: dict[str, dict[str, float]], mean_rank: dict[str, float], engines: Sequence[str]
) -> list[str]:
    """Markdown rows: problems × engines, the lowest median in bold, then the mean rank."""
    lines = ["| problem | " + " | ".join(engines) + " |", "|---" * (len(engines) + 1) + "|"]
    for problem, row in medians.items():
        low = min(row.values())
        cells = [f"**{_fmt(row[e])}**" if row[e] == low else _fmt(row[e]) for e in engines]
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    best = min(mean_rank.values())
    cells = [
        f"**{mean_rank[e]:.2f}**" if mean_rank[e] == best else f"{mean_rank[e]:.2f}"
        for e in engines
    ]
    lines.append("| *mean rank* | " + " | ".join(cells) + " |")
    return lines


def goals(
    all_curves: dict[tuple[str, str, str], list[list[float]]],
    mode: str,
    engines: Sequence[str],
    problems: Sequence[str],
    budgets: Sequence[int],
) -> list[str]:
    """The issue's three goals for sweepctl bayes, met or missed and by how much."""
    if SUBJECT not in engines:
        return [f"- {SUBJECT} did not run: no goals to judge."]
    lines = []
    for n in budgets:
        _, mean_rank = table_data(all_curves, mode, engines, problems, n)
        order = sorted(engines, key=lambda e: mean_rank[e])
        ours, best = mean_rank[SUBJECT], mean_rank[order[0]]
        if ours > best:
            verdict = f"missed by {ours - best:.2f}"
        elif sum(mean_rank[e] == best for e in engines) > 1:
            verdict = "met (shared)"
        else:
            verdict = "met"
        others = ", ".join(f"{e} {mean_rank[e]:.2f}" for e in order if e != SUBJECT)
        lines.append(
            f"- Mean rank first at {n} runs: **{verdict}** ({SUBJECT} {ours:.2f}; {others})."
        )
    last = max(budgets)
    medians, _ = table_data(all_curves, mode, engines, problems, last)
    if GP_PEER in engines:
        ratios = {p: _ratio(medians[p][SUBJECT], medians[p][GP_PEER]) for p in problems}
        worst = max(ratios, key=lambda p: ratios[p])
        verdict, detail = _within_two(ratios, {})
        lines.append(
            f"- Median regret at {last} runs within 2× of {GP_PEER} on every problem: "
            f"**{verdict}** (ratio {SUBJECT} / {GP_PEER}: {detail}; worst {worst})."
        )
    peers = [e for e in engines if e not in (SUBJECT, *RANDOM_ENGINES)]
    if peers:
        best = {p: min(peers, key=lambda e: medians[p][e]) for p in problems}
        ratios = {p: _ratio(medians[p][SUBJECT], medians[p][best[p]]) for p in problems}
        verdict, detail = _within_two(ratios, best)
        lines.append(
            f"- Median regret at {last} runs within 2× of the best peer on every problem: "
            f"**{verdict}** (ratio {SUBJECT} / best of {', '.join(peers)}: {detail})."
        )
    if WANDB_PEER in engines:
        for n in budgets:
            medians, _ = table_data(all_curves, mode, engines, problems, n)
            wins = [p for p in problems if medians[p][SUBJECT] < medians[p][WANDB_PEER]]
            losses = [p for p in problems if p not in wins]
            need = max(len(problems) - 1, 0)
            verdict = "met" if len(wins) >= need else "missed"
            mark = f"**{verdict}**" if n == last else verdict
            lines.append(
                f"- Better than {WANDB_PEER} (lower median regret) at {n} runs on at least "
                f"{need} of {len(problems)} problems: {mark} ({len(wins)} of {len(problems)}"
                + (f"; not better on {', '.join(losses)}" if losses else "")
                + ")."
            )
    return lines


def _within_two(ratios: dict[str, float], against: dict[str, str]) -> tuple[str, str]:
    """The verdict on "within 2× on every problem" and the ratios, each problem's peer named
    in brackets where ``against`` has one."""
    bad = [p for p, r in ratios.items() if r > 2]
    verdict = "met" if not bad else f"missed on {', '.join(bad)}"
    detail = ", ".join(
        f"{p} {_fmt_ratio(r)}" + (f" ({against[p]})" if p in against else "")
        for p, r in ratios.items()
    )
    return verdict, detail


def _ratio(ours: float, peer: float) -> float:
    if ours == peer:
        return 1.0
    if peer == 0:
        return math.inf
    return ours / peer


def _fmt_ratio(x: float) -> str:
    if not math.isfinite(x):
        return "∞ (peer at 0)"
    return f"{x:.2f}×" if x < 1000 else f"{x:.1e}×"  # a peer at the optimum to rounding


def plot(
    all_curves: dict[tuple[str, str, str], list[list[float]]],
    mode: str,
    engines: Sequence[str],
    problems: Sequence[str],
    path: Path,
    title: str,
) -> None:
    """Median regret (line) and interquartile range (band) per engine, one panel a problem."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cols = 4
    rows = math.ceil(len(problems) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    floor = 1e-6  # log axis: regret 0 (the optimum to rounding) is drawn at the floor
    for ax, problem in zip(axes.flat, problems, strict=False):
        for engine in engines:
            runs = np.maximum(np.array(all_curves[(mode, engine, problem)]), floor)
            x = np.arange(1, runs.shape[1] + 1)
            q25, q50, q75 = np.percentile(runs, [25, 50, 75], axis=0)
            lw = 2.4 if engine == SUBJECT else 1.4
            # the same colour for an engine in every panel and figure, whichever engines ran
            color = f"C{ENGINES.index(engine) % 10}"
            ax.plot(x, q50, label=engine, linewidth=lw, color=color)
            ax.fill_between(x, q25, q75, color=color, alpha=0.12)
        ax.set_yscale("log")
        ax.set_title(problem, fontsize=10)
        ax.set_xlabel("runs")
        ax.grid(alpha=0.3, which="both", linewidth=0.4)
    axes.flat[0].set_ylabel("regret (median, IQR band)")
    spare = list(axes.flat)[len(problems) :]
    for ax in spare:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if spare:  # the legend fills the first empty panel
        spare[0].legend(handles, labels, loc="center", fontsize=10, frameon=False)
    else:
        fig.legend(handles, labels, loc="lower right", fontsize=9, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parallel_ratio(
    all_curves: dict[tuple[str, str, str], list[list[float]]], engine: str, problem: str, at: int
) -> float:
    """An engine's median regret at ``at`` runs with 4 workers over one at a time."""
    return _ratio(
        median_regret(all_curves[("parallel", engine, problem)], at),
        median_regret(all_curves[("sequential", engine, problem)], at),
    )


def parallel_goals(
    traces: dict[Key, dict[str, Any]],
    all_curves: dict[tuple[str, str, str], list[list[float]]],
    problems: Sequence[str],
    at: int = 40,
) -> list[str]:
    """The issue's parallel goals: regret at ``at`` runs with 4 workers within 1.5× of one at a
    time, and no duplicate config in any parallel sweep."""
    lines = []
    pairs = {
        p: (all_curves.get(("parallel", SUBJECT, p)), all_curves.get(("sequential", SUBJECT, p)))
        for p in problems
    }
    if all(par and seq and len(par[0]) >= at for par, seq in pairs.values()):
        ratios = {p: parallel_ratio(all_curves, SUBJECT, p, at) for p in problems}
        bad = [p for p in problems if ratios[p] > 1.5]
        verdict = "met" if not bad else f"missed on {', '.join(bad)}"
        detail = ", ".join(f"{p} {_fmt_ratio(ratios[p])}" for p in problems)
        lines.append(
            f"- Median regret at {at} runs with 4 workers within 1.5× of sequential: "
            f"**{verdict}** (parallel / sequential: {detail})."
        )
    duplicates, sweeps = 0, 0
    for (mode, engine, _problem, _seed), trace in traces.items():
        if mode != "parallel" or engine != SUBJECT:
            continue
        sweeps += 1
        keys = [json.dumps(c, sort_keys=True) for c in trace.get("configs", [])]
        duplicates += len(keys) - len(set(keys))
    if sweeps:
        verdict = "met" if duplicates == 0 else "missed"
        lines.append(
            f"- Zero duplicate configs with 4 workers: **{verdict}** ({duplicates} repeated "
            f"configs in {sweeps} parallel sweeps)."
        )
    return lines


def _in_both_modes(
    all_curves: dict[tuple[str, str, str], list[list[float]]],
    engines: Sequence[str],
    problems: Sequence[str],
    at: int,
) -> list[str]:
    """The engines with sweeps of at least ``at`` runs in both modes on every problem."""
    return [
        e
        for e in engines
        if all(
            all_curves.get((m, e, p)) and len(all_curves[(m, e, p)][0]) >= at
            for m in ("parallel", "sequential")
            for p in problems
        )
    ]


def parallel_cost_table(
    all_curves: dict[tuple[str, str, str], list[list[float]]],
    engines: Sequence[str],
    problems: Sequence[str],
    at: int = 40,
    workers: int = 4,
) -> list[str]:
    """Every engine's parallel / sequential median regret at ``at`` runs, beside what the
    information lag alone costs one run at a time.

    With ``workers`` at once, the last claims of the first ``at`` are made while the
    ``workers - 1`` claims before each are still running: the ``at``-th knows ``at - workers``
    results, as a sequential sweep's run ``at - workers + 1`` does. The lag column is
    sweepctl's sequential median regret at that run over its own at ``at``: the ratio that an
    engine which lost nothing else to parallelism would still show (roughly: sweepctl's
    workers, and most peers', are asynchronous, and the runs do not end in a fixed order).
    """
    present = _in_both_modes(all_curves, engines, problems, at)
    if not present:
        return []
    lag_at = at - workers + 1
    lines = [
        f"Median regret at {at} runs, {workers} workers / one at a time, every engine; "
        f"*lag*: {SUBJECT}'s sequential regret at run {lag_at} / at run {at} (with {workers} "
        f"workers the {at}th claim knows {at - workers} results, as run {lag_at} of a "
        "sequential sweep does):",
        "",
        "| problem | " + " | ".join(present) + " | *lag* |",
        "|---" * (len(present) + 2) + "|",
    ]
    for p in problems:
        cells = [_fmt_ratio(parallel_ratio(all_curves, e, p, at)) for e in present]
        seq = all_curves.get(("sequential", SUBJECT, p))
        lag = _fmt_ratio(_ratio(median_regret(seq, lag_at), median_regret(seq, at))) if seq else "-"
        lines.append(f"| {p} | " + " | ".join(cells) + f" | {lag} |")
    return lines


def runs_to_match(
    all_curves: dict[tuple[str, str, str], list[list[float]]], engine: str, problem: str, at: int
) -> int | None:
    """The fewest runs after which an engine's median regret with 4 workers is no higher than
    its own median regret one at a time after ``at`` runs; None if its parallel sweeps never
    get there."""
    target = median_regret(all_curves[("sequential", engine, problem)], at)
    parallel = all_curves[("parallel", engine, problem)]
    for n in range(1, len(parallel[0]) + 1):
        if median_regret(parallel, n) <= target:
            return n
    return None


def runs_to_match_table(
    all_curves: dict[tuple[str, str, str], list[list[float]]],
    engines: Sequence[str],
    problems: Sequence[str],
    at: int = 40,
    workers: int = 4,
) -> list[str]:
    """Per engine, the runs ``workers`` at once need to reach the median regret that one at a
    time has after ``at``: the cost of parallelism in runs rather than in regret (a regret
    ratio is large wherever the curve is steep, however few runs the gap is worth)."""
    present = _in_both_modes(all_curves, engines, problems, at)
    if not present:
        return []
    budget = min(len(all_curves[("parallel", e, p)][0]) for e in present for p in problems)
    lines = [
        f"Runs that {workers} workers need to reach the median regret one at a time has after "
        f"{at} runs, every engine (> {budget}: not within the {budget} runs of a sweep):",
        "",
        "| problem | " + " | ".join(present) + " |",
        "|---" * (len(present) + 1) + "|",
    ]
    for p in problems:
        reached = [runs_to_match(all_curves, e, p, at) for e in present]
        cells = [f"> {budget}" if n is None else str(n) for n in reached]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return lines
