"""The example sweep files: valid for W&B too, and the phase-3 grids as large as the seed plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepctl.search.grid import grid_points
from sweepctl.spec import inspect_file

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"


SWEEP_FILES = sorted(p for p in SWEEPS.rglob("*.yaml") if p.name != "campaign.yaml")


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda p: p.name)
def test_every_example_is_valid_without_warnings(path):
    report = inspect_file(path)
    assert report.valid and not report.warnings, [str(p) for p in report.problems]


# The G-code seed's phase-3 plan: "Vocabulary bucketing (25 runs)", "Warmup scheduler (30 runs)".
@pytest.mark.parametrize(
    ("name", "planned"),
    [("vocabulary_bucketing.yaml", 25), ("warmup_optimization.yaml", 30)],
)
def test_phase3_grids_have_about_the_runs_the_seed_plans(name, planned):
    spec = inspect_file(SWEEPS / "phase3" / name).spec
    assert spec.method == "grid"
    assert abs(grid_points(spec) - planned) <= 0.25 * planned
