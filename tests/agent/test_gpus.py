"""`--gpus` and `--gpus-per-run` become one CUDA_VISIBLE_DEVICES value per worker."""

from __future__ import annotations

import pytest

from sweepctl.agent import gpus
from sweepctl.errors import UsageError


def test_groups_from_a_list():
    assert gpus.gpu_groups("0,1,2,3") == ["0", "1", "2", "3"]
    assert gpus.gpu_groups("0,1,2,3", per_run=2) == ["0,1", "2,3"]
    assert gpus.gpu_groups(" 3 , 5 ") == ["3", "5"]


@pytest.mark.parametrize(
    ("spec", "per_run", "message"),
    [
        ("0,1,2", 2, "3 GPUs cannot be split into groups of 2"),
        ("0,0", 1, "names a GPU twice"),
        (",", 1, "names no GPU"),
        ("0", 0, "--gpus-per-run must be at least 1"),
    ],
)
def test_bad_gpu_lists_are_usage_errors(spec, per_run, message):
    with pytest.raises(UsageError, match=message):
        gpus.gpu_groups(spec, per_run)


def test_all_uses_what_the_machine_has(monkeypatch):
    monkeypatch.setattr(gpus, "discover", lambda: ["0", "1"])
    assert gpus.gpu_groups("all") == ["0", "1"]
    monkeypatch.setattr(gpus, "discover", lambda: [])
    with pytest.raises(UsageError, match="no GPU found"):
        gpus.gpu_groups("all")
