"""The fake W&B server answers the real wandb 0.31 client: public API, agent CLI, sync CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

wandb = pytest.importorskip("wandb")

from wandb.apis.public.sweeps import (  # noqa: E402
    _get_sweep_state,
    _set_sweep_state,
    _upsert_sweep,
)

GRID = {
    "method": "grid",
    "program": "prog.py",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.2]}, "tag": {"value": "008"}},
}

# A sweep program that does not import wandb: it records its argv and environment and,
# if asked, sleeps (recording a SIGTERM if it gets one).
PROGRAM = textwrap.dedent(
    """
    import json, os, signal, sys, time

    def record(**extra):
        with open(os.environ["FAKE_OUT"], "a") as f:
            env = {k: os.environ.get(k) for k in
                   ("CUDA_VISIBLE_DEVICES", "WANDB_RUN_ID", "WANDB_SWEEP_ID")}
            f.write(json.dumps({"argv": sys.argv[1:], **env, **extra}) + "\\n")

    def on_term(signum, frame):
        record(signal="SIGTERM")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    record()
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    """
)


def _dead_url() -> str:
    """A 127.0.0.1 URL with nothing listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _child_env(fake, **extra: str) -> dict[str, str]:
    env = {**os.environ, **fake.env(), **extra}
    # The agent starts runs as `/usr/bin/env python prog.py ...`: use this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _wandb_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 90):
    return subprocess.run(
        [sys.executable, "-m", "wandb", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- a. login / viewer ------------------------------------------------------------------


def test_api_login_and_default_entity(fake_wandb):
    api = wandb.Api()
    assert api.api_key == fake_wandb.api_key
    assert api.default_entity == "alice"
    assert fake_wandb.requests[:2] == ["Viewer", "GetDefaultEntity"]
    assert fake_wandb.unknown == []


def test_wrong_api_key_is_rejected_with_401(fake_wandb, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    start = time.monotonic()
    with pytest.raises(wandb.errors.AuthenticationError, match="user is not logged in"):
        wandb.Api()
    assert time.monotonic() - start < 5
    assert fake_wandb.requests == ["unauthorized"]


# -- b. creating sweeps ------------------------------------------------------------------


def test_upsert_sweep_creates_a_sweep(fake_wandb):
    api = wandb.Api()
    sweep, warnings = _upsert_sweep(api, GRID, project="proj", entity="alice")
    assert warnings == []
    assert sweep["project"]["name"] == "proj"
    assert sweep["project"]["entity"]["name"] == "alice"
    stored = fake_wandb.sweeps[sweep["name"]]
    assert (stored.entity, stored.project, stored.state) == ("alice", "proj", "RUNNING")
    assert stored.config_dict == GRID  # the YAML text as the client sent it
    assert "tag:\n    value: '008'" in stored.config
    assert fake_wandb.requests.count("UpsertSweep") == 1


@pytest.mark.filterwarnings("ignore:Read the `app_url` setting:DeprecationWarning")
def test_wandb_sweep_uses_the_same_mutation(fake_wandb, capsys):
    sweep_id = wandb.sweep(GRID, entity="alice", project="proj")
    assert fake_wandb.sweeps[sweep_id].project == "proj"
    assert f"{fake_wandb.url}/alice/proj/sweeps/{sweep_id}" in capsys.readouterr().out


def test_invalid_sweep_config_fails_like_the_server(fake_wandb):
    api = wandb.Api()
    # The real server's answer to a config without `method` (HTTP 400, GraphQL error).
    with pytest.raises(wandb.errors.CommError, match="must contain method section"):
        _upsert_sweep(api, {"program": "prog.py"}, project="proj", entity="alice")
    # The client retries a failed upsertSweep in 5 schema variants before giving up.
    assert fake_wandb.requests.count("UpsertSweep") == 5

    fake_wandb.reject_sweeps("Invalid sweep config: parameters.lr: bad")
    with pytest.raises(wandb.errors.CommError, match=r"parameters\.lr: bad"):
        _upsert_sweep(api, GRID, project="proj", entity="alice")
    assert fake_wandb.sweeps == {}


# -- c. reading a sweep, its runs and their history -------------------------------------


def test_api_sweep_returns_config_state_runs_and_history(fake_wandb):
    sweep_id = fake_wandb.add_sweep(GRID, project="proj")
    fake_wandb.add_run(
        sweep_id,
        run_id="run00001",
        config={"lr": 0.1},
        summary={"loss": 0.5},
        history=[{"loss": 1.0, "acc": 0.1}, {"loss": 0.5}],
    )
    fake_wandb.add_run(sweep_id, run_id="run00002", config={"lr": 0.2}, state="running")
    fake_wandb.add_run(None, project="proj", run_id="other001")  # not in the sweep

    sweep = wandb.Api().sweep(f"alice/proj/{sweep_id}")
    assert sweep.config == GRID
    assert sweep.state == "RUNNING"
    runs = {run.id: run for run in sweep.runs}
    assert sorted(runs) == ["run00001", "run00002"]
    run = runs["run00001"]
    assert (run.state, run.config, run.sweep_name) == ("finished", {"lr": 0.1}, sweep_id)
    assert run.summary_metrics == {"loss": 0.5}
    assert run.created_at and run.heartbeat_at
    assert runs["run00002"].state == "running"

    assert run.history(keys=["loss"], pandas=False) == [
        {"_step": 0, "loss": 1.0},
        {"_step": 1, "loss": 0.5},
    ]
    assert run.history(pandas=False)[0] == {"_step": 0, "loss": 1.0, "acc": 0.1}
    assert list(run.scan_history(keys=["acc"])) == [{"_step": 0, "acc": 0.1}]
    assert [row["loss"] for row in run.scan_history()] == [1.0, 0.5]
    assert fake_wandb.unknown == []


def test_best_run_orders_by_the_sweep_metric(fake_wandb):
    sweep_id = fake_wandb.add_sweep(GRID, project="proj")
    for lr, loss in [(0.1, 0.3), (0.2, 0.1), (0.3, 0.2)]:
        fake_wandb.add_run(sweep_id, config={"lr": lr}, summary={"loss": loss})
    best = wandb.Api().sweep(f"alice/proj/{sweep_id}").best_run()
    assert best.config == {"lr": 0.2}


@pytest.mark.parametrize("path", ["alice/proj/missing1", "alice/noproject/{sid}"])
def test_missing_sweep_raises_comm_error(fake_wandb, path):
    sweep_id = fake_wandb.add_sweep(GRID, project="proj")
    api = wandb.Api()
    # The server answers `sweep: null` (or `project: null`); the client raises.
    with pytest.raises(wandb.errors.CommError, match="Could not find sweep"):
        api.sweep(path.format(sid=sweep_id))


# -- d. sweep state ----------------------------------------------------------------------


def test_get_and_set_sweep_state(fake_wandb):
    sweep_id = fake_wandb.add_sweep(GRID, project="proj")
    api = wandb.Api()
    where = {"entity": "alice", "project": "proj"}
    assert _get_sweep_state(api, sweep_id, **where) == "RUNNING"
    for state in ["PAUSED", "RUNNING", "CANCELED"]:
        _set_sweep_state(api, sweep_id, state, **where)
        assert _get_sweep_state(api, sweep_id, **where) == state
        assert fake_wandb.sweeps[sweep_id].state == state
    # The client itself refuses transitions out of a finished/canceled sweep.
    with pytest.raises(Exception, match="Cannot pause canceled sweep"):
        _set_sweep_state(api, sweep_id, "PAUSED", **where)
    _set_sweep_state(api, sweep_id, "RUNNING", **where)
    _set_sweep_state(api, sweep_id, "FINISHED", **where)
    assert fake_wandb.sweeps[sweep_id].state == "FINISHED"
    assert {"GetSweepState", "SweepWithRuns", "UpsertSweep"} <= set(fake_wandb.requests)


# -- e. the agent CLI (polls every 5 s, so these take 10-25 s) ---------------------------


@pytest.mark.slow
# The agent's run commands (argv from ${args}, WANDB_RUN_ID, CUDA_VISIBLE_DEVICES) are
# checked through sweepctl in tests/test_wandb_controller.py; here: stop, exit, deletion.


@pytest.mark.slow
def test_agent_stop_and_exit_commands(fake_wandb, tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    sweep_id = fake_wandb.add_sweep(GRID)
    (first,) = fake_wandb.queue_runs(sweep_id, [{"lr": 0.1}])
    fake_wandb.queue_stop(sweep_id, first)  # next heartbeat: SIGTERM the first run
    (second,) = fake_wandb.queue_runs(sweep_id, [{"lr": 0.2}])
    fake_wandb.queue_exit(sweep_id)  # next heartbeat: kill runs and quit
    out = tmp_path / "out.jsonl"
    env = _child_env(fake_wandb, FAKE_OUT=str(out), FAKE_SLEEP="60")

    start = time.monotonic()
    result = _wandb_cli(["agent", f"alice/uncategorized/{sweep_id}"], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 45  # the runs would sleep 60 s
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["WANDB_RUN_ID"], r.get("signal")) for r in records] == [
        (first, None),
        (first, "SIGTERM"),
        (second, None),  # killed (SIGKILL) by `exit`: no record
    ]
    (agent,) = fake_wandb.agents.values()
    assert [c["type"] for c in agent.commands_sent] == ["run", "stop", "run", "exit"]
    assert {first: True} in agent.heartbeats


@pytest.mark.slow
def test_agent_exits_when_the_sweep_is_deleted(fake_wandb, tmp_path):
    sweep_id = fake_wandb.add_sweep(GRID, project="proj")
    agent = subprocess.Popen(
        [sys.executable, "-m", "wandb", "agent", f"alice/proj/{sweep_id}"],
        cwd=tmp_path,
        env=_child_env(fake_wandb, WANDB_SILENT="false"),  # silent hides `wandb: ERROR`
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while "CreateAgent" not in fake_wandb.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        del fake_wandb.sweeps[sweep_id]  # the next heartbeat gets a 404
        _, stderr = agent.communicate(timeout=30)
    finally:
        agent.kill()
    assert agent.returncode == 1
    assert "Sweep was deleted or agent was not found" in stderr


# -- f. wandb sync of an offline run ----------------------------------------------------


OFFLINE_RUN = textwrap.dedent(
    """
    import wandb
    run = wandb.init(mode="offline", project="ignored", config={"lr": 0.1, "layers": 3})
    for i in range(3):
        wandb.log({"loss": 1.0 / (i + 1)})
    run.summary["best"] = 0.25
    run.finish()
    print(run.id)
    """
)


def test_sync_uploads_an_offline_run(fake_wandb, tmp_path):
    env = _child_env(fake_wandb, WANDB_DIR=str(tmp_path), WANDB_RUN_GROUP="grp-1")
    made = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN], env=env, capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    run_id = made.stdout.split()[-1]
    (run_dir,) = (tmp_path / "wandb").glob(f"offline-run-*-{run_id}")
    assert fake_wandb.requests == []  # offline: nothing sent

    result = _wandb_cli(["sync", "--project", "P", "--entity", "team", str(run_dir)], env, tmp_path)

    assert result.returncode == 0, result.stderr
    run = fake_wandb.runs[run_id]
    assert (run.entity, run.project, run.group, run.state) == ("team", "P", "grp-1", "finished")
    assert run.config == {"lr": 0.1, "layers": 3}
    assert run.summary["best"] == 0.25 and run.summary["loss"] == pytest.approx(1 / 3)
    assert [row["loss"] for row in run.history] == pytest.approx([1.0, 0.5, 1 / 3])
    assert "config.yaml" in run.files
    assert fake_wandb.unknown == []
    # ...and the public API reads it back.
    back = wandb.Api().run(f"team/P/{run_id}")
    assert back.group == "grp-1" and back.config == {"lr": 0.1, "layers": 3}


# -- g. server down / wrong key: how fast the client gives up ---------------------------


def test_unreachable_server_fails_fast_with_retry_settings(fake_wandb, monkeypatch):
    # fake.env() sets WANDB__GRAPHQL_RETRY_MAX=1 and WANDB__GRAPHQL_RETRY_WAIT_MAX_SECONDS=1.
    monkeypatch.setenv("WANDB_BASE_URL", _dead_url())
    start = time.monotonic()
    with pytest.raises(wandb.errors.AuthenticationError, match="connection refused"):
        wandb.Api()
    assert time.monotonic() - start < 5


@pytest.mark.slow
def test_upsert_sweep_after_the_server_went_away(fake_wandb):
    api = wandb.Api()
    fake_wandb.close()
    start = time.monotonic()
    with pytest.raises(wandb.errors.CommError, match="connection refused"):
        _upsert_sweep(api, GRID, project="proj", entity="alice")
    assert time.monotonic() - start < 10  # 5 schema variants, each retried once


def test_agent_cli_with_wrong_key_or_no_server(fake_wandb, tmp_path):
    sweep_id = fake_wandb.add_sweep(GRID, project="proj")
    path = f"alice/proj/{sweep_id}"
    bad_key = _child_env(fake_wandb, WANDB_API_KEY="0" * 40)
    result = _wandb_cli(["agent", "--count", "1", path], bad_key, tmp_path)
    assert result.returncode == 1
    assert "Failed to verify credentials" in result.stderr
    assert "user is not logged in" in result.stderr

    no_server = _child_env(fake_wandb, WANDB_BASE_URL=_dead_url())
    start = time.monotonic()
    result = _wandb_cli(["agent", "--count", "1", path], no_server, tmp_path)
    assert result.returncode == 1
    assert "connection refused" in result.stderr
    assert time.monotonic() - start < 10
