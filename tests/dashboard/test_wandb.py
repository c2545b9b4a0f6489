"""W&B sweeps named by path, shown read-only beside the store's, through the W&B backend
(against the fake W&B server the backend contract tests use)."""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("wandb")

from dashboard_fixtures import fill
from starlette.testclient import TestClient

from sweepctl.dashboard import serve

CONFIG = {
    "method": "random",
    "program": "train.py",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"min": 0.001, "max": 0.1}},
}


def test_wandb_sweeps_by_path_are_shown_read_only(fake_wandb, store) -> None:
    local_id, _ = fill(store)
    path_id = fake_wandb.add_sweep(CONFIG, project="dash")
    for lr, losses in ((0.01, [0.9, 0.5, 0.3]), (0.05, [0.8, 0.6])):
        rows = [{"loss": v, "_step": i} for i, v in enumerate(losses)]
        fake_wandb.add_run(path_id, config={"lr": lr}, summary=rows[-1], history=rows)
    path = f"alice/dash/{path_id}"
    backend, remote, ids, where = serve._sources(store.url, [path])
    assert backend is not None
    assert ids == [path] and "W&B:" in where and "(read-only)" in where
    app = serve.build(backend, remote=remote, remote_refs=ids)
    c = TestClient(app, base_url="http://127.0.0.1:8080")
    listed = {row["id"]: row for row in c.get("/api/sweeps").json()["sweeps"]}
    assert set(listed) == {local_id, path}
    assert listed[path]["where"] == "wandb" and listed[path]["runs_by_state"] == {"finished": 2}
    assert listed[path]["best"]["value"] == 0.3
    assert c.get(f"/sweeps/{path}").status_code == 200
    data = c.get(f"/api/sweeps/{path}").json()
    assert data["where"] == "wandb" and data["actions"] == [] and data["poll_ms"] == 10_000
    assert [r["config"]["lr"] for r in data["runs"]] == ["0.01", "0.05"]
    curves = next(f for f in data["figures"] if f["id"] == "plot-curves")["data"]
    assert sorted(t["y"] for t in curves) == [[0.8, 0.6], [0.9, 0.5, 0.3]]
    # Read-only: the control is refused, and W&B's sweep is untouched.
    page = c.get(f"/sweeps/{path}").text
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    refused = c.post(f"/api/sweeps/{path}/control/stop", headers={"X-Sweepctl-CSRF": csrf})
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    assert "UpsertSweep" not in fake_wandb.requests
    # A W&B sweep not named when the dashboard started is not served.
    other = fake_wandb.add_sweep(CONFIG, project="dash")
    assert c.get(f"/api/sweeps/alice/dash/{other}").status_code == 404


def test_a_local_reference_is_refused_and_no_store_is_fine_with_wandb_paths(
    fake_wandb, tmp_path, monkeypatch
) -> None:
    from sweepctl.errors import UsageError

    with pytest.raises(UsageError, match="shows every sweep of the store already"):
        serve._sources(None, ["abc123"])
    monkeypatch.chdir(tmp_path)  # no store anywhere above
    monkeypatch.delenv("SWEEPCTL_STORAGE", raising=False)
    path_id = fake_wandb.add_sweep(CONFIG, project="dash")
    backend, _, ids, where = serve._sources(None, [f"alice/dash/{path_id}"])
    assert backend is None and ids == [f"alice/dash/{path_id}"] and "store" not in where
