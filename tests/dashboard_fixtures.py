"""The dashboard tests' store: a real SQLite file filled as agents fill it, and the app over it."""

from __future__ import annotations

from typing import Any

from sweepctl.store import Store

XSS = "<script>alert(1)</script>"
SWEEP = {
    "name": "known <b>sweep</b>",
    "method": "grid",
    "program": "train.py",
    "metric": {"name": "val/acc", "goal": "maximize"},
    "parameters": {
        "model": {"values": ["cnn", "mlp", XSS]},
        "lr": {"values": [0.1, 0.01]},
    },
}
# (config, val/acc as logged step by step, final state)
RUNS: list[tuple[dict[str, Any], list[float], str]] = [
    ({"model": "cnn", "lr": 0.1}, [0.5, 0.9, 0.88], "finished"),
    ({"model": "mlp", "lr": 0.1}, [0.6, 0.85], "finished"),
    ({"model": XSS, "lr": 0.01}, [0.7, 0.8, 0.95], "finished"),
    ({"model": "cnn", "lr": 0.01}, [0.3], "failed"),
    ({"model": "mlp", "lr": 0.01}, [0.4, 0.6], "running"),
]


def fill(store: Store, config: dict[str, Any] = SWEEP, runs=RUNS) -> tuple[str, list[str]]:
    """A sweep with ``runs`` recorded as an agent records them; (sweep id, run ids)."""
    sweep = store.create_sweep(config, name=config.get("name"), source="sweep.yaml")
    agent = store.register_agent(sweep.id, "test-host", 1)
    ids = []
    for run_config, values, state in runs:
        _, run = store.claim(sweep.id, agent, lambda _s, _r, c=run_config: ("run", c))
        ids.append(run.id)
        log(store, run.id, 0, values)
        if state != "running":
            store.finish_run(run.id, state, exit_code=0 if state == "finished" else 1)
    return sweep.id, ids


def log(store: Store, run_id: str, first: int, values: list[float], before: list[float] = ()):
    """Record metric rows ``first``... of a run, as the agent's recorder does."""
    if not values:
        return
    history = [*before, *values]
    rows = [{"val/acc": v, "_step": first + i} for i, v in enumerate(values)]
    store.record_metrics(
        run_id, first, rows, summary=rows[-1], metric=max(history), metric_history=history
    )


def client(store: Store, **settings: Any):
    """A test client of the app over ``store``, as 127.0.0.1 sees it."""
    from starlette.testclient import TestClient

    from sweepctl.backends.local.backend import LocalBackend
    from sweepctl.dashboard.serve import build

    app = build(LocalBackend(store=store), **settings)
    return TestClient(app, base_url="http://127.0.0.1:8080")
