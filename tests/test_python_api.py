"""The Python API a script or notebook uses: ``sweepctl.sweep``, ``sweepctl.agent(function=)``,
``sweepctl.init``, the results and ``sweepctl.Api``. Scripts that import wandb run in their own
interpreter (as a user's would); the rest runs here, in this process, as a notebook would."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sweepctl
from sweepctl.errors import EXIT_INTERRUPTED, SweepctlError, UsageError

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2, 3]}},
}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store of this test's own; the working directory is the test's folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEPCTL_STORAGE", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    return str(tmp_path / "store" / "sweeps.db")


def run_script(tmp_path: Path, code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPCTL_", "WANDB_"))}
    env["WANDB_MODE"] = "offline"
    env["WANDB_SILENT"] = "true"
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


# -- the W&B guide's script, with wandb. changed to sweepctl. -------------------------------


@pytest.mark.slow
def test_the_wandb_guide_script_runs_offline_with_sweepctl(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import json
        import sweepctl
        import wandb

        sweep_config = {
            "method": "bayes",
            "metric": {"name": "eval/loss", "goal": "minimize"},
            "parameters": {
                "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "batch_size": {"values": [8, 16, 32]},
            },
        }

        def train():
            with wandb.init() as run:
                lr = wandb.config.learning_rate
                for epoch in range(3):
                    wandb.log({"eval/loss": (lr - 0.01) ** 2 + 0.001 / (epoch + 1)})

        sweep_id = sweepctl.sweep(sweep_config, project="hf-sweep")
        sweepctl.agent(sweep_id, function=train, count=6)
        best = sweepctl.best(sweep_id)
        runs = sweepctl.runs(sweep_id)
        print(json.dumps({
            "best": best.to_json(),
            "value": best.value,
            "runs": runs.to_json(),
            "history": {r.id: sweepctl.Api().sweep(sweep_id).runs[i].history()
                        for i, r in enumerate(runs)},
        }))
        """,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    runs = out["runs"]
    assert len(runs) == 6 and {r["state"] for r in runs} == {"finished"}
    logged = {
        rid: [row["eval/loss"] for row in rows if "eval/loss" in row]
        for rid, rows in out["history"].items()
    }
    assert all(len(values) == 3 for values in logged.values())
    # Each run's values come from its own config: wandb.config held that run's values.
    for run in runs:
        lr = run["config"]["learning_rate"]
        assert logged[run["run_id"]][0] == pytest.approx((lr - 0.01) ** 2 + 0.001)
    lowest = min(min(values) for values in logged.values())
    assert out["value"] == pytest.approx(lowest)
    assert out["best"]["run_id"] == min(logged, key=lambda rid: min(logged[rid]))


@pytest.mark.slow
def test_two_function_runs_never_share_a_wandb_run_or_config(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import json
        import sweepctl
        import wandb

        seen = []

        def train():
            run = wandb.init(config={"unused_default": 1})
            seen.append({"run": run.id, "x": wandb.config.x, "keys": sorted(wandb.config.keys()),
                         "env_run": __import__("os").environ.get("WANDB_RUN_ID")})
            wandb.log({"loss": wandb.config.x})
            # no wandb.finish(): the agent must end this run before the next one

        sweep_id = sweepctl.sweep({"method": "grid", "metric": {"name": "loss"},
                                   "parameters": {"x": {"values": [1, 2, 3]}}})
        sweepctl.agent(sweep_id, function=train)
        print(json.dumps({"seen": seen, "left": wandb.run is not None,
                          "runs": sweepctl.runs(sweep_id).to_json()}))
        """,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    seen, runs = out["seen"], out["runs"]
    assert [s["x"] for s in seen] == [1, 2, 3]
    assert len({s["run"] for s in seen}) == 3
    assert [s["run"] for s in seen] == [r["run_id"] for r in runs]
    assert all(s["keys"] == ["unused_default", "x"] for s in seen)
    assert not out["left"]  # no wandb.run outlives the agent
    assert [r["metric"] for r in runs] == [1, 2, 3]


# -- function runs in this process ----------------------------------------------------------


def test_a_function_that_raises_fails_its_run_and_the_agent_goes_on(store: str) -> None:
    def train() -> None:
        with sweepctl.init() as run:
            if run.config["x"] == 2:
                raise ValueError("x=2 diverged")
            run.log({"loss": run.config.x * 10})

    sweep_id = sweepctl.sweep(GRID, storage=store)
    report = sweepctl.agent(sweep_id, function=train, storage=store)
    assert report.exit_code == 0
    runs = sweepctl.runs(sweep_id, storage=store).runs
    assert [(r.config["x"], r.state) for r in runs] == [
        (1, "finished"),
        (2, "failed"),
        (3, "finished"),
    ]
    failed = runs[1]
    assert failed.reason == "ValueError: x=2 diverged"
    log = Path(store).parent / "runs" / sweep_id / failed.id / "output.log"
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "x=2 diverged" in text
    assert sweepctl.best(sweep_id, storage=store).config == {"x": 1}


def test_a_run_whose_set_up_raises_leaves_the_environment_as_it_was(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    function_agent = importlib.import_module("sweepctl.agent.function")  # sweepctl.agent: the API

    def broken() -> None:
        raise RuntimeError("set-up broke")

    monkeypatch.setattr(function_agent, "_wandb_fresh", broken)
    monkeypatch.setenv("WANDB_SWEEP_ID", "outer-sweep")
    before = dict(os.environ)
    sweep_id = sweepctl.sweep(GRID, storage=store)
    with pytest.raises(SweepctlError, match="set-up broke"):  # as `sweepctl agent` fails
        sweepctl.agent(sweep_id, function=lambda: None, storage=store, count=1)
    assert dict(os.environ) == before  # no run's WANDB_RUN_ID, config path or sweep id left
    [run] = sweepctl.runs(sweep_id, storage=store).runs
    assert run.state == "failed" and "set-up broke" in (run.reason or "")


def test_ctrl_c_in_a_function_run_kills_it_and_ends_the_agent(store: str) -> None:
    calls = []

    def train() -> None:
        run = sweepctl.init()
        calls.append(run.config["x"])
        run.log({"loss": 1.0})
        if run.config["x"] == 2:
            raise KeyboardInterrupt

    sweep_id = sweepctl.sweep(GRID, storage=store)
    report = sweepctl.agent(sweep_id, function=train, storage=store)
    assert calls == [1, 2]  # nothing ran after the interrupt
    assert report.interrupted and report.exit_code == EXIT_INTERRUPTED
    runs = sweepctl.runs(sweep_id, storage=store).runs
    assert [(r.config["x"], r.state) for r in runs] == [(1, "finished"), (2, "killed")]
    assert runs[1].steps == 1  # what it logged before the interrupt is kept


def test_hyperband_ends_a_function_run_at_its_next_logged_step(store: str) -> None:
    steps_done: dict[int, int] = {}

    def train() -> None:
        run = sweepctl.init()
        quality = run.config["quality"]
        for step in range(40):
            steps_done[quality] = step + 1
            run.log({"loss": quality * 10.0 / (step + 1)})
            __import__("time").sleep(0.05)

    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2},
        "parameters": {"quality": {"values": [1, 5, 9]}},
    }
    sweep_id = sweepctl.sweep(config, storage=store)
    sweepctl.agent(sweep_id, function=train, storage=store)
    runs = {r.config["quality"]: r for r in sweepctl.runs(sweep_id, storage=store).runs}
    assert runs[1].state == "finished" and steps_done[1] == 40
    stopped = [q for q, r in runs.items() if r.state == "stopped"]
    assert stopped, {q: (r.state, r.reason) for q, r in runs.items()}
    for q in stopped:
        assert runs[q].reason.startswith("early stop")
        assert steps_done[q] < 40  # ended inside the function, not after it returned
        assert runs[q].steps == steps_done[q]


def test_a_canceled_sweep_ends_the_running_function_run(store: str) -> None:
    def train() -> None:
        run = sweepctl.init()
        for step in range(200):
            run.log({"loss": float(step)})
            if step == 3:
                sweepctl.cancel(run.sweep_id, storage=store)
            __import__("time").sleep(0.02)

    sweep_id = sweepctl.sweep(GRID, storage=store)
    sweepctl.agent(sweep_id, function=train, storage=store)
    runs = sweepctl.runs(sweep_id, storage=store).runs
    assert [(r.state, r.reason) for r in runs] == [("killed", "the sweep was canceled")]
    assert runs[0].steps < 200


def test_a_typo_in_a_sweep_dict_names_its_key_path_and_stores_nothing(store: str) -> None:
    bad = {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"valus": [0.1, 0.01]}},
    }
    with pytest.raises(SweepctlError) as caught:
        sweepctl.sweep(bad, storage=store)
    text = str(caught.value)
    assert "parameters.lr" in text and "did you mean 'values'?" in text
    assert caught.value.exit_code == 2
    assert not Path(store).exists()  # nothing stored, not even an empty store
    with pytest.raises(SweepctlError, match="must be a dict"):
        sweepctl.sweep(["method", "grid"], storage=store)  # type: ignore[arg-type]


def test_a_function_that_cannot_reach_worker_processes_is_refused(store: str) -> None:
    def local_train() -> None:  # defined inside a function: no worker can import it
        pass

    sweep_id = sweepctl.sweep(GRID, storage=store)
    with pytest.raises(UsageError, match="cannot be sent to worker processes"):
        sweepctl.agent(sweep_id, function=local_train, workers=2, storage=store)
    with pytest.raises(UsageError, match="not of the form 'module:function'"):
        sweepctl.agent(sweep_id, function="train", workers=2, storage=store)
    assert sweepctl.runs(sweep_id, storage=store).runs == []


def test_workers_run_a_named_function_each_with_its_own_gpu_group(store: str) -> None:
    Path("train_lib.py").write_text(
        textwrap.dedent(
            """
            import os
            import time
            import sweepctl

            def train():
                with sweepctl.init() as run:
                    time.sleep(0.3)
                    run.log({"loss": run.config["x"], "pid": os.getpid(),
                             "gpu": int(os.environ["CUDA_VISIBLE_DEVICES"])})
            """
        )
    )
    config = {**GRID, "parameters": {"x": {"values": [1, 2, 3, 4]}}}
    sweep_id = sweepctl.sweep(config, storage=store)
    report = sweepctl.agent(sweep_id, function="train_lib:train", gpus=[0, 1], storage=store)
    assert report.workers == 2 and report.exit_code == 0
    runs = sweepctl.runs(sweep_id, storage=store).runs
    assert [r.state for r in runs] == ["finished"] * 4
    assert {r.summary["gpu"] for r in runs} == {0, 1}
    assert os.getpid() not in {r.summary["pid"] for r in runs}
    assert sorted(r.metric for r in runs) == [1, 2, 3, 4]


def test_a_function_given_by_name_runs_in_this_process_with_one_worker(store: str) -> None:
    Path("named.py").write_text(
        "import os, sweepctl\n"
        "def train():\n"
        "    run = sweepctl.init()\n"
        "    run.log({'loss': run.config['x'], 'pid': os.getpid()})\n"
    )
    sweep_id = sweepctl.sweep(GRID, storage=store)
    sweepctl.agent(sweep_id, function="named:train", count=2, storage=store)
    runs = sweepctl.runs(sweep_id, storage=store).runs
    assert [r.summary["pid"] for r in runs] == [os.getpid()] * 2


# -- sweepctl.init without wandb ------------------------------------------------------------


def test_init_outside_a_sweep_gives_the_defaults_and_logs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("SWEEPCTL_RUN_ID", "SWEEPCTL_METRICS_FILE", "WANDB_SWEEP_PARAM_PATH"):
        monkeypatch.delenv(key, raising=False)
    with sweepctl.init(config={"lr": 0.1}, project="ignored") as run:
        assert run.config.lr == 0.1 and run.id is None
        run.log({"loss": 1.0})  # a no-op outside a sweep


def test_init_in_a_cli_agent_child_reads_the_config_and_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "train.py").write_text(
        "import sweepctl\n"
        "with sweepctl.init(config={'x': 0, 'scale': 10}) as run:\n"
        "    run.log({'loss': run.config.x * run.config.scale})\n"
    )
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: loss}\nprogram: train.py\n"
        "parameters:\n  x: {values: [1, 2]}\n"
    )
    store = str(tmp_path / "s.db")
    sweep_id = sweepctl.sweep("sweep.yaml", storage=store)
    sweepctl.agent(sweep_id, storage=store)  # no function: the sweep's command
    runs = sweepctl.runs(sweep_id, storage=store).runs
    assert [(r.state, r.metric) for r in runs] == [("finished", 10), ("finished", 20)]


# -- results from Python --------------------------------------------------------------------


def cli_json(*args: str) -> object:
    done = subprocess.run(
        [sys.executable, "-m", "sweepctl", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_results_match_what_the_cli_prints_with_json(store: str, tmp_path: Path) -> None:
    def train() -> None:
        run = sweepctl.init()
        run.log({"loss": (run.config["x"] - 2) ** 2})

    sweep_id = sweepctl.sweep(GRID, storage=store, name="py-results")
    sweepctl.agent(sweep_id, function=train, storage=store)
    best = sweepctl.best(sweep_id, storage=store)
    assert best.config == {"x": 2} and best.value == 0
    assert best.to_json() == cli_json("best", sweep_id, "--storage", store)
    assert sweepctl.runs(sweep_id, storage=store).to_json() == cli_json(
        "runs", sweep_id, "--storage", store
    )
    finished = sweepctl.runs(sweep_id, state="finished", storage=store)
    assert len(finished) == 3

    text = sweepctl.export_best(sweep_id, tmp_path / "optimal_hyperparameters.json", storage=store)
    assert json.loads((tmp_path / "optimal_hyperparameters.json").read_text()) == json.loads(text)
    assert json.loads(text) == {"x": 2}  # one sweep's JSON is its best config

    api = sweepctl.Api(storage=store)
    view = api.sweep(sweep_id)
    assert view.name == "py-results" and view.state == "finished"
    best_run = view.best_run()
    assert best_run is not None and best_run.id == best.run.id
    assert best_run.config == {"x": 2} and best_run.summary["loss"] == 0
    assert [row["loss"] for row in best_run.history()] == [0]
    assert api.run(sweep_id, best_run.id).state == "finished"
    assert [s.id for s in api.sweeps()] == [sweep_id]


def test_sweep_controls_from_python(store: str) -> None:
    sweep_id = sweepctl.sweep(GRID, storage=store)
    api = sweepctl.Api(storage=store)
    for control, state in (
        (sweepctl.pause, "paused"),
        (sweepctl.resume, "running"),
        (sweepctl.stop, "stopped"),
    ):
        result = control(sweep_id, storage=store)
        assert result.to_json()["action"] == control.__name__
        assert api.sweep(sweep_id).state == state
    report = sweepctl.agent(sweep_id, function=lambda: None, storage=store)
    assert report.started == 0  # a stopped sweep hands out nothing
    with pytest.raises(UsageError):
        sweepctl.pause(sweep_id, storage=store)  # a stopped sweep cannot be paused


# -- the package ------------------------------------------------------------------------------


def test_the_public_names_are_all_there_and_agent_stays_the_function() -> None:
    import sweepctl.agent.loop  # the subpackage, imported by name

    assert callable(sweepctl.agent) and sweepctl.agent.__module__ == "sweepctl.library"
    for name in sweepctl.__all__:
        assert getattr(sweepctl, name) is not None, name
    assert (Path(sweepctl.__file__).parent / "py.typed").exists()


def test_import_sweepctl_stays_light(tmp_path: Path) -> None:
    code = (
        "import sys, json, sweepctl\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(done.stdout))
    assert not loaded & {"wandb", "sqlalchemy", "yaml", "typer", "rich", "numpy", "optuna"}


def test_a_function_agent_in_a_slurm_task_says_which_task_ran_each_run(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the CLI agent does: `runs` shows the job array task that ran each run."""
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")

    def train() -> None:
        with sweepctl.init() as run:
            run.log({"loss": run.config["x"]})

    sweep_id = sweepctl.sweep(GRID, storage=store)
    sweepctl.agent(sweep_id, function=train, storage=store)
    listed = sweepctl.runs(sweep_id, storage=store).to_json()
    assert [r["slurm_task"] for r in listed] == ["77_3"] * 3
