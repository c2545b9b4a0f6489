"""sweepctl's W&B controller, end to end against a fake W&B server on 127.0.0.1.

sweepctl runs as a real process and the real wandb 0.31 client code runs inside it (and
inside the `wandb agent` / `wandb sync` processes it starts); only the server is fake
(`tests/wandb_fake.py`). What a fake cannot tell us (how W&B's own controller picks runs,
what its server really says to a bad file) is named in the README.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("wandb")

SWEEP = """\
program: prog.py
method: bayes
metric:
  name: loss
  goal: minimize
parameters:
  lr:
    min: 1e-5
    max: 1e-2
    distribution: log_uniform_values
  layers:
    values: [2, 4]
sweepctl:
  seed: 3
  retries: 2
"""

# A program W&B's agent runs; it does not import wandb. It records its argv and the
# variables the agent sets, then sleeps FAKE_SLEEP seconds (recording a SIGTERM).
PROGRAM = textwrap.dedent(
    """
    import json, os, signal, sys, time

    def record(**extra):
        with open(os.environ["FAKE_OUT"], "a") as f:
            env = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "WANDB_RUN_ID")}
            f.write(json.dumps({"argv": sys.argv[1:], "pid": os.getpid(), **env, **extra}))
            f.write("\\n")

    def on_term(signum, frame):
        record(signal="SIGTERM")
        if not os.environ.get("FAKE_IGNORE_TERM"):
            sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    record()
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    """
)


def _env(fake, **extra: str) -> dict[str, str]:
    env = {**os.environ, **fake.env(), **extra}
    for name in ("WANDB_ENTITY", "WANDB_PROJECT", "WANDB_SWEEP_ID", "WANDB_MODE"):
        if name not in extra:
            env.pop(name, None)
    # W&B's agent starts runs as `/usr/bin/env python prog.py ...`: use this interpreter.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SWEEPCTL_STORAGE"] = str(Path(fake.env()["WANDB_DIR"]) / "sweepctl.db")
    return env


def sweepctl(args, env, cwd, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def sweep_file(tmp_path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(SWEEP)
    return path


# -- create ----------------------------------------------------------------------------------


def test_create_sends_real_floats_without_the_sweepctl_block(fake_wandb, sweep_file, tmp_path):
    done = sweepctl(
        ["create", str(sweep_file), "--controller", "wandb", "--project", "gcode"],
        _env(fake_wandb),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (sweep_id,) = fake_wandb.sweeps
    path = f"alice/gcode/{sweep_id}"
    assert f"created W&B sweep {path}" in done.stdout
    assert f"sweepctl agent {path}" in done.stdout
    stored = yaml.safe_load(fake_wandb.sweeps[sweep_id].config)
    assert "sweepctl" not in stored
    assert stored["parameters"]["lr"]["min"] == 1e-5
    assert isinstance(stored["parameters"]["lr"]["min"], float), "W&B reads a number, not text"
    assert stored["parameters"]["layers"]["values"] == [2, 4]
    # The options only the local controller honours are named, with file:line.
    assert f"{sweep_file}:14: warning: sweepctl.seed" in done.stderr
    assert f"{sweep_file}:15: warning: sweepctl.retries" in done.stderr
    assert fake_wandb.unknown == []


def test_create_json_and_quiet(fake_wandb, sweep_file, tmp_path):
    env = _env(fake_wandb)
    done = sweepctl(["create", str(sweep_file), "--controller", "wandb", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    # No --project: W&B's own fallback, the program's name.
    assert (data["entity"], data["project"]) == ("alice", "prog")
    assert data["sweep_path"] == f"alice/prog/{data['sweep_id']}"
    assert data["sweep_id"] in fake_wandb.sweeps
    quiet = sweepctl(["create", str(sweep_file), "--controller", "wandb", "-q"], env, tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip().count("/") == 2 and quiet.stdout.strip() != data["sweep_path"]


def test_a_bad_file_never_reaches_wandb(fake_wandb, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: grid\nparameters:\n  lr:\n    min: 0.1\n    max: 0.5\n")
    done = sweepctl(["create", str(bad), "--controller", "wandb"], _env(fake_wandb), tmp_path)
    assert done.returncode == 2
    assert f"{bad}:3: error" in done.stderr and "Traceback" not in done.stderr
    assert fake_wandb.requests == []


def test_a_file_wandb_rejects_is_reported_with_the_file(fake_wandb, sweep_file, tmp_path):
    fake_wandb.reject_sweeps("Invalid sweep config: parameter lr is not allowed")
    done = sweepctl(
        ["create", str(sweep_file), "--controller", "wandb"], _env(fake_wandb), tmp_path
    )
    assert done.returncode == 1
    assert f"{sweep_file}: W&B refused to create the sweep" in done.stderr
    assert "parameter lr is not allowed" in done.stderr
    assert "Traceback" not in done.stderr
    assert fake_wandb.sweeps == {}


def test_not_logged_in(fake_wandb, sweep_file, tmp_path):
    env = _env(fake_wandb)
    del env["WANDB_API_KEY"]  # and NETRC points at an empty temp path
    done = sweepctl(["create", str(sweep_file), "--controller", "wandb"], env, tmp_path)
    assert done.returncode == 1
    assert "not logged in to W&B" in done.stderr and "wandb login" in done.stderr
    assert fake_wandb.requests == []


def test_a_key_wandb_does_not_accept(fake_wandb, tmp_path):
    env = {**_env(fake_wandb), "WANDB_API_KEY": "0" * 40}
    done = sweepctl(["runs", "alice/proj/abc123"], env, tmp_path)
    assert done.returncode == 1
    assert "did not accept the API key" in done.stderr and "Traceback" not in done.stderr


def test_no_network_fails_in_seconds(fake_wandb, sweep_file, tmp_path):
    env = _env(fake_wandb)
    # The wandb client's own retries, as a user has them (the fake's env shortens them).
    for name in ("WANDB__GRAPHQL_RETRY_MAX", "WANDB__GRAPHQL_RETRY_WAIT_MAX_SECONDS"):
        env.pop(name)
    env["WANDB_HTTP_TIMEOUT"] = "60"
    fake_wandb.close()  # nothing listens there any more
    started = time.monotonic()
    done = sweepctl(["create", str(sweep_file), "--controller", "wandb"], env, tmp_path)
    took = time.monotonic() - started
    assert done.returncode == 1
    # sweepctl's own TCP check answers, before the client's retries (minutes) begin.
    assert f"cannot reach W&B at {env['WANDB_BASE_URL']} (Connection refused)" in done.stderr
    assert took < 30, f"took {took:.1f}s"


def test_a_sweep_path_wandb_does_not_have(fake_wandb, tmp_path):
    fake_wandb.add_sweep({"method": "grid", "parameters": {"a": {"values": [1]}}}, project="p")
    for args in (["runs", "alice/p/nosuch1"], ["best", "alice/nosuch/abc"], ["pause", "a/p/x1"]):
        done = sweepctl(args, _env(fake_wandb), tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "W&B has no sweep" in done.stderr and "Traceback" not in done.stderr


def test_project_and_entity_follow_wandbs_order(fake_wandb, sweep_file, tmp_path):
    sweep_file.write_text("project: fileproj\n" + SWEEP)
    env = _env(fake_wandb)
    args = ["create", str(sweep_file), "--controller", "wandb", "-q"]
    from_file = sweepctl(args, env, tmp_path)
    from_env = sweepctl(args, {**env, "WANDB_PROJECT": "envproj"}, tmp_path)
    from_cli = sweepctl(
        [*args, "--project", "cliproj"], {**env, "WANDB_PROJECT": "envproj"}, tmp_path
    )
    projects = [p.stdout.strip().split("/")[1] for p in (from_file, from_env, from_cli)]
    assert projects == ["fileproj", "envproj", "cliproj"]
    assert sorted(s.project for s in fake_wandb.sweeps.values()) == sorted(projects)


def test_a_local_name_with_slashes_is_refused(fake_wandb, sweep_file, tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    done = sweepctl(["create", str(sweep_file), "--name", "team/lr/v1"], _env(fake_wandb), tmp_path)
    assert done.returncode == 2 and "names a W&B sweep" in done.stderr
    assert f"{sweep_file}: sweep name 'team/lr/v1' has a slash" in done.stderr
    assert "--name team-lr-v1" in done.stderr
    # A dry run stores nothing, so the name is no problem yet.
    dry = sweepctl(
        ["create", str(sweep_file), "--name", "team/lr/v1", "--dry-run"], _env(fake_wandb), tmp_path
    )
    assert dry.returncode == 0, dry.stderr


# -- reading and controlling -----------------------------------------------------------------


@pytest.fixture
def finished_sweep(fake_wandb) -> str:
    config = yaml.safe_load(SWEEP)
    del config["sweepctl"]
    config["parameters"]["lr"] = {"min": 1e-5, "max": 1e-2, "distribution": "log_uniform_values"}
    sweep_id = fake_wandb.add_sweep(config, project="gcode")
    curve = [{"_step": i, "loss": v} for i, v in enumerate([0.9, 0.5, 0.31])]
    fake_wandb.add_run(
        sweep_id,
        run_id="r1",
        config={"lr": 0.001, "layers": 2},
        summary={"loss": 0.31, "_step": 2},
        history=curve,
    )
    fake_wandb.add_run(
        sweep_id,
        run_id="r2",
        config={"lr": 0.0001, "layers": 4},
        summary={"loss": 0.12, "_step": 2},
        history=[{"_step": i, "loss": v} for i, v in enumerate([0.4, 0.2, 0.12])],
    )
    fake_wandb.add_run(
        sweep_id,
        run_id="r3",
        config={"lr": 0.01, "layers": 2},
        summary={"loss": 0.01},
        state="crashed",
    )
    fake_wandb.add_run(
        sweep_id,
        run_id="r4",
        config={"lr": 0.005, "layers": 4},
        summary={"loss": 0.5, "_step": 0},
        state="running",
    )
    return f"alice/gcode/{sweep_id}"


def test_best_runs_and_exports_read_wandb(fake_wandb, finished_sweep, tmp_path):
    env = _env(fake_wandb)
    best = sweepctl(["best", finished_sweep, "--json"], env, tmp_path)
    assert best.returncode == 0, best.stderr
    found = json.loads(best.stdout)
    # A finished run wins over a crashed one with a lower value, as for local sweeps.
    assert found["run_id"] == "r2"
    assert found["metric"] == {"name": "loss", "goal": "minimize", "value": 0.12}
    assert found["config"] == {"lr": 0.0001, "layers": 4}

    runs = sweepctl(["runs", finished_sweep, "--json"], env, tmp_path)
    assert runs.returncode == 0, runs.stderr
    rows = json.loads(runs.stdout)
    assert [(r["run_id"], r["state"], r["metric"]) for r in rows] == [
        ("r1", "finished", 0.31),
        ("r2", "finished", 0.12),
        ("r3", "crashed", 0.01),
        ("r4", "running", 0.5),
    ]
    table = sweepctl(["runs", finished_sweep, "--state", "finished"], env, tmp_path)
    assert table.returncode == 0 and "r2" in table.stdout and "r3" not in table.stdout

    export = sweepctl(
        ["export", finished_sweep, "--out", str(tmp_path / "runs.csv")], env, tmp_path
    )
    assert export.returncode == 0, export.stderr
    lines = (tmp_path / "runs.csv").read_text().splitlines()
    assert len(lines) == 5 and "config.lr" in lines[0] and "summary.loss" in lines[0]

    out = tmp_path / "optimal.json"
    best_cfg = sweepctl(["export-best", finished_sweep, "--out", str(out)], env, tmp_path)
    assert best_cfg.returncode == 0, best_cfg.stderr
    assert json.loads(out.read_text()) == {"lr": 0.0001, "layers": 4}
    assert fake_wandb.unknown == []


def test_refine_around_the_best_runs_of_a_wandb_sweep(fake_wandb, finished_sweep, tmp_path):
    out = tmp_path / "refined.yaml"
    done = sweepctl(["refine", finished_sweep, "--out", str(out)], _env(fake_wandb), tmp_path)
    assert done.returncode == 0, done.stderr
    refined = yaml.safe_load(out.read_text())
    assert refined["method"] == "bayes"
    lr = refined["parameters"]["lr"]
    assert lr["min"] < 0.0001 < lr["max"]  # around the best finished run (r2)
    checked = sweepctl(["validate", str(out)], _env(fake_wandb), tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_wandb_only_states_nested_metrics_and_odd_values(fake_wandb, tmp_path):
    config = {
        "method": "random",
        "metric": {"name": "eval.loss"},
        "parameters": {"lr": {"min": 0.1, "max": 0.2}},
    }
    sweep_id = fake_wandb.add_sweep(config, project="p")
    fake_wandb.add_run(sweep_id, run_id="nested", summary={"eval": {"loss": 0.3}})
    fake_wandb.add_run(sweep_id, run_id="infinite", summary={"eval.loss": float("inf")})
    fake_wandb.add_run(sweep_id, run_id="text", summary={"eval.loss": "0.1"})
    fake_wandb.add_run(sweep_id, run_id="waiting", state="pending")
    env = _env(fake_wandb)
    done = sweepctl(["runs", f"alice/p/{sweep_id}", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    metrics = {r["run_id"]: r["metric"] for r in json.loads(done.stdout)}  # valid JSON
    assert metrics == {"nested": 0.3, "infinite": None, "text": None, "waiting": None}
    pending = sweepctl(
        ["runs", f"alice/p/{sweep_id}", "--state", "pending", "--json"], env, tmp_path
    )
    assert [r["run_id"] for r in json.loads(pending.stdout)] == ["waiting"]


def test_a_wandb_config_sweepctl_cannot_read_is_an_error(fake_wandb, tmp_path):
    sweep_id = fake_wandb.add_sweep(
        {"method": "grid", "metric": {"goal": "minimize"}, "parameters": {"a": 5}}, project="p"
    )
    done = sweepctl(["runs", f"alice/p/{sweep_id}"], _env(fake_wandb), tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"W&B sweep alice/p/{sweep_id} has a config sweepctl cannot read" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_best_reruns_a_wandb_sweeps_best_config_locally(fake_wandb, finished_sweep, tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    out = tmp_path / "out.jsonl"
    env = _env(fake_wandb, FAKE_OUT=str(out))
    done = sweepctl(["run-best", finished_sweep, "--seeds", "1,2", "--json"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["source_run"] == "r2"
    # The best run's config (r2), once per seed, run here by a local agent.
    assert sorted(tuple(r["argv"]) for r in _records(out)) == [
        ("--layers=4", "--lr=0.0001", "--seed=1"),
        ("--layers=4", "--lr=0.0001", "--seed=2"),
    ]


def test_report_of_a_wandb_sweep(fake_wandb, finished_sweep, tmp_path):
    out = tmp_path / "report"
    done = sweepctl(["report", finished_sweep, "--out", str(out)], _env(fake_wandb), tmp_path)
    assert done.returncode == 0, done.stderr
    summary = (out / "summary.md").read_text()
    assert "r2" in summary and "0.12" in summary
    assert (out / "runs.csv").read_text().count("\n") == 5
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs, "plots were drawn"
    assert any("History" in name for name in fake_wandb.requests), "curves come from history"


def test_stop_pause_resume_cancel_use_wandbs_states(fake_wandb, finished_sweep, tmp_path):
    env = _env(fake_wandb)
    sweep_id = finished_sweep.rsplit("/", 1)[1]
    for action, state in (("pause", "PAUSED"), ("resume", "RUNNING"), ("stop", "FINISHED")):
        done = sweepctl([action, finished_sweep], env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert fake_wandb.sweeps[sweep_id].state == state
    again = sweepctl(["pause", finished_sweep], env, tmp_path)
    assert again.returncode == 2 and "cannot pause finished sweep" in again.stderr
    fake_wandb.sweeps[sweep_id].state = "RUNNING"
    cancel = sweepctl(["stop", "--cancel", finished_sweep], env, tmp_path)
    assert cancel.returncode == 0 and fake_wandb.sweeps[sweep_id].state == "CANCELED"
    assert f"W&B sweep {finished_sweep} is now canceled" in cancel.stdout


def test_update_of_a_wandb_sweep_points_to_wandbs_command(fake_wandb, finished_sweep, tmp_path):
    # prog.py is not in the working directory: fine for a sweep W&B's agents run elsewhere,
    # so the answer is where W&B sweeps are updated, not a missing program.
    (tmp_path / "sweep.yaml").write_text(SWEEP)
    done = sweepctl(["update", finished_sweep, "sweep.yaml"], _env(fake_wandb), tmp_path)
    assert done.returncode == 2, done.stderr
    assert "is updated by W&B's own command" in done.stderr
    assert f"hint: wandb sweep --update {finished_sweep} FILE" in done.stderr


def test_local_only_agent_options_are_refused(fake_wandb, finished_sweep, tmp_path):
    done = sweepctl(["agent", finished_sweep, "--timeout", "1h"], _env(fake_wandb), tmp_path)
    assert done.returncode == 2 and "--timeout works only with local sweeps" in done.stderr


# -- agents ------------------------------------------------------------------------------------


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_agent_runs_one_wandb_agent_per_gpu_group(fake_wandb, tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    sweep_id = fake_wandb.add_sweep(yaml.safe_load(SWEEP.split("sweepctl:")[0]), project="p")
    run_ids = fake_wandb.queue_runs(sweep_id, [{"lr": 0.1, "layers": 2}, {"lr": 0.2, "layers": 4}])
    out = tmp_path / "out.jsonl"
    env = _env(fake_wandb, FAKE_OUT=str(out))

    done = sweepctl(
        ["agent", f"alice/p/{sweep_id}", "--gpus", "0,1", "--count", "2"], env, tmp_path
    )

    assert done.returncode == 0, done.stderr
    records = _records(out)
    assert sorted(r["WANDB_RUN_ID"] for r in records) == sorted(run_ids)
    # One agent per GPU, --count split 1 + 1: each run saw its own GPU.
    assert sorted(r["CUDA_VISIBLE_DEVICES"] for r in records) == ["0", "1"]
    # ${args} in the order W&B's server sent the run's config.
    assert sorted(tuple(r["argv"]) for r in records) == [
        ("--lr=0.1", "--layers=2"),
        ("--lr=0.2", "--layers=4"),
    ]
    assert len(fake_wandb.agents) == 2
    assert "W&B agents done: agent 1 exit 0, agent 2 exit 0" in done.stderr


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_sigterm_ends_the_runs_of_wandb_agents_gracefully(fake_wandb, tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    sweep_id = fake_wandb.add_sweep(yaml.safe_load(SWEEP.split("sweepctl:")[0]), project="p")
    fake_wandb.queue_runs(sweep_id, [{"lr": 0.1, "layers": 2}, {"lr": 0.2, "layers": 4}])
    out = tmp_path / "out.jsonl"
    env = _env(fake_wandb, FAKE_OUT=str(out), FAKE_SLEEP="120")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweepctl", "agent", f"alice/p/{sweep_id}", "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_records(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_records(out)) == 2, "both agents started a run"
        pids = [r["pid"] for r in _records(out)]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    # Each run got SIGTERM (W&B agent's second tier) and ended; nothing is left behind.
    assert sorted(r.get("signal") for r in _records(out)[2:]) == ["SIGTERM", "SIGTERM"]
    assert not any(_alive(pid) for pid in pids)
    assert "stopping: the W&B agents end their runs" in err


@pytest.mark.slow
def test_a_second_signal_kills_runs_that_ignore_sigterm(fake_wandb, tmp_path):
    (tmp_path / "prog.py").write_text(PROGRAM)
    sweep_id = fake_wandb.add_sweep(yaml.safe_load(SWEEP.split("sweepctl:")[0]), project="p")
    fake_wandb.queue_runs(sweep_id, [{"lr": 0.1, "layers": 2}])
    out = tmp_path / "out.jsonl"
    env = _env(fake_wandb, FAKE_OUT=str(out), FAKE_SLEEP="120", FAKE_IGNORE_TERM="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweepctl", "agent", f"alice/p/{sweep_id}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _records(out) and time.monotonic() < deadline:
            time.sleep(0.2)
        (started,) = _records(out)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # at once: kill now
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 10
    while _alive(started["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(started["pid"]), "the run that ignored SIGTERM was killed"
    assert "killing the running runs now" in err


def test_sync_with_no_offline_runs_fails_and_says_where_to_look(fake_wandb, tmp_path):
    (tmp_path / "prog.py").write_text("print('no wandb here')\n")
    local = tmp_path / "local.yaml"
    local.write_text("program: prog.py\nmethod: grid\nparameters:\n  a: {values: [1]}\n")
    env = _env(fake_wandb)
    sweep_id = sweepctl(["create", str(local), "-q"], env, tmp_path).stdout.strip()
    assert sweepctl(["agent", sweep_id], env, tmp_path).returncode == 0
    done = sweepctl(["sync", sweep_id, "--project", "p"], env, tmp_path)
    assert done.returncode == 1
    assert "1 runs have no offline wandb run directory" in done.stderr
    assert "point --dir at it" in done.stderr
    assert fake_wandb.runs == {}


# -- sync --------------------------------------------------------------------------------------

LOGGING_PROGRAM = textwrap.dedent(
    """
    import wandb

    run = wandb.init(config={"lr": 0.0, "layers": 1})
    for step in range(3):
        wandb.log({"loss": run.config.lr * run.config.layers / (step + 1)})
    run.finish()
    """
)


@pytest.mark.slow
def test_sync_uploads_a_local_sweeps_offline_runs(fake_wandb, tmp_path):
    (tmp_path / "prog.py").write_text(LOGGING_PROGRAM)
    local = tmp_path / "local.yaml"
    local.write_text(
        "name: phase3-lr\nprogram: prog.py\nmethod: grid\nproject: gcode\n"
        "metric: {name: loss, goal: minimize}\n"
        "parameters:\n  lr: {values: [0.1, 0.2]}\n  layers: {value: 3}\n"
    )
    env = _env(fake_wandb)
    created = sweepctl(["create", str(local), "-q"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    sweep_id = created.stdout.strip()
    # W&B credentials are set (the fake's), so say offline explicitly, as on a cluster node.
    ran = sweepctl(["agent", sweep_id], {**env, "WANDB_MODE": "offline"}, tmp_path, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert fake_wandb.runs == {}, "offline: nothing reached W&B yet"

    dry = sweepctl(["sync", sweep_id, "--dry-run"], env, tmp_path)
    assert dry.returncode == 0 and "would upload 2 runs to gcode" in dry.stdout
    assert fake_wandb.runs == {}

    done = sweepctl(["sync", sweep_id, "--json"], env, tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(report["on_wandb"]) == sorted(report["dirs"]) and len(report["dirs"]) == 2
    assert report["not_on_wandb"] == [] and report["missing"] == []
    runs = [fake_wandb.runs[run_id] for run_id in report["dirs"]]
    assert {(r.entity, r.project, r.group) for r in runs} == {("alice", "gcode", "phase3-lr")}
    assert sorted(r.config["lr"] for r in runs) == [0.1, 0.2]
    assert sorted(r.summary["loss"] for r in runs) == pytest.approx([0.1, 0.2])

    again = sweepctl(["sync", sweep_id], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "2 runs were synced before" in again.stderr


def test_local_only_agent_options_are_refused_before_wandb_is_asked(fake_wandb, tmp_path):
    env = _env(fake_wandb)
    del env["WANDB_API_KEY"]  # not logged in: the option is still the first thing said
    done = sweepctl(["agent", "alice/p/abcdefgh", "--idle-exit", "5m"], env, tmp_path)
    assert done.returncode == 2 and "--idle-exit works only with local sweeps" in done.stderr
    assert fake_wandb.requests == []


@pytest.mark.slow
def test_a_function_agent_on_a_wandb_sweep_runs_wandbs_agent_in_process(fake_wandb, tmp_path):
    sweep_id = fake_wandb.add_sweep(yaml.safe_load(SWEEP.split("sweepctl:")[0]), project="p")
    run_ids = fake_wandb.queue_runs(sweep_id, [{"lr": 0.1, "layers": 2}, {"lr": 0.2, "layers": 4}])
    (tmp_path / "script.py").write_text(
        "import json, os, sys\n"
        "import sweepctl, wandb\n"
        "seen = []\n"
        "def train():\n"
        "    with wandb.init() as run:\n"
        "        seen.append({'id': run.id, 'lr': wandb.config.lr, 'pid': os.getpid()})\n"
        "        wandb.log({'loss': wandb.config.lr})\n"
        "report = sweepctl.agent(sys.argv[1], function=train, count=2)\n"
        "print(json.dumps({'seen': seen, 'controller': report.controller}))\n"
    )
    env = _env(fake_wandb)
    done = subprocess.run(
        [sys.executable, "script.py", f"alice/p/{sweep_id}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["controller"] == "wandb"
    assert sorted(s["id"] for s in out["seen"]) == sorted(run_ids)
    assert sorted(s["lr"] for s in out["seen"]) == [0.1, 0.2]
    assert len(fake_wandb.agents) == 1  # one W&B agent, in the script's own process


def test_a_function_agent_on_a_wandb_sweep_refuses_workers(fake_wandb, tmp_path):
    sweep_id = fake_wandb.add_sweep(yaml.safe_load(SWEEP.split("sweepctl:")[0]), project="p")
    env = _env(fake_wandb)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, sweepctl\n"
            "try:\n"
            "    sweepctl.agent(sys.argv[1], function=print, workers=2)\n"
            "except sweepctl.SweepctlError as exc:\n"
            "    print(exc)\n",
            f"alice/p/{sweep_id}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "runs its calls in this process, one at a time" in done.stdout
