"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
`sweepctl dashboard` process, with a real `sweepctl agent` running a real sweep.

Skips only when Chromium (/usr/bin/chromium; scripts/test.sh installs it) or the playwright
package cannot be found, and says which.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("starlette")
pytest.importorskip("plotly")

from dashboard_fixtures import XSS, fill
from dashboard_server import dashboard

from sweepctl.store import Store, open_store

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "dashboard.png"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no browser: {CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"the playwright package is not installed ({exc}); pip install playwright")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # No network but this machine: Plotly must come from the dashboard itself.
            args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        yield chromium
        chromium.close()


class Watched:
    """A page, and what it said: script errors and dialogs (an alert would mean injection)."""

    def __init__(self, browser, **options: Any) -> None:
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def body(self, name: str) -> str | None:
        return self.page.evaluate(f"document.body.dataset[{json.dumps(name)}] || null")

    def close(self) -> None:
        self.context.close()


PROGRAM = """
import sys, time
import sweepctl

args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:] if "=" in a)
lr = float(args["lr"])
print("training", args["model"], "lr", lr, flush=True)
for step in range(14):
    acc = 1 - (1 - lr) ** (step + 1)
    sweepctl.log({"val/acc": acc})
    print(f"step {step} val/acc {acc:.4f}", flush=True)
    time.sleep(0.4)
"""

SWEEP_FILE = f"""
name: live
program: train.py
method: grid
metric: {{name: val/acc, goal: maximize}}
parameters:
  model: {{values: ["{XSS}", cnn]}}
  lr: {{values: [0.1, 0.2, 0.3]}}
"""


def wait_for(page, expression: str, timeout: float = 60) -> Any:
    """Wait until ``expression`` is true in the page, and return its value. Polled from
    here: Playwright's own waiting evaluates strings in the page, which the dashboard's
    Content-Security-Policy (no eval) refuses."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {expression}")
        page.wait_for_timeout(100)


def assert_webgl_drew(page) -> None:
    """Parallel coordinates are WebGL, which compiles code at run time: under a policy that
    forbids it, Plotly draws a grey "WebGL is not supported" box instead of failing."""
    div = page.locator("#plot-parallel")
    assert "WebGL is not supported" not in div.inner_text()
    assert page.evaluate("document.querySelectorAll('#plot-parallel canvas').length") > 0


def cli(root: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_live_runs_curves_log_and_stop_with_a_real_agent(browser, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'store' / 'sweepctl.db'}"
    env = {**os.environ, "SWEEPCTL_STORAGE": storage}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("SWEEPCTL_METRICS_FILE", None)
    (tmp_path / "train.py").write_text(textwrap.dedent(PROGRAM))
    (tmp_path / "sweep.yaml").write_text(textwrap.dedent(SWEEP_FILE))
    sweep_id = cli(tmp_path, env, "create", "sweep.yaml", "--quiet").strip()
    watched = None
    agent = None
    with dashboard(storage, cwd=tmp_path) as (url, _):
        try:
            watched = Watched(browser)
            page = watched.page
            page.goto(f"{url}sweeps/{sweep_id}")
            wait_for(page, "document.body.dataset.version")
            assert watched.body("runs") == "0"
            page.evaluate("window.sameDocument = true")  # gone if the page ever reloads
            agent = subprocess.Popen(
                [sys.executable, "-m", "sweepctl", "agent", sweep_id],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            # Runs appear, and the running run's curve grows, with no reload.
            wait_for(page, "Number(document.body.dataset.runs) >= 1")
            points = wait_for(
                page,
                "Number(document.getElementById('plot-curves').dataset.points || 0) >= 2"
                " && document.getElementById('plot-curves').dataset.points",
            )
            wait_for(
                page,
                f"Number(document.getElementById('plot-curves').dataset.points) > {points}",
            )
            assert page.evaluate("window.sameDocument") is True
            assert page.locator("#plot-curves .scatterlayer .trace").count() >= 1
            # The running run's row, clicked, shows the end of its output.
            page.locator("#runs tbody tr").first.click()
            wait_for(page, "document.getElementById('log').textContent.includes('step ')")
            assert "training" in page.locator("#log").inner_text()
            # A config value that is markup is shown as text, and nothing ran.
            cells = page.locator("#runs tbody td").all_inner_texts()
            assert XSS in cells
            # Stop: the store says stopped, and the agent starts nothing more and exits.
            page.locator("button.control.stop").click()
            wait_for(page, "document.body.dataset.state === 'stopped'")
            (listed,) = json.loads(cli(tmp_path, env, "ls", "--json"))
            assert listed["state"] == "stopped"
            store = open_store(storage)
            started = len(store.runs(sweep_id))
            assert agent.wait(timeout=60) == 0, agent.stderr.read()
            runs = store.runs(sweep_id)
            assert len(runs) == started < 6  # the grid has 6 points; no run began after stop
            assert all(r.state != "running" for r in runs)
            wait_for(page, f"Number(document.body.dataset.runs) === {started}")
            assert watched.errors == [] and watched.dialogs == []
            assert page.locator("button.control.resume").is_visible()
            assert not page.locator("button.control.stop").is_visible()
        finally:
            if agent is not None and agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=30)
            if watched is not None:
                watched.close()


def test_escaped_user_data_and_read_only_in_the_browser(browser, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'store.db'}"
    _, ids = fill(open_store(storage, create=True))
    with dashboard(storage, "--read-only") as (url, _):
        watched = Watched(browser)
        page = watched.page
        try:
            page.goto(url)
            wait_for(page, "document.body.dataset.sweeps === '1'")
            assert page.locator("#sweeps tbody a").inner_text() == "known <b>sweep</b>"
            page.locator("#sweeps tbody a").click()
            wait_for(page, "document.body.dataset.runs === '5'")
            page.locator("#plot-parallel").scroll_into_view_if_needed()
            wait_for(page, "document.querySelectorAll('#plot-parallel .main-svg').length > 0")
            assert_webgl_drew(page)
            assert page.locator("h1#label").inner_text() == "known <b>sweep</b>"
            assert XSS in page.locator("#runs tbody td").all_inner_texts()
            assert XSS in page.locator("#best-config").inner_text()
            # The markup stayed text: no <b> element from the name, no script but the two.
            assert page.locator("main b:text('sweep')").count() == 0
            assert page.evaluate("document.scripts.length") == 2
            assert page.locator("button.control").count() == 0  # read-only
            # Sorting by the metric, then filtering by state.
            metric_header = page.locator("#runs thead th", has_text="val/acc")
            metric_header.click()
            metric_header.click()  # descending: the best first
            first = page.locator("#runs tbody tr").first
            assert first.get_attribute("data-run") == ids[2]
            page.select_option("#state-filter", "failed")
            assert page.locator("#runs tbody tr").count() == 1
            assert page.locator("#runs tbody tr").first.get_attribute("data-run") == ids[3]
            assert watched.errors == [] and watched.dialogs == []
        finally:
            watched.close()


def test_a_token_guarded_dashboard_in_the_browser(browser, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'store.db'}"
    sweep_id, _ = fill(open_store(storage, create=True))
    with dashboard(storage, "--host", "0.0.0.0") as (url, _):
        parts = urlsplit(url)
        base = f"http://127.0.0.1:{parts.port}/"
        stranger = Watched(browser)
        try:
            assert stranger.page.goto(base).status == 401
            assert stranger.page.goto(f"{base}sweeps/{sweep_id}?token=wrong").status == 403
        finally:
            stranger.close()
        watched = Watched(browser)
        page = watched.page
        try:
            # The printed URL once; then the page and its own requests carry the cookie.
            assert page.goto(f"{base}?{parts.query}").status == 200
            wait_for(page, "document.body.dataset.sweeps === '1'")
            page.locator("#sweeps tbody a").click()
            wait_for(page, "document.body.dataset.runs === '5'")
            page.locator("button.control.pause").click()
            wait_for(page, "document.body.dataset.state === 'paused'")
            assert open_store(storage).get_sweep(sweep_id).state == "paused"
            assert watched.errors == []
        finally:
            watched.close()


# -- the screenshot ---------------------------------------------------------------------------

SHOWN_SWEEP = {
    "name": "resnet-lr-search",
    "method": "bayes",
    "program": "train.py",
    "metric": {"name": "val/acc", "goal": "maximize"},
    "run_cap": 24,
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
        "batch_size": {"values": [32, 64, 128]},
        "optimizer": {"values": ["adam", "sgd"]},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
    },
}


def shown_store(store: Store) -> str:
    """A sweep that looks like one a person watches: finished runs, two still logging."""
    import random

    rng = random.Random(7)
    runs = []
    for index in range(16):
        lr = 10 ** rng.uniform(-4, -1)
        config = {
            "lr": round(lr, 6),
            "batch_size": rng.choice([32, 64, 128]),
            "optimizer": rng.choice(["adam", "sgd"]),
            "dropout": round(rng.uniform(0, 0.5), 3),
        }
        quality = 0.93 - 0.08 * abs(math.log10(lr) + 2.3) - 0.05 * config["dropout"]
        quality -= 0.02 if config["optimizer"] == "sgd" else 0
        steps = 20 if index < 14 else 9
        curve = [
            round(quality * (1 - math.exp(-(s + 1) / 4)) + rng.uniform(-0.01, 0.01), 4)
            for s in range(steps)
        ]
        state = "running" if index >= 14 else ("failed" if index == 5 else "finished")
        runs.append((config, curve, state))
    sweep_id, ids = fill(store, SHOWN_SWEEP, runs)
    for run_id, (config, curve, _) in zip(ids, runs, strict=True):
        folder = store.files_dir / "runs" / sweep_id / run_id
        folder.mkdir(parents=True)
        lines = [f"training resnet18 lr={config['lr']} batch_size={config['batch_size']}"]
        lines += [f"epoch {i:>2}  val/acc {v:.4f}" for i, v in enumerate(curve)]
        (folder / "output.log").write_text("\n".join(lines) + "\n")
    return sweep_id


def colours(pixels) -> int:
    import numpy as np

    packed = pixels.astype(np.uint32)
    return len(np.unique((packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2]))


def test_screenshot_of_a_sweep_page_has_its_plots_drawn(browser, tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    image_module = pytest.importorskip("PIL.Image")
    storage = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(storage, create=True)
    sweep_id = shown_store(store)
    with dashboard(storage) as (url, _):
        watched = Watched(browser, viewport={"width": 1280, "height": 900})
        page = watched.page
        try:
            page.goto(f"{url}sweeps/{sweep_id}")
            wait_for(page, "document.body.dataset.runs === '16'")
            # Figures are drawn as they scroll into view.
            for name in ("curves", "best-so-far", "parallel", "importance"):
                page.locator(f"#plot-{name}").scroll_into_view_if_needed()
                wait_for(page, f"document.querySelectorAll('#plot-{name} .main-svg').length > 0")
            assert_webgl_drew(page)
            page.evaluate("window.scrollTo(0, 0)")
            running = next(r for r in store.runs(sweep_id) if r.state == "running")
            page.locator(f'#runs tbody tr[data-run="{running.id}"]').click()
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert watched.errors == []
        finally:
            watched.close()
    with image_module.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    height, width, _ = pixels.shape
    assert width == 1280 and height > 1500
    assert pixels.var() > 0 and colours(pixels) > 200
    # Each plot's area is drawn, not left blank: many colours in the curves' band.
    top = pixels[300:800]
    assert colours(top) > 50
    saved = REPO / ".pytest_cache" / "dashboard.png"
    saved.parent.mkdir(exist_ok=True)
    shutil.copyfile(shot, saved)  # to look at after a run
    if os.environ.get("SWEEPCTL_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, SCREENSHOT)
