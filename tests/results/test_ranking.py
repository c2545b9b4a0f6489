"""One definition of "best" (sweepctl/ranking.py), and every view using it: `best`, `runs
--top`, `export-best`, reports' figures, and the agent's "best so far" over the whole sweep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweepctl import ranking
from sweepctl.records import Run
from sweepctl.results.report.data import collect
from sweepctl.results.report.figures import parallel_coordinates
from sweepctl.spec.model import Metric
from sweepctl.store import open_store

HYPERBAND = {
    "name": "hb",
    "method": "random",
    "program": "train.py",
    "metric": {"name": "loss", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 2},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}
# (x, loss values logged, final state): a hyperband sweep of 8 runs as a new user saw it.
# The killed run logged the lowest loss before Ctrl-C: a partial value, never the best.
RUNS: list[tuple[float, list[float], str]] = [
    (0.1, [0.9, 0.5, 0.30], "finished"),
    (0.2, [0.8, 0.6, 0.40], "finished"),
    (0.3, [0.7, 0.45, 0.35], "finished"),
    (0.4, [0.95], "stopped"),
    (0.5, [0.25], "stopped"),  # stopped early, with a real (smaller-budget) value: it counts
    (0.6, [0.99], "stopped"),
    (0.7, [0.9, 0.05], "killed"),
    (0.8, [], "running"),
]


def fill(storage: str) -> tuple[str, list[str]]:
    store = open_store(storage, create=True)
    sweep = store.create_sweep(HYPERBAND, name="hb", project=None, entity=None, source=None)
    agent = store.register_agent(sweep.id, "test-host", 1)
    ids = []
    for x, values, state in RUNS:
        _, run = store.claim(sweep.id, agent, lambda _s, _r, c={"x": x}: ("run", c))
        ids.append(run.id)
        if values:
            rows = [{"loss": v, "_step": i} for i, v in enumerate(values)]
            store.record_metrics(run.id, 0, rows, rows[-1], min(values), values)
        if state != "running":
            reason = "early stop: hyperband" if state == "stopped" else None
            store.finish_run(
                run.id, state, exit_code=0 if state == "finished" else 1, reason=reason
            )
    return sweep.id, ids


@pytest.fixture
def sweep(tmp_path: Path) -> dict[str, Any]:
    storage = f"sqlite:///{tmp_path / 's.db'}"
    sweep_id, ids = fill(storage)
    return {"storage": storage, "id": sweep_id, "ids": ids, "tmp": tmp_path}


def cli(sweep: dict[str, Any], *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SWEEPCTL_STORAGE=sweep["storage"])
    return subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=sweep["tmp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run(number: int, state: str, metric: float | None) -> Run:
    return Run(
        id=f"r{number}",
        sweep_id="s",
        number=number,
        state=state,
        config={},
        agent_id=None,
        exit_code=None,
        created_at=0.0,
        started_at=None,
        ended_at=None,
        heartbeat_at=None,
        summary={},
        metric=metric,
        history=[],
        steps=0,
        reason=None,
        stop_requested=None,
    )


def test_the_rule_counts_finished_and_stopped_runs_with_a_finite_value() -> None:
    runs = [
        run(0, "finished", 0.5),
        run(1, "stopped", 0.2),
        run(2, "killed", 0.01),
        run(3, "failed", 0.02),
        run(4, "timeout", 0.03),
        run(5, "crashed", 0.04),
        run(6, "preempted", 0.05),
        run(7, "finished", float("nan")),
        run(8, "running", None),
        run(9, "finished", 0.2),
    ]
    found = ranking.rank(Metric("loss", "minimize"), runs)
    assert [r.id for r in found.ranked] == ["r1", "r9", "r0"]  # ties keep creation order
    assert found.best is not None and found.best.id == "r1"
    assert found.left_out_by_reason == {
        "failed": 1,
        "crashed": 1,
        "preempted": 1,
        "killed": 1,
        "timeout": 1,
        "no value": 2,
    }
    assert found.note() == (
        "left out of the ranking: 1 failed, 1 crashed, 1 preempted, 1 killed, 1 timeout "
        "(ended early: partial values); 2 without a value"
    )
    maximize = ranking.rank(Metric("acc", "maximize"), runs)
    assert [r.id for r in maximize.ranked] == ["r0", "r1", "r9"]
    assert ranking.rank(None, runs).best is None


def test_best_and_export_best_use_the_rule_and_say_what_they_left_out(sweep) -> None:
    done = cli(sweep, "best", sweep["id"], "--json")
    assert done.returncode == 0, done.stderr
    best = json.loads(done.stdout)
    assert best["run_id"] == sweep["ids"][4]  # the stopped run, not the killed one
    assert best["metric"]["value"] == 0.25
    assert best["left_out"] == {"killed": 1, "no value": 1}
    shown = cli(sweep, "best", sweep["id"])
    assert "left out of the ranking: 1 killed (ended early: partial values); 1 without a value" in (
        shown.stderr
    )
    exported = cli(sweep, "export-best", sweep["id"])
    assert json.loads(exported.stdout) == best["config"]


def test_runs_top_ranks_by_the_rule_and_lists_no_partial_run(sweep) -> None:
    done = cli(sweep, "runs", sweep["id"], "--top", "3", "--json")
    assert done.returncode == 0, done.stderr
    top = json.loads(done.stdout)
    ids = sweep["ids"]
    assert [r["run_id"] for r in top] == [ids[4], ids[0], ids[2]]  # best first, none killed
    table = cli(sweep, "runs", sweep["id"])
    assert "left out of the ranking: 1 killed" in table.stderr
    lines = [line for line in table.stdout.splitlines() if line.strip()[:8] in ids]
    # Ranked runs first, best first; the left-out ones after them.
    assert [line.split()[0] for line in lines][:6] == [
        ids[4],
        ids[0],
        ids[2],
        ids[1],
        ids[3],
        ids[5],
    ]


def test_report_figures_draw_every_ranked_run_of_a_hyperband_sweep(sweep) -> None:
    store = open_store(sweep["storage"])
    data = collect(store, [store.get_sweep(sweep["id"])])
    figure = parallel_coordinates(data)
    assert figure is not None
    assert len(figure.parallel.colour) == 6  # the stopped runs are drawn too
    assert figure.parallel.highlight_label == f"best run {sweep['ids'][4]}"
    assert len(data.scored) == 6  # 3 finished and 3 stopped, not only the finished ones
    assert data.best is not None and data.best.id == sweep["ids"][4]


def test_the_agents_best_so_far_is_the_whole_sweeps(sweep) -> None:
    """Another agent's runs set the bar: a worse run of this agent is not "best so far"."""
    tmp = sweep["tmp"]
    (tmp / "train.py").write_text(
        "import sys, sweepctl\n"
        "x = float(sys.argv[1].split('=')[1])\n"
        "sweepctl.log({'loss': 0.3 + x})\n"
    )
    env_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        [sys.executable, "-m", "sweepctl", "agent", sweep["id"], "--count", "2"],
        cwd=tmp,
        env=dict(os.environ, SWEEPCTL_STORAGE=sweep["storage"], PATH=env_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ended = [line for line in done.stderr.splitlines() if " finished in " in line]
    assert len(ended) == 2
    assert not any("best so far" in line for line in ended)  # 0.25 from before stays best


def test_a_metric_name_nobody_logs_is_said_by_the_agent_and_by_best(tmp_path: Path) -> None:
    """`metric: val/loss` with a script that logs `val_loss`: the agent warns once, at the
    first step, with the keys it logged; `best` lists them too."""
    (tmp_path / "train.py").write_text(
        "import sys, time, sweepctl\n"
        "for epoch in range(3):\n"
        "    sweepctl.log({'val_loss': 0.5 / (epoch + 1), 'epoch': epoch})\n"
        "    time.sleep(0.3)\n"
    )
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: val/loss, goal: minimize}\nprogram: train.py\n"
        "parameters:\n  lr: {values: [0.1, 0.01]}\n"
    )
    env = dict(
        os.environ,
        SWEEPCTL_STORAGE=f"sqlite:///{tmp_path / 's.db'}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )

    def sweepctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sweepctl", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    sweep_id = sweepctl("create", "sweep.yaml", "-q").stdout.strip()
    agent = sweepctl("agent", sweep_id)
    assert agent.returncode == 0, agent.stderr
    warnings = [line for line in agent.stderr.splitlines() if "not the sweep's metric" in line]
    assert len(warnings) == 1, agent.stderr  # once, not per run or per step
    assert "logged val_loss, epoch but not the sweep's metric 'val/loss'" in warnings[0]
    assert "did you mean 'val_loss'?" in warnings[0]
    # Said at the first step, before the first run ended.
    lines = agent.stderr.splitlines()
    first_end = next(i for i, line in enumerate(lines) if " finished in " in line)
    assert lines.index(warnings[0]) < first_end
    best = sweepctl("best", sweep_id)
    assert best.returncode == 2
    assert "has logged its metric 'val/loss'; they logged: epoch, val_loss" in best.stderr
    assert "did you mean 'val_loss'?" in best.stderr


def test_a_metric_logged_only_later_is_not_warned_about(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(
        "import time, sweepctl\n"
        "for step in range(4):\n"
        "    sweepctl.log({'train/loss': 1.0 / (step + 1)})\n"
        "    time.sleep(0.3)\n"
        "sweepctl.log({'val/acc': 0.9})\n"
    )
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: val/acc, goal: maximize}\nprogram: train.py\n"
        "parameters:\n  lr: {values: [0.1]}\n"
    )
    env = dict(
        os.environ,
        SWEEPCTL_STORAGE=f"sqlite:///{tmp_path / 's.db'}",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    created = subprocess.run(
        [sys.executable, "-m", "sweepctl", "create", "sweep.yaml", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    agent = subprocess.run(
        [sys.executable, "-m", "sweepctl", "agent", created.stdout.strip()],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert agent.returncode == 0, agent.stderr
    assert "not the sweep's metric" not in agent.stderr


def test_runs_top_counts_early_termination_savings_over_the_whole_sweep(sweep) -> None:
    """Three runs were stopped early; `--top 1` lists one finished run, and still says so."""
    done = cli(sweep, "runs", sweep["id"], "--top", "1")
    assert done.returncode == 0, done.stderr
    # The three finished runs logged 3 values each; the stopped ones 1 each: 2 saved each.
    # 9 + 3 + 2 (killed) = 14 logged.
    assert (
        "early termination stopped 3 runs of the sweep, saving about 6 of 20 iterations (30% "
        "of the compute)" in done.stderr
    )
