"""Suggestion latency: the time one engine takes to suggest a config given N finished runs.

The history is the same for every engine: N configs of plain random search on the problem,
with their objective values. What is timed is the engine's own suggestion call, without the
harness around it:

* sweepctl: ``sweepctl.search.method(spec.method)(spec, history, rng)`` on the spec loaded
  from the benchmark's sweep file: the call the controller makes while it holds the sweep's
  lock (store reads and writes excluded: bench/overhead.py measures those).
* Optuna: ``study.ask(distributions)`` on a fresh study holding the N trials (a fresh sampler
  each time, so no kernel cache from an earlier call helps).
* W&B: ``sweeps.next_run(sweep_config, runs)``, timed inside its own virtualenv.
* HEBO and Ax: a fresh optimiser told the N runs (Ax attaches them as trials) and one
  untimed suggestion with its value (Ax's first one after attaching is still quasi-random),
  then one ``ask`` timed from here: ``suggest(1)`` / ``get_next_trials(1)`` of the model,
  with N + 1 runs, plus the driver's JSON round trip over a pipe (under a millisecond).
* random: drawing one config.

Each engine is warmed up once (imports) before the timed calls; the median is reported.
"""

from __future__ import annotations

import random
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

from problems import METRIC, PROBLEMS, evaluate, optuna_distributions

from searchbench import engines


def history(problem: str, size: int, seed: int = 12345) -> list[tuple[dict[str, Any], float]]:
    """``size`` random configs of the problem with their values (shared by every engine)."""
    rng = random.Random(seed)
    params = PROBLEMS[problem].params
    out = []
    for _ in range(size):
        config = {p.name: engines.sample(p, rng) for p in params}
        out.append((config, evaluate(problem, config)))
    return out


def _time_sweepctl(method: str, problem: str, runs: list, work: Path) -> float:
    import yaml

    from sweepctl.search import RunRecord
    from sweepctl.search.methods import method as search_method
    from sweepctl.spec import load_spec

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"latency-{problem}-{method}.yaml"
    path.write_text(yaml.safe_dump(engines.sweep_config(problem, method, 0), sort_keys=False))
    spec, _ = load_spec(path)
    records = [
        RunRecord(f"r{i}", "finished", config, value, (value,))
        for i, (config, value) in enumerate(runs)
    ]
    suggest = search_method(spec.method)
    start = time.perf_counter()
    suggest(spec, records, random.Random(0))
    return time.perf_counter() - start


def _time_optuna(sampler: str, problem: str, runs: list) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = optuna_distributions(problem)
    engine = engines.OptunaEngine(problem, 0, sampler)
    engine.study.add_trials(
        [
            optuna.trial.create_trial(params=config, distributions=distributions, value=value)
            for config, value in runs
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        engine.study.ask(distributions)
        return time.perf_counter() - start


def _time_wandb(problem: str, runs: list) -> float:
    driver = engines.wandb_driver()
    sweep = engines.sweep_config(problem, "bayes", 0)
    del sweep["sweepctl"]
    answer = driver.request(
        {"op": "suggest", "sweep": sweep, "finished": runs, "running": [], "n": 1}
    )
    return answer["seconds"][0]


def _time_driver(engine: str, problem: str, runs: list) -> float:
    sweep = engines.DriverEngine(engine, problem, 0)
    sweep.tell([config for config, _ in runs], [value for _, value in runs])
    # Ax decides to leave its quasi-random step when it generates, so its first suggestion
    # after the runs are attached is still quasi-random: one untimed suggestion first.
    extra = sweep.ask(1)
    sweep.tell(extra, [evaluate(problem, extra[0])])
    start = time.perf_counter()
    sweep.ask(1)
    return time.perf_counter() - start


def _time_random(problem: str) -> float:
    engine = engines.RandomEngine(problem, 0)
    start = time.perf_counter()
    engine.ask(1)
    return time.perf_counter() - start


def time_once(engine: str, problem: str, runs: list, work: Path) -> float:
    """Seconds for one suggestion of ``engine`` given ``runs`` finished runs."""
    if engine in engines.CLI_ENGINES:
        return _time_sweepctl(engine.removeprefix("sweepctl-"), problem, runs, work)
    if engine.startswith("optuna-"):
        return _time_optuna(engine.removeprefix("optuna-"), problem, runs)
    if engine == "wandb-bayes":
        return _time_wandb(problem, runs)
    if engine in engines.VENV_ENGINES:
        return _time_driver(engine, problem, runs)
    if engine == "random":
        return _time_random(problem)
    raise ValueError(f"no latency check for engine {engine!r}")


def measure(engine: str, problem: str, size: int, repeats: int, work: Path) -> dict[str, Any]:
    """Median (and all) of ``repeats`` timed suggestions after one warm-up call."""
    runs = history(problem, size)
    time_once(engine, problem, runs[: min(size, 20)], work)  # imports, first-call caches
    times = [time_once(engine, problem, runs, work) for _ in range(repeats)]
    return {"median": statistics.median(times), "times": times, "metric": METRIC}
