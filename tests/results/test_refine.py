"""`refine` narrows a sweep around its best runs, and the result is a valid bayes sweep."""

from __future__ import annotations

import yaml

from sweepctl.results.refine import refine
from sweepctl.spec import inspect_file
from sweepctl.store import Store

CONFIG = {
    "name": "explore",
    "program": "train.py",
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 12},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "opt": {"values": ["adam", "sgd", "lion"]},
        "seed": {"value": 3},
        "sched": {"parameters": {"warmup": {"values": [0, 100, 1000]}}},
    },
}


def _store_with_runs(tmp_path, rows):
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    sweep = store.create_sweep(CONFIG, name="explore")
    for config, metric in rows:
        _, run = store.claim(sweep.id, "agent", lambda s, r, c=config: ("run", c))
        store.record_metrics(run.id, 0, [{"loss": metric}], {"loss": metric}, metric, [metric])
        store.finish_run(run.id, "finished", exit_code=0)
    return store, sweep


def test_refine_narrows_each_kind_of_parameter(tmp_path):
    def cfg(lr, layers, dropout, opt, warmup):
        return {
            "dropout": dropout,
            "layers": layers,
            "lr": lr,
            "opt": opt,
            "seed": 3,
            "sched": {"warmup": warmup},
        }

    rows = [
        (cfg(1e-3, 4, 0.10, "adam", 100), 0.1),
        (cfg(2e-3, 6, 0.20, "sgd", 100), 0.2),
        (cfg(5e-2, 11, 0.45, "lion", 0), 0.9),  # outside the top 2
    ]
    store, sweep = _store_with_runs(tmp_path, rows)
    text = refine(store.get_sweep(sweep.id), store.runs(sweep.id), factor=2, top=2)
    assert text.startswith("# Refined by `sweepctl refine` on ")
    assert f"from sweep {sweep.id} (explore, random, 3 runs)" in text
    data = yaml.safe_load(text)
    params = data["parameters"]
    assert data["method"] == "bayes" and data["name"] == "explore-refined"
    assert params["lr"] == {"distribution": "log_uniform_values", "min": 5e-4, "max": 4e-3}
    assert params["layers"] == {"distribution": "int_uniform", "min": 1, "max": 9}
    assert params["dropout"] == {"distribution": "uniform", "min": 0.0, "max": 0.325}
    assert params["opt"] == {"values": ["adam", "sgd"]}  # old order, only the top runs' values
    assert params["seed"] == {"value": 3}
    assert params["sched"] == {"parameters": {"warmup": {"values": [100]}}}
    out = tmp_path / "refined.yaml"
    out.write_text(text)
    report = inspect_file(out)
    assert report.valid and not report.warnings, report.problems
