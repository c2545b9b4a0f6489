"""W&B's own bayes engine (the ``sweeps`` package), served over stdin/stdout JSON lines.

Runs in bench/.venvs/wandb-sweeps (``sweeps`` 0.3.0 pins numpy<2), started by
``searchbench.engines.WandbDriver``. It only suggests: the harness evaluates every config, so
all engines are scored by the same objective code. One request per line, one answer per line:

    {"op": "seed", "seed": 3}
        seeds numpy and random (W&B's bayes draws its candidate points from np.random)
    {"op": "suggest", "sweep": {...}, "finished": [[config, value], ...],
     "running": [config, ...], "n": 4}
        -> {"configs": [...], "seconds": [...]}: n suggestions through sweeps.next_run; each
        one sees the finished runs (summaryMetrics and history hold the value) and the
        running ones, the earlier suggestions of this batch included, as running SweepRuns.

Configs are plain ``{name: value}`` dicts on the wire.
"""

from __future__ import annotations

import json
import random
import sys
import time
import warnings
from typing import Any

import numpy as np

import sweeps
from sweeps import RunState, SweepRun


def _plain(value: Any) -> Any:
    """numpy scalars to Python values, for JSON."""
    return value.item() if hasattr(value, "item") else value


def _run(index: int, config: dict[str, Any], metric: str, value: float | None) -> SweepRun:
    wrapped = {k: {"value": v} for k, v in config.items()}
    if value is None:
        return SweepRun(name=f"r{index}", state=RunState.running, config=wrapped)
    return SweepRun(
        name=f"r{index}",
        state=RunState.finished,
        config=wrapped,
        summaryMetrics={metric: value},
        history=[{metric: value}],
    )


def suggest(request: dict[str, Any]) -> dict[str, Any]:
    """``n`` suggestions, each aware of the runs in flight (the batch's earlier ones too)."""
    sweep = request["sweep"]
    metric = sweep["metric"]["name"]
    runs = [_run(i, c, metric, v) for i, (c, v) in enumerate(request["finished"])]
    runs += [_run(len(runs) + i, c, metric, None) for i, c in enumerate(request["running"])]
    configs, seconds = [], []
    for _ in range(request["n"]):
        start = time.perf_counter()
        suggestion = sweeps.next_run(sweep, runs)
        seconds.append(time.perf_counter() - start)
        config = {k: _plain(v["value"]) for k, v in suggestion.config.items()}
        configs.append(config)
        runs.append(_run(len(runs), config, metric, None))
    return {"configs": configs, "seconds": seconds}


def main() -> None:
    warnings.simplefilter("ignore")  # sklearn's GP fit warnings would only fill the pipe
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "seed":
            random.seed(request["seed"])
            np.random.seed(request["seed"])
            answer: dict[str, Any] = {"ok": True}
        else:
            answer = suggest(request)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
