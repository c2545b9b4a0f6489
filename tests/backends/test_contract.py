"""One contract for every backend: a real SQLite file, the real PostgreSQL server, and W&B
(the real wandb client against the fake W&B server in tests/wandb_fake.py).

Each backend gets a harness that can put a finished run into a sweep the way that backend
gets one (the local store through its claim transaction, W&B through its server); every
check after that goes through the :class:`~sweepctl.backends.base.Backend` protocol and the
public API only, so the same assertions hold for all three.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from postgres_server import postgres_url

from sweepctl import api
from sweepctl.backends import factory
from sweepctl.backends.base import AgentOptions, Backend
from sweepctl.backends.local.backend import LocalBackend
from sweepctl.errors import EXIT_USAGE, SweepctlError, UsageError
from sweepctl.records import Run, Sweep

CONFIG: dict[str, Any] = {
    "name": "contract",
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "program": "train.py",
    "parameters": {"lr": {"min": 0.001, "max": 0.1}, "layers": {"values": [1, 2, 3]}},
}


@dataclass
class Harness:
    backend: Backend
    storage: str | None  # what the API's ``storage=`` takes (None for W&B)
    seed: Any  # seed(sweep_id, config, loss, state, history) -> run id
    offer: Any = None  # offer(sweep_id, config): W&B's server hands this config out next

    def create(self, config: dict[str, Any] | None = None) -> str:
        return self.backend.create(dict(config or CONFIG), source="contract.yaml").sweep_id


def _local_harness(url: str) -> Harness:
    backend = LocalBackend(url, create=True)

    def seed(sweep_id: str, config: dict, loss: float, state: str, history: list[dict]) -> str:
        store = backend.store
        _, run = store.claim(sweep_id, "", lambda sweep, runs: ("run", config))
        rows = history or [{"loss": loss}]
        values = [r["loss"] for r in rows if "loss" in r]
        store.record_metrics(run.id, 0, rows, {**rows[-1]}, values[-1], values)
        store.finish_run(run.id, state, exit_code=0 if state == "finished" else 1)
        return run.id

    return Harness(backend, url, seed)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "wandb"])
def harness(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    if request.param == "sqlite":
        yield _local_harness(f"sqlite:///{tmp_path / 'store.db'}")
        return
    if request.param == "postgres":
        base, reason = postgres_url()
        if base is None:
            pytest.skip(reason)
        schema = f"sweepctl_contract_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(
            base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        try:
            yield _local_harness(f"{base}?options=-csearch_path%3D{schema}")
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
        return
    fake = request.getfixturevalue("fake_wandb")
    backend = factory.open_wandb(project="contract")

    def seed(sweep_id: str, config: dict, loss: float, state: str, history: list[dict]) -> str:
        path = sweep_id.rsplit("/", 1)[-1]
        rows = history or [{"loss": loss}]
        summary = {**rows[-1], "_step": len(rows) - 1}
        return fake.add_run(path, config=config, summary=summary, history=rows, state=state).name

    def offer(sweep_id: str, config: dict) -> None:
        fake.queue_runs(sweep_id.rsplit("/", 1)[-1], [config])

    # W&B's agent starts runs as `/usr/bin/env python train.py`: this interpreter.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    yield Harness(backend, None, seed, offer)


# -- create and find -------------------------------------------------------------------------


def test_a_created_sweep_is_found_by_its_id(harness: Harness) -> None:
    assert isinstance(harness.backend, Backend)  # every method of the protocol is there
    sweep_id = harness.create()
    sweep = harness.backend.get_sweep(sweep_id)
    assert isinstance(sweep, Sweep)
    assert sweep.id == sweep_id
    assert sweep.method == "random"
    assert sweep.state == "running"
    assert sweep.spec.metric is not None and sweep.spec.metric.name == "loss"
    assert sorted(p.name for p in sweep.spec.params) == ["layers", "lr"]
    assert harness.backend.runs(sweep_id) == []


def test_the_factory_opens_the_same_sweep_from_its_reference(harness: Harness) -> None:
    sweep_id = harness.create()
    backend, sweep = factory.open_sweep(sweep_id, harness.storage)
    assert backend.kind == harness.backend.kind
    assert sweep.id == sweep_id


def test_an_unknown_sweep_is_a_usage_error(harness: Harness) -> None:
    harness.create()  # the store (or project) exists; the id does not
    unknown = "nosuch12" if harness.backend.kind == "local" else "alice/contract/nosuch12"
    with pytest.raises(SweepctlError) as caught:
        harness.backend.get_sweep(unknown)
    assert caught.value.exit_code == EXIT_USAGE
    assert "nosuch12" in caught.value.message


# -- runs, best, history -----------------------------------------------------------------------


def test_runs_come_back_in_creation_order_with_their_metric_and_state(harness: Harness) -> None:
    sweep_id = harness.create()
    first = harness.seed(sweep_id, {"lr": 0.01, "layers": 1}, 0.5, "finished", [])
    second = harness.seed(sweep_id, {"lr": 0.02, "layers": 2}, 0.2, "finished", [])
    third = harness.seed(sweep_id, {"lr": 0.03, "layers": 3}, 0.9, "failed", [])
    runs = harness.backend.runs(sweep_id)
    assert all(isinstance(r, Run) for r in runs)
    assert [r.id for r in runs] == [first, second, third]
    assert [r.state for r in runs] == ["finished", "finished", "failed"]
    assert [r.metric for r in runs] == [0.5, 0.2, 0.9]
    assert runs[1].config["layers"] == 2
    assert [r.id for r in harness.backend.runs(sweep_id, ["failed"])] == [third]


def test_best_is_the_best_finished_run_on_every_backend(harness: Harness) -> None:
    sweep_id = harness.create()
    harness.seed(sweep_id, {"lr": 0.01, "layers": 1}, 0.5, "finished", [])
    winner = harness.seed(sweep_id, {"lr": 0.02, "layers": 2}, 0.2, "finished", [])
    harness.seed(sweep_id, {"lr": 0.03, "layers": 3}, 0.1, "failed", [])  # not finished
    found = api.best(sweep_id, storage=harness.storage)
    assert found.run.id == winner
    assert found.to_json()["metric"] == {"name": "loss", "goal": "minimize", "value": 0.2}
    assert found.to_json()["config"]["layers"] == 2


def test_history_gives_every_logged_row_in_order(harness: Harness) -> None:
    sweep_id = harness.create()
    rows = [{"loss": 0.9, "_step": 0}, {"loss": 0.5, "_step": 1}, {"loss": 0.3, "_step": 2}]
    run_id = harness.seed(sweep_id, {"lr": 0.01, "layers": 1}, 0.3, "finished", rows)
    harness.backend.runs(sweep_id)  # W&B reads a run's history through the runs it listed
    assert [r["loss"] for r in harness.backend.history(run_id)] == [0.9, 0.5, 0.3]


def test_best_without_any_scored_run_says_so(harness: Harness) -> None:
    sweep_id = harness.create()
    with pytest.raises(UsageError, match="has a value of 'loss' yet"):
        api.best(sweep_id, storage=harness.storage)


# -- control ---------------------------------------------------------------------------------


def test_pause_resume_stop_and_cancel_change_the_sweeps_state(harness: Harness) -> None:
    sweep_id = harness.create()
    seen = []
    for action in ("pause", "resume", "stop", "resume", "cancel"):
        message = api.control(sweep_id, action, storage=harness.storage).message
        fresh = factory.open_backend(sweep_id, harness.storage).get_sweep(sweep_id)
        seen.append(fresh.state)
        # The message names the sweep (locally by its name and id) and its state now.
        local = harness.backend.kind == "local"
        named = f"sweep contract ({fresh.id})" if local else f"W&B sweep {sweep_id}"
        assert message.startswith(f"{named} is now {fresh.state}"), message
    # W&B calls a stopped sweep "finished" (`wandb sweep --stop`); the local store "stopped".
    stopped = "stopped" if harness.backend.kind == "local" else "finished"
    assert seen == ["paused", "running", stopped, "running", "canceled"]


def test_a_state_change_the_sweep_cannot_take_is_refused(harness: Harness) -> None:
    sweep_id = harness.create()
    api.control(sweep_id, "cancel", storage=harness.storage)
    with pytest.raises(UsageError) as caught:
        api.control(sweep_id, "pause", storage=harness.storage)
    assert "canceled" in caught.value.message


# -- agents ----------------------------------------------------------------------------------


def test_options_only_local_agents_have_are_refused_by_wandb_before_anything_runs(
    fake_wandb,
) -> None:
    sweep_id = fake_wandb.add_sweep(CONFIG, project="contract")
    backend, sweep = factory.open_sweep(f"alice/contract/{sweep_id}")
    for option in ("timeout", "idle_exit"):
        with pytest.raises(UsageError, match="works only with local sweeps"):
            backend.agent(sweep, AgentOptions(**{option: 60.0}))
    assert backend.runs(sweep.id) == [] and fake_wandb.agents == {}


TRAIN = """
import json, os, sys
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
loss = float(args["lr"]) * int(args["layers"])
with open("claimed.jsonl", "a") as out:
    out.write(json.dumps({"argv": sys.argv[1:], "loss": loss}) + "\\n")
try:
    import sweepctl
    sweepctl.log({"loss": loss})
except ImportError:
    pass
"""


@pytest.mark.slow
def test_an_agent_claims_the_next_config_and_runs_it(harness: Harness, tmp_path: Path) -> None:
    Path("train.py").write_text(TRAIN)
    config = {
        **CONFIG,
        "method": "grid",
        "parameters": {"lr": {"value": 0.5}, "layers": {"values": [2]}},
    }
    sweep_id = harness.create(config)
    if harness.offer is not None:
        harness.offer(sweep_id, {"lr": 0.5, "layers": 2})
    sweep = harness.backend.get_sweep(sweep_id)
    report = harness.backend.agent(sweep, AgentOptions(count=1))
    assert report.exit_code == 0 and not report.interrupted and not report.failed
    lines = Path("claimed.jsonl").read_text().splitlines()
    assert [sorted(json.loads(line)["argv"]) for line in lines] == [["--layers=2", "--lr=0.5"]]
    assert report.to_json()["controller"] == harness.backend.kind
