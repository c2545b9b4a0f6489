"""The W&B controller's pure parts: paths, the config W&B gets, --count shares, run dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepctl.backends.wandb import sync
from sweepctl.backends.wandb.client import SweepPath, _timestamp, parse_path, wandb_config
from sweepctl.backends.wandb.fanout import agent_argv, split_count


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("alice/proj/ab12cd34", SweepPath("alice", "proj", "ab12cd34")),
        ("wandb:my-team/g.code_v2/x9", SweepPath("my-team", "g.code_v2", "x9")),
        ("  alice/proj/ab12  ", SweepPath("alice", "proj", "ab12")),
    ],
)
def test_wandb_paths_are_recognised(ref, expected):
    assert parse_path(ref) == expected
    assert str(parse_path(ref)) == f"{expected.entity}/{expected.project}/{expected.sweep_id}"


@pytest.mark.parametrize("ref", ["ab12cd34", "ab12", "phase3-warmup", "a/b", "a/b/c/d", "a/b/c-d"])
def test_local_references_are_not_wandb_paths(ref):
    assert parse_path(ref) is None


def test_wandb_config_drops_the_sweepctl_block_and_warns_per_option():
    config = {
        "method": "random",
        "parameters": {"lr": {"min": 1e-5, "max": 1e-2}},
        "sweepctl": {"seed": 3, "retries": 2},
    }
    lines = {("sweepctl", "seed"): 7, ("sweepctl", "retries"): 8}
    out, warnings = wandb_config(config, lines)
    assert "sweepctl" not in out
    assert "sweepctl" in config, "the caller's config is not changed"
    assert out["parameters"]["lr"] == {"min": 1e-5, "max": 1e-2}
    assert isinstance(out["parameters"]["lr"]["min"], float)
    assert [(w.severity, w.path, w.line) for w in warnings] == [
        ("warning", "sweepctl.seed", 7),
        ("warning", "sweepctl.retries", 8),
    ]
    assert "only by sweepctl's local controller" in warnings[0].message


def test_wandb_config_without_a_sweepctl_block_has_no_warnings():
    out, warnings = wandb_config({"method": "grid", "parameters": {"a": {"values": [1]}}})
    assert warnings == [] and "sweepctl" not in out


@pytest.mark.parametrize(
    ("count", "agents", "expected"),
    [(10, 4, [3, 3, 2, 2]), (4, 4, [1, 1, 1, 1]), (2, 4, [1, 1, 0, 0]), (None, 3, [None] * 3)],
)
def test_count_is_split_across_agents(count, agents, expected):
    shares = split_count(count, agents)
    assert shares == expected
    if count is not None:
        assert sum(shares) == count


def test_agent_argv_runs_wandbs_own_agent():
    argv = agent_argv("a/p/s1", 3)
    assert argv[1:] == ["-m", "wandb", "agent", "--count", "3", "a/p/s1"]
    assert "--count" not in agent_argv("a/p/s1", None)


def test_iso_times_from_wandb_are_utc():
    assert _timestamp("1970-01-01T00:01:00") == 60.0
    assert _timestamp("1970-01-01T00:01:00Z") == 60.0
    assert _timestamp(None) is None and _timestamp("yesterday") is None


def _offline_dir(root: Path, stamp: str, run_id: str, synced: bool = False) -> Path:
    path = root / "wandb" / f"offline-run-{stamp}-{run_id}"
    path.mkdir(parents=True)
    (path / f"run-{run_id}.wandb").write_bytes(b"")
    if synced:
        (path / f"run-{run_id}.wandb.synced").write_text("")
    return path


def test_sync_plan_takes_each_runs_latest_offline_dir(tmp_path):
    _offline_dir(tmp_path, "20261123_100000", "run1")
    latest = _offline_dir(tmp_path, "20261123_110000", "run1")  # a retried run's 2nd attempt
    other = _offline_dir(tmp_path, "20261123_100500", "run2")
    done = _offline_dir(tmp_path, "20261123_100600", "run3", synced=True)
    _offline_dir(tmp_path, "20261123_100700", "strange")  # a run of another sweep
    (tmp_path / "wandb" / "run-20261123_100800-run4").mkdir()  # online: W&B has it already
    plan = sync.plan_sync(
        "sw1",
        ["run1", "run2", "run3", "run4"],
        roots=[tmp_path],
        project="proj",
        entity=None,
    )
    assert plan.dirs == {"run1": latest.resolve(), "run2": other.resolve()}
    assert plan.synced == ["run3"] and plan.missing == ["run4"]
    assert plan.command[-4:] == ["--project", "proj", str(latest.resolve()), str(other.resolve())]
    again = sync.plan_sync("sw1", ["run3"], roots=[tmp_path], project="p", entity="e", again=True)
    assert again.dirs == {"run3": done.resolve()}
    assert again.command[-5:-1] == ["--project", "p", "--entity", "e"]
