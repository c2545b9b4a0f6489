"""How fast the dashboard answers over a large sweep: 2,000 runs with 100 metric rows each.

    .venv/bin/python bench/dashboard.py [--runs 2000] [--rows 100] [--repeat 7]
        [--store PATH] [--out bench/results/dashboard.md]

The store is a real SQLite file filled through the Store API the agent uses (claim, record
metrics, finish), kept under --store to be reused (it takes a while to make). A real
`sweepctl dashboard` process serves it on a free port; each URL is fetched over HTTP --repeat
times in a row and the median (and min, max) wall time of the whole response is reported:

- the sweep page (HTML; opening it also marks lost runs, a short write),
- its data (every run's row and metric curve, the best run, the figures' Plotly JSON),
- a poll with nothing changed (what an open page asks every second),
- the sweeps list, parameter importance (first: computed; then cached), plotly.min.js.

With Chromium and playwright installed, it also times the page in a real browser: from
navigation to every figure drawn (median of --browser-repeat loads). The target: each under
1 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from dashboard_server import dashboard  # noqa: E402

from sweepctl.store import open_store  # noqa: E402

SWEEP = {
    "name": "big",
    "method": "random",
    "program": "train.py",
    "metric": {"name": "val/loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        "batch_size": {"values": [16, 32, 64, 128]},
        "optimizer": {"values": ["adam", "sgd", "adamw"]},
        "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
    },
}


def make_store(path: Path, runs: int, rows: int) -> tuple[str, str]:
    """The store at ``path`` with one sweep of ``runs`` runs (made once); (url, sweep id)."""
    url = f"sqlite:///{path}"
    store = open_store(url, create=True)
    found = [s for s in store.sweeps() if s.name == f"big-{runs}x{rows}"]
    if found and len(store.runs(found[0].id)) == runs:
        return url, found[0].id
    rng = random.Random(0)
    sweep = store.create_sweep(SWEEP, name=f"big-{runs}x{rows}", source="bench")
    agent = store.register_agent(sweep.id, "bench", os.getpid())
    started = time.perf_counter()
    for index in range(runs):
        config = {
            "lr": 10 ** rng.uniform(-5, -1),
            "batch_size": rng.choice([16, 32, 64, 128]),
            "optimizer": rng.choice(["adam", "sgd", "adamw"]),
            "dropout": rng.uniform(0, 0.5),
            "layers": rng.randint(1, 8),
        }
        _, run = store.claim(sweep.id, agent, lambda _s, _r, c=config: ("run", c))
        floor = 0.2 + abs(math.log10(config["lr"]) + 3) * 0.1 + config["dropout"] * 0.2
        values = [floor + 2.0 * math.exp(-s / 15) + rng.uniform(0, 0.02) for s in range(rows)]
        data = [{"val/loss": v, "train/loss": v * 0.9, "_step": s} for s, v in enumerate(values)]
        store.record_metrics(
            run.id, 0, data, summary=data[-1], metric=min(values), metric_history=values
        )
        store.finish_run(run.id, "finished", exit_code=0)
        if (index + 1) % 250 == 0:
            print(f"  {index + 1} runs stored ({time.perf_counter() - started:.0f}s)", flush=True)
    store.end_agent(agent)
    return url, sweep.id


def fetch(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        size = len(response.read())
    return time.perf_counter() - started, size


def timed(url: str, repeat: int) -> dict[str, float]:
    times, size = [], 0
    for _ in range(repeat):
        took, size = fetch(url)
        times.append(took)
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "bytes": size,
    }


def browser_load(page_url: str, repeat: int) -> dict[str, list[float]] | str:
    """Seconds from navigation to the first screen drawn (cards, runs table, every run's
    curves), then to every figure drawn, scrolled to in turn (each is drawn when first in
    view), in headless Chromium."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        return f"{chromium} is missing"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return "playwright is not installed"
    times: dict[str, list[float]] = {"first screen": [], "every figure": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            started = time.perf_counter()
            page.goto(page_url)
            page.wait_for_function(
                "document.body.dataset.runs && document.querySelector('#plot-curves .main-svg')",
                timeout=120_000,
            )
            times["first screen"].append(time.perf_counter() - started)
            for name in ("best-so-far", "parallel", "importance"):
                page.locator(f"#plot-{name}").scroll_into_view_if_needed()
                page.wait_for_function(
                    f"document.querySelector('#plot-{name} .main-svg')", timeout=120_000
                )
            # Plotly draws parallel coordinates' lines after it returns: wait for the frame.
            page.evaluate("new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
            times["every figure"].append(time.perf_counter() - started)
            page.close()
        browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--browser-repeat", type=int, default=3)
    parser.add_argument(
        "--store", type=Path, default=ROOT / "bench" / ".work" / "dashboard" / "big.db"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dashboard.md")
    args = parser.parse_args()
    args.store.parent.mkdir(parents=True, exist_ok=True)
    print(f"store: {args.store} ({args.runs} runs x {args.rows} rows)", flush=True)
    made = time.perf_counter()
    url, sweep_id = make_store(args.store, args.runs, args.rows)
    print(f"store ready in {time.perf_counter() - made:.1f}s", flush=True)
    results: dict[str, dict[str, float]] = {}
    load = os.getloadavg()[0]
    with dashboard(url) as (base, _):
        version = json.loads(urllib.request.urlopen(f"{base}api/sweeps/{sweep_id}").read())[
            "version"
        ]
        first_importance = fetch(f"{base}api/sweeps/{sweep_id}/importance")[0]
        cases = {
            "sweep page (HTML)": f"{base}sweeps/{sweep_id}",
            "sweep data (runs, curves, figures)": f"{base}api/sweeps/{sweep_id}",
            "poll, nothing changed": f"{base}api/sweeps/{sweep_id}?since={version}",
            "sweeps list": f"{base}api/sweeps",
            "parameter importance (cached)": f"{base}api/sweeps/{sweep_id}/importance",
            "plotly.min.js": f"{base}static/plotly.min.js",
        }
        for name, case_url in cases.items():
            results[name] = timed(case_url, args.repeat)
            r = results[name]
            print(f"{name:40s} median {r['median'] * 1000:7.1f} ms  {r['bytes']:>9,} bytes")
        loads = browser_load(f"{base}sweeps/{sweep_id}", args.browser_repeat)
    lines = [
        "# Dashboard: response times over a large sweep",
        "",
        f"`bench/dashboard.py --runs {args.runs} --rows {args.rows} --repeat {args.repeat}`: "
        f"one sweep of {args.runs} finished runs with {args.rows} metric rows each "
        f"({args.runs * args.rows:,} rows) in a SQLite store, served by a real "
        "`sweepctl dashboard` process, fetched over HTTP on the same machine "
        f"({platform.machine()}, {os.cpu_count()} CPUs as Python sees them, shared with other "
        f"work: load average {load:.1f} at the start; Python {platform.python_version()}). "
        "Target: under 1 s each.",
        "",
        "| request | median | min | max | size |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['median'] * 1000:.0f} ms | {r['min'] * 1000:.0f} ms | "
            f"{r['max'] * 1000:.0f} ms | {r['bytes'] / 1024:,.0f} KiB |"
        )
    lines.append(
        f"| parameter importance (first: a random forest on {args.runs} runs) | "
        f"{first_importance * 1000:.0f} ms | | | |"
    )
    lines.append("")
    if isinstance(loads, str):
        lines.append(f"In a browser: not measured ({loads}).")
    else:
        first, every = loads["first screen"], loads["every figure"]
        lines.append(
            "In headless Chromium (Playwright; no GPU, so WebGL is drawn in software), from "
            f"navigation to the first screen drawn (cards, the runs table, the curves of all "
            f"{args.runs} runs): median **{statistics.median(first):.2f} s** "
            f"({', '.join(f'{t:.2f}' for t in first)} s); to every figure drawn, scrolling "
            "to each (best so far, parallel coordinates, importance are drawn when first in "
            f"view): median {statistics.median(every):.2f} s "
            f"({', '.join(f'{t:.2f}' for t in every)} s)."
        )
        print(f"browser: first screen {first}, every figure {every}", flush=True)
    lines.append("")
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
