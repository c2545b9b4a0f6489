"""Ax/BoTorch (``ax-platform``), served over stdin/stdout JSON lines like wandb_driver.py.

Runs in bench/.venvs/ax (Ax 1.x with BoTorch; torch is the project's 2.13.0 CPU wheel),
started by ``searchbench.engines.VenvDriver``. The protocol is driver_loop.py's: ``start``
makes a fresh ``ax.Client(random_seed=seed)`` with Ax's default generation strategy (a
quasi-random start, then a GP with log-NEI), minimising ``loss``; ``ask`` is
``get_next_trials(max_trials=n)``: with n > 1 Ax's batch generation, each point acquired with
the batch's earlier ones pending (q-batch); ``tell`` is ``complete_trial`` (after
``attach_trial`` for a config Ax did not suggest).

Space: uniform -> float range, log_uniform_values -> float range with log scaling,
int_uniform -> int range, q_uniform -> int range over the step index, categorical -> an
unordered choice over the values' positions.
"""

from __future__ import annotations

import logging
from typing import Any

from ax import ChoiceParameterConfig, Client, RangeParameterConfig
from driver_loop import from_engine, serve, step_count, to_engine


def _parameter(p: dict[str, Any]) -> Any:
    name, kind = p["name"], p["kind"]
    if kind == "categorical":
        positions = [str(i) for i in range(len(p["values"]))]
        return ChoiceParameterConfig(name, positions, "str", is_ordered=False)
    if kind == "int_uniform":
        return RangeParameterConfig(name, (int(p["low"]), int(p["high"])), "int")
    if kind == "q_uniform":
        return RangeParameterConfig(name, (0, step_count(p)), "int")
    scaling = "log" if kind == "log_uniform_values" else "linear"
    return RangeParameterConfig(name, (p["low"], p["high"]), "float", scaling=scaling)


class AxSweep:
    def __init__(self, params: list[dict[str, Any]], seed: int) -> None:
        self.params = params
        self.client = Client(random_seed=seed)
        self.client.configure_experiment(parameters=[_parameter(p) for p in params])
        self.client.configure_optimization(objective="-loss")
        self.pending: list[tuple[int, dict[str, Any]]] = []

    def ask(self, n: int) -> list[dict[str, Any]]:
        trials = self.client.get_next_trials(max_trials=n)
        out = []
        for index, raw in trials.items():
            config = {p["name"]: from_engine(p, raw[p["name"]]) for p in self.params}
            self.pending.append((index, config))
            out.append(config)
        return out

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None:
        for config, value in zip(configs, values, strict=True):
            match = next((i for i, c in self.pending if c == config), None)
            if match is None:  # a run Ax did not suggest (the latency check's shared history)
                engine_values = {p["name"]: to_engine(p, config[p["name"]]) for p in self.params}
                match = self.client.attach_trial(parameters=engine_values)
            self.pending = [(i, c) for i, c in self.pending if i != match]
            self.client.complete_trial(trial_index=match, raw_data={"loss": float(value)})


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # Ax logs every trial at INFO and warns often
    serve(AxSweep)
