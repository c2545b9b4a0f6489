"""Whole local sweeps through the real CLI: create, agents, best, export, control, signals."""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path

import pytest
import yaml

from .conftest import ECHO_PROGRAM, pids_running

pytestmark = pytest.mark.slow
# The store's semantics (exactly-once claims, control, signals) run on SQLite and PostgreSQL;
# what happens inside the child does not depend on the store and runs on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("ws", ["sqlite"], indirect=True)

GRID = """
program: prog.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [-2, -1, 0, 1, 2, 3]}
  y: {values: [0.5, 1.5]}
  z: {min: 1, max: 2}
"""


def test_grid_run_by_three_agents_runs_every_point_exactly_once(ws):
    # Runs of half a second: the grid outlasts every agent's start, even on a loaded machine.
    ws.file("prog.py", ECHO_PROGRAM + "import time\ntime.sleep(0.5)\n")
    ws.file("grid.yaml", GRID)
    sweep = ws.create("grid.yaml")
    agents = [ws.popen("agent", sweep) for _ in range(3)]
    for proc in agents:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    runs = ws.json("runs", sweep)
    configs = [(r["config"]["x"], r["config"]["y"], r["config"]["z"]) for r in runs]
    expected = list(itertools.product([-2, -1, 0, 1, 2, 3], [0.5, 1.5], [1, 2]))
    assert sorted(configs) == sorted(expected)  # every point, none twice
    assert {r["state"] for r in runs} == {"finished"}
    # All three agents took part and each stopped because the grid was exhausted.
    assert len(set(ws.sql("select agent_id from sweepctl_runs"))) == 3
    listed = ws.json("ls")
    assert listed[0]["state"] == "finished"
    assert "grid points" in listed[0]["state_reason"]

    best = ws.json("best", sweep)
    assert best["config"] == {"x": 0, "y": 0.5, "z": 1}
    assert best["metric"] == {"name": "loss", "goal": "minimize", "value": 0.5}


@SQLITE_ONLY
def test_random_sweep_is_reproducible_with_a_seed(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    text = """
    program: prog.py
    method: random
    parameters:
      x: {min: -3.0, max: 3.0}
      y: {distribution: log_uniform_values, min: 0.001, max: 1.0}
      opt: {values: [adam, sgd, lion]}
    sweepctl: {seed: SEED}
    """
    ws.file("a.yaml", text.replace("SEED", "11"))
    ws.file("b.yaml", text.replace("SEED", "12"))
    first, again, other = ws.create("a.yaml"), ws.create("a.yaml"), ws.create("b.yaml")
    for sweep in (first, again, other):
        ws.run("agent", sweep, "--count", "4")
    configs = {s: [r["config"] for r in ws.json("runs", s)] for s in (first, again, other)}
    assert len(configs[first]) == 4
    assert configs[first] == configs[again]
    assert configs[first] != configs[other]


@SQLITE_ONLY
def test_macros_reach_the_program_for_every_value_type(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file(
        "types.yaml",
        """
        program: prog.py
        method: grid
        command:
          - ${env}
          - ${interpreter}
          - ${program}
          - ${args}
          - ${args_no_boolean_flags}
          - ${project}
          - --home=${envvar:SWEEP_TEST_HOME}
        parameters:
          f: {value: 0.00001}
          i: {value: 3}
          b: {values: [true]}
          n: {value: null}
          s: {value: hello world}
          l: {value: [1, 2]}
        """,
    )
    ws.env["SWEEP_TEST_HOME"] = "/data"
    sweep = ws.create("types.yaml")
    ws.run("agent", sweep)
    (run,) = ws.json("runs", sweep)
    expected_args = ["--b=True", "--f=1e-05", "--i=3", "--l=[1, 2]", "--n=None", "--s=hello world"]
    flags = ["--b", "--f=1e-05", "--i=3", "--l=[1, 2]", "--n=None", "--s=hello world"]
    assert run["summary"]["argv"] == [*expected_args, *flags, "--home=/data"]


@SQLITE_ONLY
def test_child_environment_and_plain_wandb_init_sees_the_config(ws):
    ws.file(
        "prog.py",
        """
        import json, os
        import wandb
        run = wandb.init(config={"lr": 0.5, "depth": 1, "extra": "kept"})
        with open(os.environ["SWEEPCTL_RUN_ID"] + ".seen.json", "w") as fh:
            json.dump({"config": dict(run.config), "id": run.id,
                       "env": {k: v for k, v in os.environ.items() if k.startswith("WANDB_")}}, fh)
        run.finish()
        """,
    )
    ws.file(
        "w.yaml",
        """
        program: prog.py
        method: grid
        parameters:
          lr: {values: [0.001]}
          opt:
            parameters:
              name: {value: adam}
              beta: {values: [0.9]}
        """,
    )
    sweep = ws.create("w.yaml")
    ws.run("agent", sweep, timeout=180)
    (run,) = ws.json("runs", sweep)
    assert run["state"] == "finished", run
    seen = json.loads((ws.root / f"{run['run_id']}.seen.json").read_text())
    assert seen["config"] == {
        "lr": 0.001,
        "depth": 1,
        "extra": "kept",
        "opt": {"beta": 0.9, "name": "adam"},
    }
    assert seen["id"] == run["run_id"]
    assert "WANDB_SWEEP_ID" not in seen["env"]
    assert seen["env"]["WANDB_RUN_ID"] == run["run_id"]


@SQLITE_ONLY
def test_metrics_from_plain_wandb_log_reach_best(ws):
    ws.file(
        "prog.py",
        """
        import sys
        import wandb
        x = float(sys.argv[1].split("=")[1])
        run = wandb.init()
        for step in range(3):
            wandb.log({"val/acc": 1 - abs(x - 0.3) - 0.1 * (2 - step)})
        run.finish()
        """,
    )
    ws.file(
        "acc.yaml",
        """
        program: prog.py
        method: grid
        metric: {name: val/acc, goal: maximize}
        parameters:
          x: {values: [0.1, 0.3, 0.9]}
        """,
    )
    sweep = ws.create("acc.yaml")
    ws.run("agent", sweep, timeout=240)
    best = ws.json("best", sweep)
    assert best["config"] == {"x": 0.3}
    assert best["metric"]["value"] == pytest.approx(1.0)
    runs = ws.json("runs", sweep)
    assert all(r["summary"]["_step"] == 2 for r in runs)


SLOW_PROGRAM = """
import os, sys, time
import sweepctl
for step in range(600):
    sweepctl.log({"loss": 1.0 / (step + 1)})
    time.sleep(0.05)
"""

SLOW_SWEEP = """
program: prog.py
method: grid
metric: {name: loss}
parameters:
  a: {values: [1, 2, 3, 4, 5, 6]}
"""


def _wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _running(ws, sweep):
    return [r for r in ws.json("runs", sweep) if r["state"] == "running"]


def test_stop_lets_running_runs_finish_and_cancel_kills_them(ws):
    ws.file("prog.py", SLOW_PROGRAM.replace("600", "100"))  # 5 s: time to say stop
    ws.file("s.yaml", SLOW_SWEEP)
    sweep = ws.create("s.yaml")
    proc = ws.popen("agent", sweep, "--workers", "2")
    _wait_for(lambda: len(_running(ws, sweep)) == 2)
    ws.run("stop", sweep)
    claimed = len(ws.json("runs", sweep))  # on a busy machine a run may end before `stop`
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    runs = ws.json("runs", sweep)
    assert len(runs) == claimed < 6  # no new run after the stop
    assert {r["state"] for r in runs} == {"finished"}

    ws.file("prog.py", SLOW_PROGRAM)
    sweep = ws.create("s.yaml")
    proc = ws.popen("agent", sweep, "--workers", "2")
    _wait_for(lambda: len(_running(ws, sweep)) == 2)
    ws.run("stop", sweep, "--cancel")
    proc.communicate(timeout=60)
    runs = ws.json("runs", sweep)
    assert [r["state"] for r in runs] == ["killed", "killed"]
    assert all(r["reason"] == "the sweep was canceled" for r in runs)


def test_pause_keeps_agents_waiting_until_resume(ws):
    ws.file("prog.py", SLOW_PROGRAM.replace("600", "4"))
    ws.file("s.yaml", SLOW_SWEEP)
    sweep = ws.create("s.yaml")
    ws.run("pause", sweep)
    proc = ws.popen("agent", sweep, "--count", "2")
    time.sleep(3)
    assert ws.json("runs", sweep) == []  # paused: nothing started
    assert proc.poll() is None  # ... and the agent is still waiting
    ws.run("resume", sweep)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert [r["state"] for r in ws.json("runs", sweep)] == ["finished", "finished"]


def test_ctrl_c_stops_children_records_them_and_exits_130(ws):
    ws.file("prog.py", SLOW_PROGRAM + "\nopen('never', 'w')\n")
    ws.file("s.yaml", SLOW_SWEEP)
    sweep = ws.create("s.yaml")
    proc = ws.popen("agent", sweep, "--workers", "2")
    _wait_for(lambda: len(_running(ws, sweep)) == 2)
    pids = [int(p) for (p,) in ws.sql("select pid from sweepctl_agents")]
    assert pids == [proc.pid]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    runs = ws.json("runs", sweep)
    assert [r["state"] for r in runs] == ["killed", "killed"]
    assert not (ws.root / "never").exists()
    # No orphans: no process is left with the program's command line.
    assert pids_running("prog.py", ws.root) == []


UNTIL_FAST = """
import os, time
import sweepctl
sweepctl.log({"loss": 1.0})
while not os.path.exists("fast"):
    time.sleep(0.05)
sweepctl.log({"loss": 0.5})
"""


@pytest.mark.slow
def test_grid_points_interrupted_by_ctrl_c_are_run_again(ws):
    ws.file("prog.py", UNTIL_FAST)
    ws.file("s.yaml", SLOW_SWEEP.replace("[1, 2, 3, 4, 5, 6]", "[1, 2]"))
    sweep = ws.create("s.yaml")
    proc = ws.popen("agent", sweep, "--workers", "2")
    _wait_for(lambda: len(_running(ws, sweep)) == 2)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert [r["state"] for r in ws.json("runs", sweep)] == ["killed", "killed"]
    (ws.root / "fast").touch()
    # Ctrl-C judged no config: both points are offered again, and only then is it finished.
    again = ws.run("agent", sweep)
    assert "all grid points have been handed out (4 runs)" in again.stderr
    runs = ws.json("runs", sweep)
    done = sorted(r["config"]["a"] for r in runs if r["state"] == "finished")
    assert done == [1, 2] and len(runs) == 4
    (listed,) = [s for s in ws.json("ls") if s["sweep_id"] == sweep]
    assert listed["state"] == "finished"


@SQLITE_ONLY
def test_export_best_and_export_formats(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file("grid.yaml", GRID.replace("[-2, -1, 0, 1, 2, 3]", "[0, 1]"))
    sweep = ws.create("grid.yaml", "--name", "tiny")
    ws.run("agent", sweep)
    ws.run("export-best", sweep, "--out", "optimal.json")
    assert json.loads((ws.root / "optimal.json").read_text()) == {"x": 0, "y": 0.5, "z": 1}
    assert ws.run("export-best", sweep, "--format", "env").stdout == "x=0\ny=0.5\nz=1\n"
    assert ws.run("export-best", sweep, "--format", "args").stdout == "--x=0 --y=0.5 --z=1\n"
    assert json.loads(ws.run("export-best").stdout) == {"tiny": {"x": 0, "y": 0.5, "z": 1}}
    # Without --format, the file's extension says which format: YAML for .yaml, env for .env.
    ws.run("export-best", sweep, "--out", "best.yaml")
    grouped = yaml.safe_load((ws.root / "best.yaml").read_text())
    assert grouped["tiny"]["config"] == {"x": 0, "y": 0.5, "z": 1}
    ws.run("export-best", sweep, "--out", "best.env")
    assert (ws.root / "best.env").read_text() == "x=0\ny=0.5\nz=1\n"
    ws.run("export", sweep, "--out", "runs.csv")
    header = (ws.root / "runs.csv").read_text().splitlines()[0].split(",")
    assert {"run_id", "state", "metric", "config.x", "config.y", "config.z", "summary.loss"} <= set(
        header
    )
    ws.run("export", sweep, "--out", "runs.jsonl")
    rows = [json.loads(line) for line in (ws.root / "runs.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all("config.x" in r for r in rows)


def test_bad_input_is_one_clear_line(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file("missing.yaml", GRID.replace("prog.py", "does_not_exist.py"))
    proc = ws.run("create", "missing.yaml", "--quiet", check=False)
    if ws.url.startswith("sqlite"):  # only this machine's agents: an error, nothing stored
        assert proc.returncode == 2 and "nothing was stored" in proc.stderr
        assert "missing.yaml:1: error: program: 'does_not_exist.py' not found" in proc.stderr
        sweep = ws.create("missing.yaml", "--no-check-program")  # the agent checks it again
    else:  # agents on other machines may have it: a warning
        assert proc.returncode == 0 and "warning: program: 'does_not_exist.py'" in proc.stderr
        sweep = proc.stdout.strip()
    proc = ws.run("best", "nope", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no sweep 'nope' in this store")
    assert "Traceback" not in proc.stderr

    proc = ws.run("agent", sweep, check=False)
    assert proc.returncode == 2
    assert "program 'does_not_exist.py' not found" in proc.stderr  # the agent's own check
    assert ws.json("runs", sweep) == []  # nothing stored half-way

    env = dict(ws.env, SWEEPCTL_STORAGE=f"sqlite:///{ws.root / 'absent.db'}")  # either store
    proc = ws.run("ls", check=False, env=env)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


@SQLITE_ONLY
def test_failing_program_stops_the_agent_by_w_and_b_rule(ws):
    ws.file("prog.py", "import sys\nprint('boom: bad config')\nsys.exit(3)\n")
    ws.file("grid.yaml", GRID)
    sweep = ws.create("grid.yaml")
    proc = ws.run("agent", sweep, "--workers", "2", check=False)
    assert proc.returncode == 1
    assert "failed within the agent's first minute" in proc.stderr
    assert "boom: bad config" in proc.stderr  # the tail of a failed run is shown
    runs = ws.json("runs", sweep)
    assert 3 <= len(runs) <= 4 and {r["state"] for r in runs} == {"failed"}
    assert runs[0]["exit_code"] == 3


@SQLITE_ONLY
def test_run_cap_target_and_timeout_end_a_sweep(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file(
        "cap.yaml",
        """
        program: prog.py
        method: random
        run_cap: 3
        parameters:
          x: {min: 0.0, max: 1.0}
        """,
    )
    sweep = ws.create("cap.yaml")
    ws.run("agent", sweep, "--count", "3")  # stops at its count, and the cap is reached too
    assert ws.json("ls")[0]["state"] == "finished"
    proc = ws.run("agent", sweep)
    assert len(ws.json("runs", sweep)) == 3
    assert "run_cap 3 reached" in proc.stderr

    # x = 0 gives loss 0.0, which reaches the target: the sweep finishes after that run.
    ws.file(
        "target.yaml",
        GRID.replace(
            "metric: {name: loss, goal: minimize}",
            "metric: {name: loss, goal: minimize, target: 0.6}",
        ),
    )
    sweep = ws.create("target.yaml")
    proc = ws.run("agent", sweep)
    runs = ws.json("runs", sweep)
    assert runs[-1]["metric"] <= 0.6 and len(runs) < 24
    assert "reached the target loss = 0.6" in proc.stderr

    ws.file("slow.py", SLOW_PROGRAM)
    ws.file("t.yaml", SLOW_SWEEP.replace("prog.py", "slow.py"))
    sweep = ws.create("t.yaml")
    ws.run("agent", sweep, "--count", "1", "--timeout", "1s")
    (run,) = ws.json("runs", sweep)
    assert run["state"] == "timeout" and run["reason"] == "ran past the 1s timeout"
    assert run["summary"]["loss"] < 1.0  # metrics logged before the timeout are kept


@SQLITE_ONLY
def test_child_gets_the_documented_environment(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file(
        "g.yaml",
        GRID.replace("[-2, -1, 0, 1, 2, 3]", "[1]")
        .replace("[0.5, 1.5]", "[0.5]")
        .replace("z: {min: 1, max: 2}", "z: {value: 1}"),
    )
    sweep = ws.create("g.yaml", "--name", "envcheck")
    ws.run("agent", sweep)
    (run,) = ws.json("runs", sweep)
    env = json.loads((ws.root / f"{run['run_id']}.env.json").read_text())
    assert env["SWEEPCTL_SWEEP_ID"] == sweep
    assert env["SWEEPCTL_RUN_ID"] == env["WANDB_RUN_ID"] == run["run_id"]
    assert env["WANDB_RUN_GROUP"] == "envcheck"
    assert env["SWEEPCTL_METRICS_FILE"].endswith(f"{run['run_id']}/metrics.jsonl")
    param_file = env["WANDB_SWEEP_PARAM_PATH"]
    assert (
        Path(param_file).read_text()
        == "wandb_version: 1\n\nx:\n  value: 1\ny:\n  value: 0.5\nz:\n  value: 1\n"
    )
    assert "WANDB_SWEEP_ID" not in env


HYPERBAND_PROGRAM = """
import sys, time
import sweepctl
x = int(sys.argv[1].split("=")[1])
for step in range(25):
    sweepctl.log({"loss": x + 1.0 / (step + 1)})
    time.sleep(0.2)
"""


def test_hyperband_stops_bad_runs_of_any_agent_as_soon_as_they_log(ws):
    ws.file("prog.py", HYPERBAND_PROGRAM)
    ws.file(
        "hb.yaml",
        """
        program: prog.py
        method: grid
        metric: {name: loss, goal: minimize}
        early_terminate: {type: hyperband, min_iter: 2, eta: 3}
        parameters:
          x: {values: [0, 1, 2, 3, 4, 5]}
        """,
    )
    sweep = ws.create("hb.yaml")
    first = ws.popen("agent", sweep, "--count", "2", "--workers", "2")
    _wait_for(lambda: len(ws.json("runs", sweep)) == 2)
    second = ws.popen("agent", sweep)  # another agent: its runs are judged the same way
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    runs = {r["config"]["x"]: r for r in ws.json("runs", sweep)}
    assert runs[0]["state"] == "finished"  # the best run is never stopped
    # x = 1 may be stopped too: with two runs in a band and eta 3, W&B's threshold is the best.
    for x in (3, 4, 5):
        assert runs[x]["state"] == "stopped", runs[x]
        assert runs[x]["reason"].startswith("early stop: loss ")
        assert runs[x]["summary"]["_step"] < 24  # stopped well before its 25 steps
    table = ws.run("runs", sweep).stderr
    assert "early termination stopped" in table


@SQLITE_ONLY
def test_agent_output_to_a_pipe_is_plain_lines(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file("grid.yaml", GRID.replace("[-2, -1, 0, 1, 2, 3]", "[0, 1]"))
    sweep = ws.create("grid.yaml")
    proc = ws.run("agent", sweep, "--workers", "2")
    assert "\x1b" not in proc.stdout + proc.stderr  # no colour, no cursor movement
    lines = proc.stderr.splitlines()
    assert sum(" started: x=" in line for line in lines) == 8
    assert sum(" finished in " in line and "loss=" in line for line in lines) == 8
    assert "[8/8 done]" in proc.stderr


@SQLITE_ONLY
def test_launch_runs_files_in_order_and_resumes_without_rerunning(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file("plan/a_grid.yaml", GRID.replace("[-2, -1, 0, 1, 2, 3]", "[0, 1]"))
    ws.file(
        "plan/b_random.yaml",
        "program: prog.py\nmethod: random\nmetric: {name: loss}\n"
        "parameters:\n  x: {min: 0.0, max: 1.0}\n",
    )
    plan = ws.run("launch", "plan", "--count", "3", "--dry-run").stdout.splitlines()
    assert plan[0].startswith("new     plan/a_grid.yaml  (grid, 8 grid points: 3 runs)")
    assert plan[1].startswith("new     plan/b_random.yaml  (random: 3 runs)")
    assert ws.json("ls") == []  # a dry run creates nothing

    ws.run("launch", "plan", "--count", "3")
    first = {s["source"]: s for s in ws.json("ls")}
    assert [s["runs"] for s in first.values()] == [3, 3]

    plan = ws.run("launch", "plan", "--count", "3", "--dry-run").stdout
    assert plan.count("skip    plan/") == 2
    proc = ws.run("launch", "plan", check=False)  # random never ends by itself
    assert proc.returncode == 2 and "give --count N" in proc.stderr
    ws.run("launch", "plan", "--count", "10")
    again = {s["source"]: s for s in ws.json("ls")}
    assert again["plan/a_grid.yaml"]["sweep_id"] == first["plan/a_grid.yaml"]["sweep_id"]
    assert again["plan/a_grid.yaml"]["runs"] == 8  # continued to its end, none run twice
    assert again["plan/a_grid.yaml"]["state"] == "finished"
    assert again["plan/b_random.yaml"]["runs"] == 10  # 7 more, not 10 more


@SQLITE_ONLY
def test_sweep_first_export_and_run_best_with_seeds(ws):
    ws.file("prog.py", ECHO_PROGRAM)
    ws.file("grid.yaml", GRID.replace("[-2, -1, 0, 1, 2, 3]", "[0, 1]"))
    sweep = ws.create("grid.yaml", "--name", "phase")
    ws.run("agent", sweep)
    ws.run("export-best", "--format", "yaml", "--out", "optimal_hyperparameters.yaml")
    import yaml

    grouped = yaml.safe_load((ws.root / "optimal_hyperparameters.yaml").read_text())
    assert grouped["phase"]["expected"] == {"loss": 0.5}
    assert grouped["phase"]["config"] == {"x": 0, "y": 0.5, "z": 1}

    result = json.loads(ws.run("run-best", sweep, "--seeds", "1,2,3", "--json").stdout)
    assert result["values"] == [0.5, 0.5, 0.5] and result["mean"] == 0.5 and result["std"] == 0
    seeded = ws.json("runs", result["sweep_id"])
    assert [r["config"] for r in seeded] == [
        {"seed": s, "x": 0, "y": 0.5, "z": 1} for s in (1, 2, 3)
    ]


TRAIN = Path(__file__).resolve().parents[2] / "scripts" / "train.py"


SMOKE = {
    "num_programs": 24,
    "lines_per_program": 16,
    "seq_len": 16,
    "d_model": 16,
    "num_layers": 1,
    "num_heads": 2,
    "epochs": 1,
    "batch_size": 64,
    "warmup_epochs": 0,
}


@SQLITE_ONLY
@pytest.mark.parametrize("command", ["default", "args"])
def test_train_script_gets_exactly_the_sweep_config_and_its_metrics_reach_the_store(ws, command):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    (ws.root / "scripts").mkdir()
    (ws.root / "scripts" / "train.py").write_text(TRAIN.read_text())
    (ws.root / "configs").mkdir()
    (ws.root / "configs" / "train.yaml").write_text(
        (TRAIN.parents[1] / "configs" / "train.yaml").read_text()
    )
    lines = "command:\n  - ${env}\n  - ${interpreter}\n  - ${program}\n  - ${args}\n"
    constants = "".join(f"  {k}: {{value: {v}}}\n" for k, v in SMOKE.items())
    ws.file(
        "t.yaml",
        "program: scripts/train.py\nmethod: grid\nmetric: {name: val/loss}\n"
        + (lines if command == "args" else "")
        + "parameters:\n"
        + constants
        + "  vocab_bucket_digits: {values: [null]}\n  lr: {values: [0.002]}\n"
        "  augmentation: {value: false}\n",
    )
    ws.env["TRAIN_RECORD_INPUTS"] = str(ws.root / "inputs.json")
    sweep = ws.create("t.yaml")
    ws.run("agent", sweep, timeout=300)
    (run,) = ws.json("runs", sweep)
    assert run["state"] == "finished", run
    seen = json.loads((ws.root / "inputs.json").read_text())
    expected = {**SMOKE, "augmentation": False, "lr": 0.002, "vocab_bucket_digits": None}
    assert seen["argv"] == [f"--{k}={expected[k]}" for k in sorted(expected)]
    assert {k: seen["wandb_config"][k] for k in expected} == expected
    assert run["config"] == expected
    assert run["metric"] == run["summary"]["val/loss"]  # one epoch: the only value
    assert {"train/loss", "val/acc_command", "val/acc_value", "epoch"} <= set(run["summary"])


@SQLITE_ONLY
def test_launch_keeps_the_campaign_order_and_carries_the_best(ws):
    """A folder runs in its campaign file's order, not by file name; with carry_best the
    second phase fixes what it does not search to the first phase's best."""
    ws.file("prog.py", ECHO_PROGRAM)
    # Named so that name order would run phase 2 first.
    ws.file(
        "phases/z_first.yaml",
        "program: prog.py\nmethod: grid\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {values: [-1, 0, 2]}\n  y: {value: 5}\n",
    )
    ws.file(
        "phases/a_second.yaml",
        "program: prog.py\nmethod: grid\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {value: 3}\n  y: {values: [0.5, 1.5]}\n",
    )
    ws.file("phases/campaign.yaml", "sweeps: [z_first.yaml, a_second.yaml]\ncarry_best: true\n")
    plan = ws.run("launch", "phases", "--dry-run").stdout.splitlines()
    assert plan[0].startswith("new     phases/z_first.yaml  (grid, 3 grid points")
    assert plan[1].startswith("new     phases/a_second.yaml  (grid, 2 grid points")
    assert plan[1].endswith("starting from the best so far)")

    done = ws.run("launch", "phases")
    assert "with the best x so far" in done.stderr  # y is searched in phase 2: not carried
    first, second = ws.json("ls")
    assert (first["source"], second["source"]) == ("phases/z_first.yaml", "phases/a_second.yaml")
    runs = ws.json("runs", second["sweep_id"])
    # x fixed to phase 1's best (x=0: loss 0 + 5), not the file's x=3; y searched.
    assert sorted((r["config"]["x"], r["config"]["y"]) for r in runs) == [(0, 0.5), (0, 1.5)]
    # Run again: both phases are found (carried constants and all) and nothing runs twice.
    again = ws.run("launch", "phases", "--dry-run").stdout
    assert again.count("skip    phases/") == 2

    ws.file("phases/campaign.yaml", "sweeps: [z_first.yaml, missing.yaml]\n")
    proc = ws.run("launch", "phases", "--dry-run", check=False)
    assert proc.returncode == 2 and "the campaign lists 'missing.yaml'" in proc.stderr
