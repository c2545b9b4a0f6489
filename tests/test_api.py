"""The Python API directly (no subprocess): typed results, their JSON, and the errors a
script gets. The CLI's own tests check that the commands render the same results."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from sweepctl import api
from sweepctl.backends.base import AgentReport
from sweepctl.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError

GRID = """\
name: api-grid
method: grid
metric: {name: loss, goal: minimize}
program: train.py
parameters:
  lr: {values: [0.1, 0.01]}
  layers: {values: [1, 2, 3]}
"""
TRAIN = """\
import sys
import sweepctl
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
sweepctl.log({"loss": float(args["lr"]) * int(args["layers"])})
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEPCTL_STORAGE", raising=False)
    # `${interpreter}` is the `python` on PATH, as with W&B: make it this virtualenv's.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "sweep.yaml").write_text(GRID)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def test_validate_returns_every_files_problems_as_json(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text("method: grid\nparameters:\n  lr: {min: 0.1, max: 0.5}\n")
    result = api.validate([workdir / "sweep.yaml", bad])
    assert [r.source for r in result.failed] == [str(bad)]
    data = result.to_json()
    assert [d["valid"] for d in data] == [True, False]
    assert data[1]["errors"][0]["line"] == 3
    assert data[1]["errors"][0]["path"] == "parameters.lr"


def test_a_dry_run_stores_nothing_and_shows_the_grid(workdir: Path) -> None:
    created = api.create(workdir / "sweep.yaml", dry_run=True)
    assert created.dry_run and created.sweep_id is None
    assert created.grid_points == 6
    assert created.to_json()["first_configs"][0] == {"lr": 0.1, "layers": 1}
    assert not (workdir / ".sweepctl").exists()


def test_an_invalid_file_creates_no_store(workdir: Path) -> None:
    bad = workdir / "bad.yaml"
    bad.write_text("method: grid\nparameters:\n  lr: {min: 0.1, max: 0.5}\n")
    with pytest.raises(UsageError) as caught:
        api.create(bad)
    assert caught.value.exit_code == EXIT_USAGE
    assert not (workdir / ".sweepctl").exists()


def test_create_run_and_read_back_through_the_api(workdir: Path) -> None:
    created = api.create(workdir / "sweep.yaml")
    assert created.to_json()["agent_command"] == f"sweepctl agent {created.sweep_id}"
    report = api.agent(created.sweep_id)  # until the grid is done
    assert report.exit_code == EXIT_OK and len(report.outcomes) == 6
    assert report.to_json()["runs"][0]["state"] == "finished"
    best = api.best(created.sweep_id)
    assert best.run.config == {"lr": 0.01, "layers": 1}
    assert best.to_json()["metric"]["value"] == pytest.approx(0.01)
    listed = api.runs(created.sweep_id, state=["finished"])
    assert len(listed.to_json()) == 6
    (summary,) = api.list_sweeps()
    assert summary.to_json()["runs_by_state"] == {"finished": 6}
    assert summary.to_json()["state"] == "finished"


def test_a_state_the_sweep_cannot_take_and_an_unknown_state_are_usage_errors(
    workdir: Path,
) -> None:
    sweep_id = api.create(workdir / "sweep.yaml").sweep_id
    assert api.control(sweep_id, "pause").to_json()["message"].endswith("is now paused")
    with pytest.raises(UsageError, match="it cannot be paused"):
        api.control(sweep_id, "pause")
    with pytest.raises(UsageError, match="unknown run state 'finshed'") as caught:
        api.runs(sweep_id, state=["finshed"])
    assert "finished" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("report", "code"),
    [
        (AgentReport(), EXIT_OK),
        (AgentReport(interrupted=True, signal=signal.SIGINT), EXIT_INTERRUPTED),
        (AgentReport(interrupted=True, signal=signal.SIGTERM), 143),
        (AgentReport(failed_policy="the first 5 runs all failed"), EXIT_FAILURE),
        (AgentReport(controller="wandb", agent_codes=[0, 1]), EXIT_FAILURE),
        (AgentReport(controller="wandb", agent_codes=[0, 0]), EXIT_OK),
        # An interrupt wins over the failures it caused.
        (AgentReport(interrupted=True, signal=signal.SIGINT, agent_codes=[1]), 130),
    ],
)
def test_one_rule_maps_an_agents_end_to_an_exit_code(report: AgentReport, code: int) -> None:
    assert report.exit_code == code
    assert report.to_json()["exit_code"] == code
