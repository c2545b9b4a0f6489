"""The engines of the search benchmark, and one way to run each for a budget of runs.

* ``sweepctl-bayes``, ``sweepctl-random``: the real CLI. A sweep file per problem, ``sweepctl
  create``, ``sweepctl agent --count B [--workers 4]`` launching bench/problems/run_problem.py
  through W&B's command macros, then ``sweepctl runs --json``. Parallel: 4 workers claiming
  concurrently, as users run it.
* ``wandb-bayes``: W&B's own engine (``sweeps`` 0.3.0) in its own virtualenv, behind
  wandb_driver.py: ``sweeps.next_run(sweep_config, runs)`` with SweepRun objects.
* ``optuna-tpe``: ``TPESampler(seed, constant_liar=True)``; the liar only acts on running
  trials, so sequential runs are the default TPE and parallel ones get Optuna's own handling
  of pending points.
* ``optuna-gp``: ``GPSampler(seed)``, which models running trials itself.
* ``hebo``: HEBO 0.3.6 in bench/.venvs/hebo, behind hebo_driver.py: ``suggest(n)`` (its own
  batch mode for 4 at a time), ``observe``.
* ``ax-botorch``: Ax's ``Client`` (ax-platform 1.x, BoTorch underneath) in bench/.venvs/ax,
  behind ax_driver.py: its default generation strategy (quasi-random start, then a GP with
  log-NEI), ``get_next_trials(1)`` (the trials in flight pending), ``complete_trial``.
* ``random``: plain independent sampling of each parameter from its W&B distribution.

Every engine but sweepctl's is asked and told in this process, with the shared objective. One
at a time: ask one config, evaluate it, tell its value. With 4 workers, the way each engine's
own parallel workers run (:func:`run_parallel`): asynchronously for W&B (each ``wandb agent``
is given a run when its run ends, the others still running; W&B's local controller computes the
next run ahead of the request, so it may know one result fewer than here), Optuna (workers
sharing a study), Ax (its scheduler, or Ray Tune's ``AxSearch``, asks when a trial ends, with
the rest pending) and random: 4 asks, each aware of the earlier ones as pending, then each time
the oldest run ends its value is told and one config asked, 3 still in flight; HEBO in
synchronous rounds of 4 (``suggest(n_suggestions=4)``, then all 4 told), because HEBO knows no
pending points and Ray Tune's ``HEBOSearch`` (``max_concurrent=4``) does the same: it waits for
the whole batch before it asks again. sweepctl's own workers are asynchronous as well.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from problems import METRIC, PROBLEMS, Param, evaluate, optuna_distributions, wandb_parameters

from searchbench.environments import AX_VENV, BENCH, HEBO_VENV, REPO, WANDB_VENV

PROGRAM = BENCH / "problems" / "run_problem.py"

CLI_ENGINES = ("sweepctl-bayes", "sweepctl-random")
VENV_ENGINES = {"hebo": (HEBO_VENV, "hebo_driver.py"), "ax-botorch": (AX_VENV, "ax_driver.py")}
ENGINES = (*CLI_ENGINES, "wandb-bayes", "optuna-tpe", "optuna-gp", *VENV_ENGINES, "random")


@dataclass
class Trace:
    """One engine's runs on one problem, in the order the configs were suggested."""

    configs: list[dict[str, Any]]
    values: list[float | None]  # None: the run reported no value (failed)
    seconds: float  # wall time of the whole sweep
    suggest_seconds: float | None = None  # time inside the engine (ask/tell engines only)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def child_env() -> dict[str, str]:
    """Environment for every child: this interpreter's venv first on PATH, one BLAS thread.

    W&B's command macros launch ``/usr/bin/env python``: it must be the python that has
    sweepctl and scikit-learn. One thread each because the benchmark runs jobs side by side
    on few cores, and every engine gets the same treatment.
    """
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("SWEEPCTL_STORAGE", None)
    return env


def sweep_config(problem: str, method: str, seed: int) -> dict[str, Any]:
    """The W&B sweep file of one problem (plus sweepctl's seed)."""
    program = os.path.relpath(PROGRAM, REPO)
    return {
        "name": f"bench-{problem}-{method}-s{seed}",
        "program": program,
        "command": ["${env}", "${interpreter}", "${program}", "--problem", problem, "${args}"],
        "method": method,
        "metric": {"name": METRIC, "goal": "minimize"},
        "parameters": wandb_parameters(problem),
        "sweepctl": {"seed": seed},
    }


# --- sweepctl, through the CLI ---------------------------------------------------------------


def _cli(args: list[str], log: Path | None = None) -> str:
    """Run one sweepctl command from the repository root; its stdout, or an error with output."""
    sweepctl = Path(sys.executable).parent / "sweepctl"
    out = subprocess.run(
        [str(sweepctl), *args],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if log is not None:
        log.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        raise RuntimeError(f"sweepctl {' '.join(args)} exited {out.returncode}: {out.stderr}")
    return out.stdout


def run_sweepctl(
    method: str, problem: str, seed: int, budget: int, workers: int, work: Path
) -> Trace:
    """One sweep through the real CLI: create, agent --count budget --workers W, runs --json."""
    import yaml

    work.mkdir(parents=True, exist_ok=True)
    stem = f"{problem}-{method}-w{workers}-s{seed}"
    sweep_file = work / f"{stem}.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep_config(problem, method, seed), sort_keys=False))
    db = work / f"{stem}.db"
    for stale in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        stale.unlink(missing_ok=True)  # a fresh store: an interrupted sweep starts over
    storage = ["--storage", f"sqlite:///{db}"]
    start = time.perf_counter()
    sweep_id = _cli(["create", str(sweep_file), "--quiet", *storage]).strip()
    agent = ["agent", sweep_id, "--count", str(budget), "--workers", str(workers), *storage]
    _cli(agent, log=work / f"{stem}.agent.log")
    seconds = time.perf_counter() - start
    runs = json.loads(_cli(["runs", sweep_id, "--json", *storage]))
    runs.sort(key=lambda r: r["number"])  # creation order = the order configs were claimed
    values = [r["metric"] if r["state"] == "finished" else None for r in runs]
    states: dict[str, int] = {}
    for r in runs:
        states[r["state"]] = states.get(r["state"], 0) + 1
    return Trace([r["config"] for r in runs], values, seconds, meta={"states": states})


# --- engines asked and told in this process -------------------------------------------------------


class AskTell(Protocol):
    """An engine asked for ``n`` configs at a time and told values of configs it gave, in the
    order it gave them; what it gave and was not told yet is in flight."""

    def ask(self, n: int) -> list[dict[str, Any]]: ...

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None: ...


def sample(param: Param, rng: random.Random) -> Any:
    """One value from the parameter's W&B distribution."""
    if param.kind == "categorical":
        return rng.choice(param.values)
    if param.kind == "int_uniform":
        return rng.randint(int(param.low), int(param.high))
    if param.kind == "log_uniform_values":
        return math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
    if param.kind == "q_uniform":
        return param.step_value(rng.randint(0, param.steps()))
    return rng.uniform(param.low, param.high)


class RandomEngine:
    """Plain random search: every parameter drawn independently, no memory."""

    def __init__(self, problem: str, seed: int) -> None:
        self.params = PROBLEMS[problem].params
        # Not random.Random(seed): sweepctl's random draws that very stream in the same order,
        # which would make the two engines the same sample (checked: identical values).
        self.rng = random.Random(f"plain-random-{seed}")

    def ask(self, n: int) -> list[dict[str, Any]]:
        return [{p.name: sample(p, self.rng) for p in self.params} for _ in range(n)]

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None:
        pass


class OptunaEngine:
    """An Optuna study with TPE or GP; trials asked and not yet told are running."""

    def __init__(self, problem: str, seed: int, sampler: str) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if sampler == "gp":
            chosen: Any = optuna.samplers.GPSampler(seed=seed)
        else:
            chosen = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        self.study = optuna.create_study(direction="minimize", sampler=chosen)
        self.distributions = optuna_distributions(problem)
        self.pending: list[Any] = []

    def ask(self, n: int) -> list[dict[str, Any]]:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GPSampler and constant_liar are "experimental"
            asked = [self.study.ask(self.distributions) for _ in range(n)]
        self.pending += asked
        return [dict(t.params) for t in asked]

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None:
        for config, value in zip(configs, values, strict=True):
            trial = self.pending.pop(0)
            assert trial.params == config, "told out of the order asked"
            self.study.tell(trial, value)


class VenvDriver:
    """A driver script in an engine's own virtualenv, kept running across sweeps."""

    def __init__(self, venv: Path, script: str) -> None:
        python = venv / "bin" / "python"
        self.process = subprocess.Popen(
            [str(python), str(Path(__file__).with_name(script))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**child_env(), "PYTHONWARNINGS": "ignore"},
            text=True,
        )
        atexit.register(self.close)

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.process.args[1]} exited ({self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]
            self.process.wait(timeout=30)


_drivers: dict[str, VenvDriver] = {}


def venv_driver(venv: Path, script: str) -> VenvDriver:
    """This process's driver of one venv engine (started on first use: imports take seconds)."""
    if script not in _drivers:
        _drivers[script] = VenvDriver(venv, script)
    return _drivers[script]


def wandb_driver() -> VenvDriver:
    """This process's W&B driver."""
    return venv_driver(WANDB_VENV, "wandb_driver.py")


class WandbEngine:
    """W&B's bayes: each suggestion sees the finished runs and, as running runs, the ones in
    flight."""

    def __init__(self, problem: str, seed: int) -> None:
        self.driver = wandb_driver()
        self.driver.request({"op": "seed", "seed": seed})
        self.sweep = sweep_config(problem, "bayes", seed)
        del self.sweep["sweepctl"]  # W&B never sees sweepctl's block
        self.finished: list[tuple[dict[str, Any], float]] = []
        self.running: list[dict[str, Any]] = []

    def ask(self, n: int) -> list[dict[str, Any]]:
        request = {"sweep": self.sweep, "finished": self.finished, "running": self.running}
        configs = self.driver.request({"op": "suggest", **request, "n": n})["configs"]
        self.running += configs
        return configs

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None:
        for config in configs:
            self.running.remove(config)
        self.finished += list(zip(configs, values, strict=True))


class DriverEngine:
    """HEBO or Ax in its own venv: one fresh optimiser per sweep (Ax's driver keeps the trials
    in flight pending; HEBO has no such notion and is asked in rounds)."""

    def __init__(self, engine: str, problem: str, seed: int) -> None:
        self.driver = venv_driver(*VENV_ENGINES[engine])
        params = [asdict(p) for p in PROBLEMS[problem].params]
        self.driver.request({"op": "start", "params": params, "seed": seed})

    def ask(self, n: int) -> list[dict[str, Any]]:
        return self.driver.request({"op": "ask", "n": n})["configs"]

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None:
        self.driver.request({"op": "tell", "configs": configs, "values": values})


def make_engine(engine: str, problem: str, seed: int) -> AskTell:
    """An ask/tell engine by name."""
    if engine == "random":
        return RandomEngine(problem, seed)
    if engine == "optuna-tpe":
        return OptunaEngine(problem, seed, "tpe")
    if engine == "optuna-gp":
        return OptunaEngine(problem, seed, "gp")
    if engine == "wandb-bayes":
        return WandbEngine(problem, seed)
    if engine in VENV_ENGINES:
        return DriverEngine(engine, problem, seed)
    raise ValueError(f"unknown engine {engine!r}")


# Engines whose parallel workers wait for a whole batch (see the module docstring).
IN_ROUNDS = ("hebo",)


def run_rounds(engine: AskTell, problem: str, budget: int, batch: int) -> Trace:
    """Ask ``batch`` configs, evaluate them, tell their values, until ``budget`` runs."""
    configs: list[dict[str, Any]] = []
    values: list[float | None] = []
    suggesting = 0.0
    start = time.perf_counter()
    while len(configs) < budget:
        t = time.perf_counter()
        asked = engine.ask(min(batch, budget - len(configs)))
        suggesting += time.perf_counter() - t
        got = [evaluate(problem, c) for c in asked]
        t = time.perf_counter()
        engine.tell(asked, got)
        suggesting += time.perf_counter() - t
        configs += asked
        values += got
    return Trace(configs, values, time.perf_counter() - start, suggesting)


def run_parallel(engine: AskTell, problem: str, budget: int, workers: int) -> Trace:
    """``workers`` asynchronous workers: ``workers`` configs asked one after another, then,
    each time the oldest run in flight ends, its value told and one more config asked, until
    ``budget`` runs. The trace is in the order the configs were asked."""
    configs: list[dict[str, Any]] = []
    values: list[float | None] = []
    in_flight = 0
    suggesting = 0.0
    start = time.perf_counter()
    while len(configs) < budget or in_flight:
        if in_flight == workers or len(configs) == budget:
            done = configs[len(values)]
            values.append(evaluate(problem, done))
            t = time.perf_counter()
            engine.tell([done], values[-1:])
            in_flight -= 1
        else:
            t = time.perf_counter()
            asked = engine.ask(1)
            assert len(asked) == 1, f"asked for one config, given {len(asked)}"
            configs += asked
            in_flight += 1
        suggesting += time.perf_counter() - t
    return Trace(configs, values, time.perf_counter() - start, suggesting)


def run_peer(engine: str, problem: str, seed: int, budget: int, workers: int) -> Trace:
    """``budget`` runs of an engine asked in this process, ``workers`` at a time the way its
    own parallel workers run (see the module docstring)."""
    made = make_engine(engine, problem, seed)
    if workers == 1 or engine in IN_ROUNDS:
        return run_rounds(made, problem, budget, workers)
    return run_parallel(made, problem, budget, workers)


def run(engine: str, problem: str, seed: int, budget: int, workers: int, work: Path) -> Trace:
    """``budget`` runs of ``engine`` on ``problem``: ``workers`` 1 (sequential) or 4."""
    if engine in CLI_ENGINES:
        method = engine.removeprefix("sweepctl-")
        return run_sweepctl(method, problem, seed, budget, workers, work)
    return run_peer(engine, problem, seed, budget, workers)
