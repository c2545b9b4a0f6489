"""The dashboard app over HTTP: pages, JSON endpoints, live versions, controls and guards.

Starlette's TestClient drives the real app (routes, guards, the store underneath: a real
SQLite file filled through the Store API the agent uses).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("plotly")

from dashboard_fixtures import RUNS, XSS, client, fill, log
from postgres_server import postgres_url

from sweepctl.store import open_store
from sweepctl.urls import redact


def detail(c, sweep_id: str, since: str | None = None) -> dict[str, Any]:
    response = c.get(f"/api/sweeps/{sweep_id}" + (f"?since={since}" if since else ""))
    assert response.status_code == 200, response.text
    return response.json()


def test_sweeps_list_has_state_method_progress_best_and_agents(filled) -> None:
    c = client(filled["store"])
    page = c.get("/")
    assert page.status_code == 200 and 'data-page="sweeps"' in page.text
    (row,) = c.get("/api/sweeps").json()["sweeps"]
    assert row["id"] == filled["sweep"]
    assert (row["state"], row["method"]) == ("running", "grid")
    # A grid of 3 models x 2 learning rates: 5 runs of 6.
    assert row["progress"] == {"runs": 5, "total": 6, "bound": "grid"}
    assert row["runs_by_state"] == {"finished": 3, "failed": 1, "running": 1}
    assert row["best"] == {"run": filled["runs"][2], "value": 0.95}
    assert row["agents"] == 1  # the test's agent registered and has not ended


def test_sweep_page_and_its_data(filled) -> None:
    c = client(filled["store"])
    sweep_id, ids = filled["sweep"], filled["runs"]
    page = c.get(f"/sweeps/{sweep_id}")
    assert page.status_code == 200
    assert f'data-sweep="{sweep_id}"' in page.text
    data = detail(c, sweep_id)
    assert data["changed"] is True
    assert [r["id"] for r in data["runs"]] == ids
    assert [r["state"] for r in data["runs"]] == [s for _, _, s in RUNS]
    assert data["columns"] == ["lr", "model"] or data["columns"] == ["model", "lr"]
    first = data["runs"][0]
    assert first["config"] == {"model": "cnn", "lr": "0.1"}
    assert first["metric"] == 0.9 and first["steps"] == 3
    # The best run: the highest val/acc of a finished run, with its config two ways.
    best = data["best"]
    assert best["id"] == ids[2] and best["metric"] == 0.95
    assert json.loads(best["json"]) == {"model": XSS, "lr": 0.01}
    assert "lr: 0.01" in best["yaml"]
    assert [r["best"] for r in data["runs"]] == [False, False, True, False, False]
    # The figures are the report's descriptions, drawn by its Plotly renderer.
    figures = {f["id"]: f for f in data["figures"]}
    assert set(figures) == {"plot-curves", "plot-best-so-far", "plot-parallel"}
    curves = figures["plot-curves"]["data"]
    assert len(curves) == 5  # every run that logged the metric, the running one too
    by_run = {t["name"].split(" ")[0]: t for t in curves}
    assert by_run[ids[0]]["y"] == [0.5, 0.9, 0.88]
    assert by_run[ids[4]]["y"] == [0.4, 0.6]
    assert figures["plot-parallel"]["data"][0]["type"] == "parcoords"
    assert data["actions"] == ["stop", "pause", "cancel"]


def test_a_new_metric_row_changes_the_version_and_the_curve(filled) -> None:
    c = client(filled["store"])
    sweep_id, running = filled["sweep"], filled["runs"][4]
    first = detail(c, sweep_id)
    # Nothing changed: the poll is answered with the version alone.
    assert detail(c, sweep_id, first["version"]) == {"version": first["version"], "changed": False}
    log(filled["store"], running, 2, [0.75], before=[0.4, 0.6])
    second = detail(c, sweep_id, first["version"])
    assert second["changed"] is True and second["version"] != first["version"]
    curve = next(t for t in second["figures"][0]["data"] if t["name"].startswith(running))
    assert curve["y"] == [0.4, 0.6, 0.75]
    assert next(r for r in second["runs"] if r["id"] == running)["steps"] == 3


def test_importance_and_log_tail(filled, tmp_path) -> None:
    pytest.importorskip("sklearn")
    store = filled["store"]
    c = client(store)
    importance = c.get(f"/api/sweeps/{filled['sweep']}/importance").json()
    # Three finished runs: fewer than the report's minimum of four, and it says so.
    assert importance["figures"] == [] and "needs 4" in importance["reason"]
    run = filled["runs"][0]
    folder = store.files_dir / "runs" / filled["sweep"] / run
    folder.mkdir(parents=True)
    (folder / "output.log").write_text("".join(f"line {i}\n" for i in range(100)) + XSS + "\n")
    tail = c.get(f"/api/sweeps/{filled['sweep']}/runs/{run}/log").json()
    assert tail["lines"][-1] == XSS and tail["lines"][-2] == "line 99"
    assert len(tail["lines"]) == 40
    missing = c.get(f"/api/sweeps/{filled['sweep']}/runs/nosuchrun/log").json()
    assert missing == {"run": "nosuchrun", "found": False, "lines": []}


def test_importance_is_drawn_with_enough_runs(store) -> None:
    pytest.importorskip("sklearn")
    runs = [({"model": m, "lr": lr}, [v], "finished") for m, lr, v in [
        ("cnn", 0.1, 0.9), ("cnn", 0.01, 0.8), ("mlp", 0.1, 0.5), ("mlp", 0.01, 0.4),
        (XSS, 0.1, 0.2), (XSS, 0.01, 0.1),
    ]]  # fmt: skip
    sweep_id, _ = fill(store, runs=runs)
    found = client(store).get(f"/api/sweeps/{sweep_id}/importance").json()
    assert found["reason"] is None
    (figure,) = found["figures"]
    assert figure["id"] == "plot-importance"
    assert figure["data"][0]["type"] == "bar"


def test_unknown_sweep_is_404(filled) -> None:
    c = client(filled["store"])
    assert c.get("/sweeps/nosuch").status_code == 404
    response = c.get("/api/sweeps/nosuch")
    assert response.status_code == 404 and "no sweep 'nosuch'" in response.json()["error"]


# -- controls -------------------------------------------------------------------------------


def csrf_of(page: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page).group(1)


def test_controls_are_post_only_with_the_pages_csrf_token(filled) -> None:
    c = client(filled["store"])
    sweep_id = filled["sweep"]
    url = f"/api/sweeps/{sweep_id}/control/stop"
    assert c.get(url).status_code == 405
    assert c.post(url).status_code == 403
    assert c.post(url, headers={"X-Sweepctl-CSRF": "forged"}).status_code == 403
    assert filled["store"].get_sweep(sweep_id).state == "running"
    token = csrf_of(c.get(f"/sweeps/{sweep_id}").text)
    done = c.post(url, headers={"X-Sweepctl-CSRF": token})
    assert done.status_code == 200, done.text
    assert done.json()["message"].startswith(
        f"sweep known <b>sweep</b> ({sweep_id}) is now stopped"
    )
    assert filled["store"].get_sweep(sweep_id).state == "stopped"
    assert detail(c, sweep_id)["actions"] == ["resume", "cancel"]
    # An action the state does not allow is refused with the reason.
    again = c.post(url, headers={"X-Sweepctl-CSRF": token})
    assert again.status_code == 409 and "it cannot be stopped" in again.json()["error"]
    resumed = c.post(f"/api/sweeps/{sweep_id}/control/resume", headers={"X-Sweepctl-CSRF": token})
    assert resumed.status_code == 200
    assert filled["store"].get_sweep(sweep_id).state == "running"
    assert c.post(f"/api/sweeps/{sweep_id}/control/delete", headers={"X-Sweepctl-CSRF": token})
    assert filled["store"].get_sweep(sweep_id).state == "running"


def test_read_only_hides_and_refuses_the_controls(filled) -> None:
    c = client(filled["store"], read_only=True)
    sweep_id = filled["sweep"]
    page = c.get(f"/sweeps/{sweep_id}").text
    assert "data-action" not in page and 'data-read-only="1"' in page
    assert detail(c, sweep_id)["actions"] == []
    refused = c.post(
        f"/api/sweeps/{sweep_id}/control/stop", headers={"X-Sweepctl-CSRF": csrf_of(page)}
    )
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]
    assert filled["store"].get_sweep(sweep_id).state == "running"


# -- guards ---------------------------------------------------------------------------------


def test_a_token_is_needed_on_every_request(filled) -> None:
    token = "t0k3n-for-tests"
    c = client(filled["store"], token=token, allowed_hosts=None)
    sweep_id = filled["sweep"]
    for url in ("/", f"/sweeps/{sweep_id}", "/api/sweeps", "/static/plotly.min.js"):
        refused = c.get(url)
        assert refused.status_code == 401, url
        assert "needs its token" in refused.text
        assert c.get(url, headers={"X-Sweepctl-Token": "wrong-token"}).status_code == 403
    assert c.post(f"/api/sweeps/{sweep_id}/control/stop").status_code == 401
    assert c.get("/api/sweeps", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # Opening the printed URL keeps the token in a cookie for the page's own requests, and
    # takes it out of the address bar.
    opened = c.get(f"/sweeps/{sweep_id}?token={token}&x=1", follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"http://127.0.0.1:8080/sweeps/{sweep_id}?x=1"
    cookie = opened.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert c.get(opened.headers["location"]).status_code == 200  # the cookie, sent back
    assert c.get("/api/sweeps").status_code == 200
    # A stale cookie of an earlier dashboard does not hide a right token.
    c.cookies.set("sweepctl_token", "stale-token")
    assert c.get(f"/api/sweeps?token={token}").status_code == 200
    c.cookies.clear()
    assert c.get("/api/sweeps").status_code == 401
    assert filled["store"].get_sweep(sweep_id).state == "running"


def test_a_loopback_dashboard_answers_only_loopback_host_names(filled) -> None:
    c = client(filled["store"])
    assert c.get("/api/sweeps").status_code == 200
    assert c.get("/api/sweeps", headers={"Host": "localhost:8080"}).status_code == 200
    # A page on another site whose DNS name now points at 127.0.0.1 (DNS rebinding).
    assert c.get("/api/sweeps", headers={"Host": "attacker.example:8080"}).status_code == 400


def test_every_response_forbids_inline_script_and_framing(filled) -> None:
    c = client(filled["store"])
    for url in ("/", f"/sweeps/{filled['sweep']}", "/api/sweeps"):
        headers = c.get(url).headers
        assert "script-src 'self' 'unsafe-eval';" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"


def test_user_data_is_escaped_in_pages_and_figures(filled) -> None:
    c = client(filled["store"])
    sweep_id = filled["sweep"]
    for url in ("/", f"/sweeps/{sweep_id}", "/nosuch", f"/sweeps/{XSS}"):
        text = c.get(url).text
        assert "<script>alert" not in text and "<b>sweep" not in text, url
    page = c.get(f"/sweeps/{sweep_id}").text
    assert "known &lt;b&gt;sweep&lt;/b&gt;" in page
    # The pages' only scripts are the two files, never inline code.
    assert re.findall(r"<script[^>]*>", page) == [
        '<script src="/static/dashboard.js" defer>',
        '<script src="/static/plotly.min.js" id="plotly-js" async>',
    ]
    # Plotly reads markup in names, labels and hover text: the renderer escapes them. It
    # writes parallel coordinates' tick labels as plain text, so those are left as they are.
    figures = detail(c, sweep_id)["figures"]
    parallel = next(f for f in figures if f["id"] == "plot-parallel")["data"][0]
    ticks = [t for d in parallel["dimensions"] for t in d.get("ticktext", [])]
    assert XSS in ticks
    for d in parallel["dimensions"]:
        d.pop("ticktext", None)

    assert XSS not in json.dumps(figures)
    # JSON carries the value as data, for the page to write as text.
    assert detail(c, sweep_id)["runs"][2]["config"]["model"] == XSS


def test_plotly_is_served_from_the_installed_package(filled) -> None:
    import plotly

    c = client(filled["store"])
    served = c.get("/static/plotly.min.js")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    shipped = plotly.__file__.replace("__init__.py", "package_data/plotly.min.js")
    assert served.content == Path(shipped).read_bytes()
    assert c.get("/static/../app.py").status_code == 404
    assert c.get("/static/app.py").status_code == 404


@pytest.mark.postgres
def test_the_store_url_and_its_password_appear_in_no_response() -> None:
    import sqlalchemy as sa

    base, reason = postgres_url()
    if base is None:
        pytest.skip(reason)
    schema = f"sweepctl_dash_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    # The server trusts local connections: the password is ignored, and must never show.
    password = "s3cret-Pa55word"
    url = base.replace("@", f":{password}@", 1) + f"?options=-csearch_path%3D{schema}"
    try:
        store = open_store(url, create=True)
        sweep_id, ids = fill(store)
        c = client(store, where=redact(store.url))
        csrf = csrf_of(c.get(f"/sweeps/{sweep_id}").text)
        bodies = [
            c.get(u).text
            for u in (
                "/",
                f"/sweeps/{sweep_id}",
                "/api/sweeps",
                f"/api/sweeps/{sweep_id}",
                f"/api/sweeps/{sweep_id}/importance",
                f"/api/sweeps/{sweep_id}/runs/{ids[0]}/log",
                "/api/sweeps/nosuch",
                "/sweeps/nosuch",
            )
        ]
        bodies.append(
            c.post(f"/api/sweeps/{sweep_id}/control/pause", headers={"X-Sweepctl-CSRF": csrf}).text
        )
        for body in bodies:
            assert password not in body
            assert "postgresql://" not in body or "***" in body
        store.engine.dispose()
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def test_early_termination_savings(store) -> None:
    runs = [
        ({"model": "cnn", "lr": 0.1}, [0.5, 0.6, 0.7, 0.8], "finished"),
        ({"model": "mlp", "lr": 0.1}, [0.2], "running"),
    ]
    sweep_id, ids = fill(store, runs=runs)
    store.finish_run(ids[1], "stopped", reason="early stop: hyperband band 1 (below 0.5)")
    early = detail(client(store), sweep_id)["early"]
    # It logged 1 value of the 4 a kept run logged: 3 saved, of 3 + 5 values in all.
    assert early == {"runs": 1, "saved": 3, "share": 3 / 8}


def test_an_ended_sweep_is_asked_less_often(filled) -> None:
    store, sweep_id = filled["store"], filled["sweep"]
    c = client(store)
    assert detail(c, sweep_id)["poll_ms"] == 1000
    store.set_sweep_state(sweep_id, "stopped")
    assert detail(c, sweep_id)["poll_ms"] == 1000  # a run is still running
    store.finish_run(filled["runs"][4], "finished", exit_code=0)
    assert detail(c, sweep_id)["poll_ms"] == 5000
