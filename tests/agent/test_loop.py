"""The agent loop against a store that goes away while runs train (a database restart):
nothing a run logged is lost, and the run's end is recorded once the store is back."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from sweepctl.agent import loop
from sweepctl.backends.base import AgentOptions, Observer
from sweepctl.backends.local.backend import LocalBackend
from sweepctl.errors import SweepctlError

PROGRAM = """
import sys, time
import sweepctl
for step in range(8):
    sweepctl.log({"loss": 1.0 / (step + 1)})
    time.sleep(0.1)
"""


class Outage:
    """Makes the store's writes fail the way they do while the database is down."""

    def __init__(self, store, methods: tuple[str, ...]) -> None:
        self.down = threading.Event()
        self.refused = 0
        for name in methods:
            real = getattr(store, name)
            setattr(store, name, self._guard(real))

    def _guard(self, real):
        def call(*args, **kwargs):
            if self.down.is_set():
                self.refused += 1
                raise SweepctlError("the store could not be written: server closed the connection")
            return real(*args, **kwargs)

        return call


@pytest.mark.slow
def test_rows_logged_while_the_store_is_down_are_written_when_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(loop, "STORE_RETRY", 0.2)
    (tmp_path / "train.py").write_text(PROGRAM)
    backend = LocalBackend(f"sqlite:///{tmp_path / 'store.db'}", create=True)
    sweep_id = backend.create(
        {
            "method": "grid",
            "program": "train.py",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"values": [1, 2]}},
        }
    ).sweep_id
    outage = Outage(backend.store, ("record_metrics", "finish_run", "heartbeat", "control"))
    said: list[str] = []

    started = threading.Event()

    class DownAfterFirstStep(Observer):
        def progress(self, run_id, summary, metric):
            # The store goes away at the first run's first step, past that run's end (~1 s).
            if not started.is_set():
                started.set()
                outage.down.set()
                threading.Timer(2.5, outage.down.clear).start()

    def observe(sweep, workers, total):
        return DownAfterFirstStep()

    report = backend.agent(
        backend.get_sweep(sweep_id), AgentOptions(say=said.append, observe=observe)
    )

    assert report.exit_code == 0 and len(report.outcomes) == 2
    assert outage.refused > 0, "the outage happened"
    assert any("waiting for the store" in line for line in said), said
    runs = backend.runs(sweep_id)
    assert [r.state for r in runs] == ["finished", "finished"]
    for run in runs:
        rows = backend.history(run.id)
        assert [row["_step"] for row in rows] == list(range(8)), run.id
        assert run.steps == 8 and run.summary["_step"] == 7
        assert run.metric == pytest.approx(1 / 8)
