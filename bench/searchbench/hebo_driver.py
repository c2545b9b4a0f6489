"""HEBO (Huawei's winner of the NeurIPS 2020 black-box optimisation challenge), served over
stdin/stdout JSON lines like wandb_driver.py.

Runs in bench/.venvs/hebo (HEBO 0.3.6 with GPy and pymoo 0.6.0 needs numpy 1.x; torch is the
project's 2.13.0 CPU wheel), started by ``searchbench.engines.VenvDriver``. It only suggests;
the harness evaluates. The protocol is driver_loop.py's: ``start`` makes a fresh
``HEBO(space, scramble_seed=seed)`` (numpy, torch and random seeded); ``ask`` is
``suggest(n_suggestions=n)``, with n > 1 HEBO's own batch mode (points from the Pareto front of
its acquisition ensemble, MACE); ``tell`` is ``observe``.

Space mapping: uniform -> ``num``, log_uniform_values -> ``pow`` (base 10), int_uniform ->
``int``, q_uniform -> ``int`` over the step index k (value = low + k * q), categorical ->
``cat`` over the values' positions as strings (so 16 and "16" cannot be confused).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pandas as pd
import torch
from driver_loop import from_engine, serve, step_count, to_engine
from hebo.design_space.design_space import DesignSpace
from hebo.optimizers.hebo import HEBO
from pymoo.config import Config

Config.warnings["not_compiled"] = False  # pymoo 0.6.0 from source: pure Python, and says so


def _space(params: list[dict[str, Any]]) -> DesignSpace:
    out = []
    for p in params:
        name, kind = p["name"], p["kind"]
        if kind == "categorical":
            cats = [str(i) for i in range(len(p["values"]))]
            out.append({"name": name, "type": "cat", "categories": cats})
        elif kind == "int_uniform":
            out.append({"name": name, "type": "int", "lb": int(p["low"]), "ub": int(p["high"])})
        elif kind == "q_uniform":
            out.append({"name": name, "type": "int", "lb": 0, "ub": step_count(p)})
        elif kind == "log_uniform_values":
            out.append({"name": name, "type": "pow", "lb": p["low"], "ub": p["high"], "base": 10})
        else:
            out.append({"name": name, "type": "num", "lb": p["low"], "ub": p["high"]})
    return DesignSpace().parse(out)


class HeboSweep:
    def __init__(self, params: list[dict[str, Any]], seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        self.params = params
        self.optimizer = HEBO(_space(params), scramble_seed=seed)

    def ask(self, n: int) -> list[dict[str, Any]]:
        frame = self.optimizer.suggest(n_suggestions=n)
        return [
            {p["name"]: from_engine(p, row[p["name"]]) for p in self.params}
            for _, row in frame.iterrows()
        ]

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None:
        rows = [{p["name"]: to_engine(p, c[p["name"]]) for p in self.params} for c in configs]
        self.optimizer.observe(pd.DataFrame(rows), np.asarray(values, float).reshape(-1, 1))


if __name__ == "__main__":
    serve(HeboSweep)
