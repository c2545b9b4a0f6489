"""Search quality of sweepctl's bayes against its peers, side by side in one run.

    .venv/bin/python bench/search.py [--seeds 10] [--budget 50] [--problems ...]
                                     [--engines ...] [--modes sequential,parallel] [--quick]

Engines (searchbench/engines.py): sweepctl bayes and random through the real CLI, W&B's own
bayes (``sweeps`` 0.3.0, in its own virtualenv), Optuna TPE and GP, HEBO and Ax/BoTorch (each
in its own virtualenv), plain random search. Problems (problems/__init__.py): branin,
hartmann6, rosenbrock (4-D), ackley (5-D), levy (4-D), a mixed training surrogate, and
scikit-learn's MLP, SVC and SGD classifier on digits; every engine optimises the same
function over the same space.

Two modes: ``sequential`` (one run at a time) and ``parallel`` (4 at a time: ``agent
--workers 4`` for sweepctl; for the others, 4 workers as each engine's own run: asynchronous,
the oldest run told and one config asked with 3 in flight, HEBO in rounds of 4; each engine
handles the runs in flight its own way). Then suggestion latency with 100 and 1000 finished runs.

Every (mode, engine, problem, seed) result is cached as JSON under bench/.work/search/, so an
interrupted run resumes where it stopped; the report uses only seeds that finished for every
combination. Writes bench/RESULTS.md and PNGs under bench/results/search/ (``--quick``: a
small smoke run, written under bench/.work/search/quick/ instead).

``--save-traces FILE.json.gz`` writes the run's sweeps to one file that can be committed, and
``--load-traces FILE.json.gz`` puts those made by today's code (the same fingerprint: problems,
drivers, sweepctl's search modules) and package versions in the cache of a fresh checkout.
While the peers' drivers and versions stay as they are, a later run with a new bayes reruns
only sweepctl's sweeps, not the hours of HEBO and Ax (bench/results/traces/). The fingerprint
leaves out searchbench/engines.py, where the in-process peers and the peers' parallel workers
are driven: a change to how they run must change ``PEER_WORKERS`` (below) or the cache.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import gzip
import hashlib
import json
import multiprocessing
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One BLAS/OpenMP thread everywhere, set before numpy or torch load: jobs run side by side
# on few cores, and every engine is treated the same.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from problems import PROBLEMS, SPLITS, service  # noqa: E402
from searchbench import environments  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work" / "search"
MODES = {"sequential": 1, "parallel": 4}
CHECKPOINTS = (10, 25, 50)
# The engines whose sweeps take minutes each (their own GP fits): --slow-seeds runs them on
# fewer seeds, as the issue allows where they would make the full run much longer.
SLOW_ENGINES = ("hebo", "ax-botorch")
LATENCY_PROBLEMS = ("hartmann6", "surrogate")


@dataclass(frozen=True)
class Task:
    """One sweep to run: an engine on a problem with a seed, in a mode."""

    mode: str
    engine: str
    problem: str
    seed: int
    budget: int

    def path(self) -> Path:
        return WORK / "traces" / self.mode / self.engine / self.problem / f"seed{self.seed}.json"


# --- caching -----------------------------------------------------------------------------------


def _digest(paths: list[Path], extra: str = "") -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes())
    h.update(extra.encode())
    return h.hexdigest()[:12]


# The modules each sweepctl method imports: a change to them makes its cached sweeps stale.
SEARCH_MODULES = {
    "sweepctl-random": ("__init__", "random", "space"),
    "sweepctl-bayes": ("__init__", "bayes", "gpsampler", "latent", "grid", "space"),
}

# The drivers of the engines in their own venvs: a change to them makes their sweeps stale.
DRIVERS = {
    "wandb-bayes": ("wandb_driver.py",),
    "hebo": ("hebo_driver.py", "driver_loop.py"),
    "ax-botorch": ("ax_driver.py", "driver_loop.py"),
}


# How the peers' 4 workers run (searchbench/engines.py): part of their parallel traces' key, so
# that the traces of an earlier harness (every peer in synchronous rounds, until 2026-12-07)
# are not reused.
PEER_WORKERS = "asynchronous: the oldest run told, one config asked; hebo in rounds"


def fingerprint(engine: str, mode: str = "sequential") -> str:
    """What a cached trace depends on: the problems, sweepctl's search code for its own, a
    driver's files, and in parallel mode how a peer's workers run."""
    paths = [BENCH / "problems" / "__init__.py"]
    if engine in DRIVERS:
        paths += [BENCH / "searchbench" / name for name in DRIVERS[engine]]
    if engine in SEARCH_MODULES:
        paths.append(BENCH / "problems" / "run_problem.py")
        search = REPO / "sweepctl" / "search"
        paths += [search / f"{name}.py" for name in SEARCH_MODULES[engine]]
    peer_in_parallel = mode == "parallel" and engine not in SEARCH_MODULES  # not sweepctl's
    return _digest(paths, PEER_WORKERS if peer_in_parallel else "")


def cached(task: Task) -> dict[str, Any] | None:
    """The cached trace of a task, if it covers the budget and is of the current code."""
    saved = _saved(task)
    return None if saved is None else saved["trace"]


def _saved(task: Task) -> dict[str, Any] | None:
    """The task's cache file (budget, fingerprint, trace), if it is valid for the task."""
    try:
        saved = json.loads(task.path().read_text())
    except (OSError, ValueError):
        return None
    if saved["budget"] < task.budget or saved["fingerprint"] != fingerprint(task.engine, task.mode):
        return None
    return saved


def save_traces(tasks: list[Task], path: Path, made: dict[str, str]) -> int:
    """Write the cached traces of the tasks into one gzipped JSON file, keeping the file's
    traces of other tasks; ``made``: where and with what (date, git, machine, versions).
    Returns how many traces the file holds."""
    keys = {(t.mode, t.engine, t.problem, t.seed) for t in tasks}
    entries = [e for e in _archive(path)["traces"] if _key(e) not in keys] if path.exists() else []
    for task in tasks:
        saved = _saved(task)
        if saved is not None:
            key = {"mode": task.mode, "engine": task.engine, "problem": task.problem}
            entries.append({**key, "seed": task.seed, **saved})
    entries.sort(key=_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    # mtime 0: the same traces give the same bytes, so a file saved again shows no change
    with open(partial, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps({"made": made, "traces": entries}, separators=(",", ":")).encode())
    partial.replace(path)
    return len(entries)


def load_traces(tasks: list[Task], path: Path, versions: str) -> tuple[int, int, str | None]:
    """Fill the cache from a file of :func:`save_traces` with the traces of the tasks that are
    not cached and were made by today's code (the same fingerprint) and package versions;
    (loaded, left out, why nothing was loaded or None)."""
    archive = _archive(path)
    made = archive.get("made", {})
    if made.get("versions") != versions:
        return (
            0,
            len(archive["traces"]),
            (
                f"made with other package versions ({made.get('versions', 'unknown')}; "
                f"here: {versions})"
            ),
        )
    wanted = {(t.mode, t.engine, t.problem, t.seed): t for t in tasks if cached(t) is None}
    loaded = other = 0
    for entry in archive["traces"]:
        task = wanted.get(_key(entry))
        if task is None:
            continue
        if entry["budget"] < task.budget or entry["fingerprint"] != fingerprint(
            task.engine, task.mode
        ):
            other += 1  # shorter sweeps, or made by other code
            continue
        saved = {k: entry[k] for k in ("budget", "fingerprint", "trace")}
        task.path().parent.mkdir(parents=True, exist_ok=True)
        task.path().write_text(json.dumps(saved))
        loaded += 1
    return loaded, other, None


def _archive(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _key(entry: dict[str, Any]) -> tuple[str, str, str, int]:
    return entry["mode"], entry["engine"], entry["problem"], entry["seed"]


# --- running -----------------------------------------------------------------------------------

_server_path: Path | None = None


def _evaluator() -> None:
    """Start this worker's warm evaluator for run_problem.py (see problems/service.py)."""
    global _server_path
    if _server_path is None:
        _server_path = WORK / f"eval-{os.getpid()}.sock"
        service.serve(_server_path)
        os.environ[service.ENV] = str(_server_path)


def run_task(task: Task, use_server: bool) -> tuple[Task, str | None, float]:
    """Run one task in a pool worker and cache its trace; (task, error or None, seconds)."""
    from searchbench import engines

    start = time.perf_counter()
    try:
        if use_server and task.engine in engines.CLI_ENGINES:
            _evaluator()
        work = WORK / "sweeps" / task.mode
        trace = engines.run(
            task.engine, task.problem, task.seed, task.budget, MODES[task.mode], work
        )
    except Exception as exc:
        return task, f"{type(exc).__name__}: {exc}", time.perf_counter() - start
    task.path().parent.mkdir(parents=True, exist_ok=True)
    saved = {
        "budget": task.budget,
        "fingerprint": fingerprint(task.engine, task.mode),
        "trace": trace.to_json(),
    }
    task.path().write_text(json.dumps(saved))
    return task, None, time.perf_counter() - start


def run_all(tasks: list[Task], jobs: int, use_server: bool) -> list[str]:
    """Run the tasks without a cached trace, ``jobs`` at a time; the errors."""
    todo = [t for t in tasks if cached(t) is None]
    print(f"{len(tasks) - len(todo)} of {len(tasks)} sweeps cached; running {len(todo)}")
    errors = []
    started = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(run_task, t, use_server) for t in todo]
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            task, error, seconds = future.result()
            status = f"FAILED {error}" if error else f"{seconds:.1f} s"
            elapsed = (time.perf_counter() - started) / 60
            print(
                f"[{done}/{len(todo)} {elapsed:.1f} min] {task.mode} {task.engine} "
                f"{task.problem} seed {task.seed}: {status}",
                flush=True,
            )
            if error:
                errors.append(f"{task}: {error}")
    return errors


def make_tasks(args: argparse.Namespace) -> list[Task]:
    """Seeds outermost, so an interrupted run leaves whole seeds behind; the slow engines only
    on the first ``--slow-seeds`` seeds."""
    return [
        Task(mode, engine, problem, seed, args.budget)
        for seed in range(args.first_seed, args.first_seed + args.seeds)
        for mode in args.modes
        for problem in args.problems
        for engine in args.engines
        if engine not in SLOW_ENGINES or seed < args.first_seed + args.slow_seeds
    ]


def load(tasks: list[Task]) -> tuple[dict, list[int], list[int]]:
    """Cached traces of the seeds complete for every task; (traces, seeds, incomplete)."""
    traces, incomplete = {}, set()
    for task in tasks:
        trace = cached(task)
        if trace is None:
            incomplete.add(task.seed)
            continue
        traces[(task.mode, task.engine, task.problem, task.seed)] = trace
    seeds = sorted({t.seed for t in tasks} - incomplete)
    traces = {k: v for k, v in traces.items() if k[3] in seeds}
    return traces, seeds, sorted(incomplete)


# --- latency -----------------------------------------------------------------------------------


def run_latency(engines: list[str], sizes: list[int], repeats: int, fresh: bool) -> dict[str, Any]:
    """Suggestion latency per (engine, problem, size), cached in latency.json."""
    from searchbench import latency

    path = WORK / "latency.json"
    results = {} if fresh or not path.exists() else json.loads(path.read_text())
    for problem in LATENCY_PROBLEMS:
        for size in sizes:
            for engine in engines:
                key = f"{engine}|{problem}|{size}"
                if key in results and results[key]["fingerprint"] == fingerprint(engine):
                    continue
                # fewer repeats where one call takes seconds (GPs at 1000 runs)
                n = repeats if size <= 100 else max(1, repeats // 2)
                timing = latency.measure(engine, problem, size, n, WORK / "sweeps")
                results[key] = {**timing, "fingerprint": fingerprint(engine)}
                path.write_text(json.dumps(results, indent=1))
                print(f"latency {engine} {problem} {size}: {timing['median']:.4f} s", flush=True)
    return results


# --- writing -----------------------------------------------------------------------------------


def _versions() -> str:
    from importlib.metadata import version

    here = ", ".join(
        f"{p} {version(p)}" for p in ("optuna", "torch", "scikit-learn", "numpy", "scipy")
    )
    python = environments.WANDB_VENV / "bin" / "python"
    code = (
        "from importlib.metadata import version as v; "
        "print(', '.join(f'{p} {v(p)}' for p in ('sweeps', 'scikit-learn', 'numpy')))"
    )
    wandb = "absent"
    if python.exists():
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        wandb = done.stdout.strip() or "broken"
    out = f"{here}; W&B's venv: {wandb}"
    for label, venv, packages in (
        ("HEBO's", environments.HEBO_VENV, ("hebo", "torch", "numpy")),
        ("Ax's", environments.AX_VENV, ("ax-platform", "botorch", "torch", "numpy")),
    ):
        python = venv / "bin" / "python"
        if not python.exists():
            continue
        code = (
            "from importlib.metadata import version as v; "
            f"print(', '.join(f'{{p}} {{v(p)}}' for p in {packages!r}))"
        )
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        out += f"; {label} venv: {done.stdout.strip() or 'broken'}"
    return out


def _git() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "sweepctl"], cwd=REPO, capture_output=True, text=True
    ).stdout.split("\n")
    changed = sorted(line[3:] for line in dirty if line.strip())
    suffix = f" + uncommitted changes in {', '.join(changed)}" if changed else ""
    return (
        f"git {head}{suffix}; sweepctl's search modules the sweeps ran with: "
        f"{fingerprint('sweepctl-bayes')} (bayes), {fingerprint('sweepctl-random')} (random) "
        "(sha256 prefixes over the problems and the modules; a cached sweep is reused only "
        "while these are unchanged, so every sweep below ran with today's files)"
    )


def write_results(
    args: argparse.Namespace,
    tasks: list[Task],
    latency_results: dict[str, Any] | None,
    meta: dict[str, Any],
) -> Path:
    """RESULTS.md and the regret plots, from the cache."""
    from searchbench import report

    traces, seeds, incomplete = load(tasks)
    # An engine with no finished seed (its sweeps failed, or --report-only while the slow
    # engines are still running) has no row; every table is of the engines that have one.
    missing = [e for e in args.engines if not any(k[1] == e for k in traces)]
    args = argparse.Namespace(
        **{**vars(args), "engines": [e for e in args.engines if e not in missing]}
    )
    out_md = args.out
    if args.quick:
        plots = out_md.parent
    elif out_md.resolve() == (BENCH / "RESULTS.md").resolve():
        plots = BENCH / "results" / "search"
    else:  # another report (--out bench/results/NAME.md): its plots in bench/results/NAME/
        plots = out_md.with_suffix("")
    all_curves = report.curves(traces, args.budget)
    budgets = [n for n in CHECKPOINTS if n < args.budget] + [args.budget]  # the sweep's end too
    rel = lambda p: os.path.relpath(p, out_md.parent)  # noqa: E731
    lines = [
        "# Search quality: sweepctl bayes against its peers",
        "",
        f"`{meta['command']}`",
        "",
        f"- date: {meta['date']}; this invocation {meta['minutes']:.1f} min (sweeps run: "
        f"{meta['ran']}, from the cache: {meta['cached']}"
        + (f", {', '.join(meta['loaded'])}" if meta.get("loaded") else "")
        + "); the "
        f"reported sweeps' own wall times sum to {_sweep_minutes(traces):.1f} min",
        f"- machine: {os.cpu_count()} cores, {platform.platform()}; load average (1 min) "
        f"{meta['load_start']:.2f} at start, {os.getloadavg()[0]:.2f} at end "
        f"(the machine was shared), {args.jobs} sweeps at a time, 1 BLAS thread each",
        f"- code: {_git()}",
        f"- versions: {meta['versions']}",
        f"- configuration: {_split_line(args)}{len(seeds)} seeds "
        f"({', '.join(map(str, seeds)) or 'none'}), "
        f"{args.budget} runs per sweep, modes {', '.join(args.modes)}, "
        f"{len(args.problems)} problems, {len(args.engines)} engines",
    ]
    if len(seeds) < 10 or args.budget < 50:
        lines.append(
            f"- **This is a reduced run** ({len(seeds)} seeds × {args.budget} runs, not the "
            "issue's 10 × 50), chosen to fit the time on a shared 2-core machine. The full "
            "run: `.venv/bin/python bench/search.py "
            + (f"--split {args.split} " if args.split else "")
            + "--seeds 10 --budget 50` (it reuses this run's cached sweeps)."
        )
    slow = [e for e in args.engines if e in SLOW_ENGINES]
    slow_seeds = [s for s in seeds if s < args.first_seed + args.slow_seeds]
    if slow and slow_seeds and slow_seeds != seeds:
        lines.append(
            f"- **{' and '.join(slow)} are reported on {_count(len(slow_seeds), 'seed')}** "
            f"({', '.join(map(str, slow_seeds))}; `--slow-seeds {args.slow_seeds}`: their "
            "sweeps take minutes each, and #25 allows 5 seeds for them where 10 would make "
            "the run much longer): their medians are over those seeds, every other engine's "
            "over all the seeds above, so ranks and ratios compare medians of different seeds"
        )
    if missing:
        lines.append(f"- left out of this report, with no seed finished: {', '.join(missing)}")
    if incomplete:
        lines.append(f"- seeds left out (not finished for every combination): {incomplete}")
    lines += ["", *_definitions(args), ""]
    for mode in args.modes:
        title = "one run at a time" if mode == "sequential" else "4 runs at a time"
        lines += [f"## {mode.capitalize()}: {title}", "", "Goals for sweepctl bayes:", ""]
        lines += report.goals(all_curves, mode, args.engines, args.problems, budgets)
        if mode == "parallel":
            at = min(40, args.budget)  # the 40 runs, or the whole of a shorter sweep
            lines += report.parallel_goals(traces, all_curves, args.problems, at)
            cost = report.parallel_cost_table(all_curves, args.engines, args.problems, at)
            lines += ["", *cost] if cost else []
            reach = report.runs_to_match_table(all_curves, args.engines, args.problems, at)
            lines += ["", *reach] if reach else []
        for n in budgets:
            medians, mean_rank = report.table_data(all_curves, mode, args.engines, args.problems, n)
            lines += ["", f"Median regret after {n} runs ({mode}):", ""]
            lines += report.regret_table(medians, mean_rank, args.engines)
        png = plots / f"regret_{mode}.png"
        report.plot(all_curves, mode, args.engines, args.problems, png, f"Regret, {title}")
        lines += ["", f"![regret curves, {mode}]({rel(png)})", ""]
        lines += [*_wall_table(traces, mode, args), ""]
    if latency_results:
        lines += [*_latency_table(latency_results, args), ""]
    lines += _notes(args)
    out_md.write_text("\n".join(lines) + "\n")
    return out_md


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _split_line(args: argparse.Namespace) -> str:
    if not args.split:
        return ""
    problems, seeds = SPLITS[args.split]
    held = "chosen on" if args.split == "tuning" else "held back from"
    return (
        f"the **{args.split}** split (problems {', '.join(problems)}; seeds {seeds.start}-"
        f"{seeds.stop - 1}: the settings were {held} them), "
    )


def _sweep_minutes(traces: dict) -> float:
    return sum(t["seconds"] for t in traces.values()) / 60


def _definitions(args: argparse.Namespace) -> list[str]:
    known = {name: PROBLEMS[name].optimum for name in args.problems}
    unknown = [name for name, optimum in known.items() if optimum is None]
    without = (
        f" ({', '.join(unknown)}: the best value any engine reached in this run, as they have "
        "no known minimum)"
        if unknown
        else ""
    )
    minima = ", ".join(f"{k} {v:.6g}" for k, v in known.items() if v is not None)
    return [
        "Regret after n runs = best value among the first n runs − the problem's global "
        f"minimum{without}. Tables give the median over the seeds; the lowest "
        "per problem is in bold. Mean rank: engines ranked per problem by that median (ties "
        "share their mean rank), averaged over the problems; lower is better."
        + (f" Known minima: {minima}." if minima else ""),
    ]


def _wall_table(traces: dict, mode: str, args: argparse.Namespace) -> list[str]:
    """Mean wall seconds per sweep (for orientation: other jobs shared the cores)."""
    lines = [
        f"Mean wall seconds per {args.budget}-run sweep ({mode}; CLI engines include each run's "
        "process start; others run the objective in-process; the machine was shared):",
        "",
        "| problem | " + " | ".join(args.engines) + " |",
        "|---" * (len(args.engines) + 1) + "|",
    ]
    for problem in args.problems:
        cells = []
        for engine in args.engines:
            secs = [
                t["seconds"]
                for (m, e, p, _), t in traces.items()
                if (m, e, p) == (mode, engine, problem)
            ]
            cells.append(f"{sum(secs) / len(secs):.1f}" if secs else "–")
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    return lines


def _latency_table(results: dict[str, Any], args: argparse.Namespace) -> list[str]:
    sizes = args.latency_sizes  # latency.json may also hold sizes other runs asked for
    header = [f"{p}, {n} runs" for p in LATENCY_PROBLEMS for n in sizes]
    lines = [
        "## Suggestion latency",
        "",
        "Seconds for one suggestion given N finished runs (the same random history for every "
        "engine), median of the timed calls after a warm-up call; the engine's call only "
        "(searchbench/latency.py says exactly what is timed). Taken after the quality runs, "
        "one at a time.",
        "",
        "| engine | " + " | ".join(header) + " |",
        "|---" * (len(header) + 1) + "|",
    ]
    for engine in args.engines:
        cells = []
        for p in LATENCY_PROBLEMS:
            for n in sizes:
                r = results.get(f"{engine}|{p}|{n}")
                cells.append(f"{r['median']:.4f} ({len(r['times'])})" if r else "–")
        lines.append(f"| {engine} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("In brackets: number of timed calls.")
    return lines


def _notes(args: argparse.Namespace) -> list[str]:
    return [
        "## How this was run",
        "",
        "- sweepctl engines: the real CLI. A sweep file per (problem, seed) with "
        "`sweepctl: {seed: S}`, `sweepctl create`, `sweepctl agent ID --count B "
        "[--workers 4]`, `sweepctl runs ID --json`; each run is bench/problems/run_problem.py "
        "launched through W&B's macros. Its objective value comes from the harness's warm "
        "evaluator (problems/service.py: the same function in the same venv; it saves the "
        "1-2 s scikit-learn import per MLP run)"
        + (" — off for this run (`--no-eval-server`)." if args.no_eval_server else "."),
        "- wandb-bayes: `sweeps.next_run(config, runs)` of `sweeps` 0.3.0 in "
        "bench/.venvs/wandb-sweeps, runs as SweepRun objects with summaryMetrics and history; "
        "in parallel mode the runs in flight are passed as running SweepRuns (W&B's fantasies).",
        "- optuna-tpe: `TPESampler(seed=S, constant_liar=True)` (the liar only changes "
        "anything while trials are running); optuna-gp: `GPSampler(seed=S)`; both via "
        "`ask()` and `tell()`, trials in flight left running. Defaults otherwise (10 random "
        "start-up trials).",
        "- hebo: HEBO 0.3.6 (bench/.venvs/hebo, numpy 1.24), `HEBO(space, scramble_seed=S)`, "
        "`suggest(n_suggestions=n)` (4 at a time: its own batch mode, in rounds), `observe`; "
        "log-uniform as `pow`, q_uniform as an integer step index, categorical as `cat`.",
        "- ax-botorch: `ax.Client(random_seed=S)` of ax-platform 1.x (bench/.venvs/ax) with "
        "its default generation strategy (its first trial the centre of the space, then a "
        "quasi-random start, then BoTorch's GP with log-NEI: on ackley, whose minimum is the "
        "centre of its box, that first trial is the optimum), "
        "`get_next_trials(max_trials=1)` (the trials in flight pending), `complete_trial`; "
        "log-uniform as a log-scaled range, q_uniform as an integer step-index range, "
        "categorical as an unordered choice.",
        "- random: each parameter drawn independently from its W&B distribution.",
        "- parallel mode: 4 workers as each engine's own parallel workers run. sweepctl's "
        "workers claim runs as they free up; W&B (each `wandb agent` gets a run when its run "
        "ends), Optuna, Ax (its scheduler, or Ray Tune's AxSearch) and random are asked the "
        "same way: 4 configs one after another, then, each time the oldest run ends, its value "
        "told and one config asked with 3 in flight. HEBO knows no runs in flight and runs in "
        "synchronous rounds of 4, as Ray Tune's HEBOSearch (`max_concurrent=4`) waits for its "
        "whole batch (before 2026-12-07 every peer ran in rounds, which gave each claim of a "
        "round the values of the whole round before it). W&B's local controller computes its "
        "next run ahead of the agent's request, so a real W&B agent may know one result fewer "
        "than here. Runs are ordered by the order they were "
        "suggested (sweepctl: run number). Which of sweepctl's runs finishes first depends on "
        "timing, so its parallel figures differ between invocations with the same code and "
        "seeds (bayes claims see different runs finished). Its sequential ones repeat exactly "
        "on one machine; between two machines of this kind, sweepctl's bayes and Optuna's GP "
        "differed in some cells of the synthetic problems (the other engines did not), and "
        "every engine's MLP figures differed.",
        "- Regret curves: bench/results/search/regret_*.png (median line, interquartile band, "
        "log scale floored at 1e-6).",
        "- Same seed, same start: optuna-tpe and optuna-gp draw their 10 start-up configs from "
        "the same `RandomSampler(seed)`, so their first 10 runs coincide. sweepctl's random "
        "draws the stream of `random.Random(seed)`; plain random uses another stream, because "
        "with the same one the two gave identical values (a check that the CLI path evaluates "
        "the same function).",
        _greenlet_note(),
        "- The sweeps may run over several invocations of this command (resumed from the "
        "cache under bench/.work/search/; the date line says how many came from it), two at a "
        "time, while other work loads the machine; wall times above are for orientation only.",
    ]


def _greenlet_note() -> str:
    """How Optuna's GP optimised its acquisition in this interpreter (greenlet: batched)."""
    import importlib.util

    if importlib.util.find_spec("greenlet") is not None:
        return (
            "- Optuna's GP (and so sweepctl's bayes, built on it) optimised its acquisition "
            "with batched L-BFGS-B (the `greenlet` package is installed)."
        )
    return (
        "- Optuna's GP (and so sweepctl's bayes, built on it) logs that the `greenlet` package "
        "is absent and falls back to sequential L-BFGS-B; both ran that way here."
    )


# --- command line ------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    from searchbench.engines import ENGINES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, ...")
    parser.add_argument(
        "--split",
        choices=sorted(SPLITS),
        help="the tuning or held-back half: its problems and seeds (10 from 0 or from 10; "
        "--seeds fewer takes the first of them), unless --problems says otherwise",
    )
    parser.add_argument(
        "--slow-seeds",
        type=int,
        metavar="N",
        help=f"run {' and '.join(SLOW_ENGINES)} only on the first N seeds (default: all; "
        "a --report-only of such a run needs the same N)",
    )
    parser.add_argument("--budget", type=int, default=50, help="runs per sweep")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated")
    parser.add_argument("--modes", default="sequential,parallel", help="comma-separated")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="sweeps at a time")
    parser.add_argument("--latency-sizes", default="100,1000", help="finished runs; '' skips")
    parser.add_argument("--latency-repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 seeds × 12 runs, 2 problems")
    parser.add_argument("--fresh", action="store_true", help="ignore cached results")
    parser.add_argument("--report-only", action="store_true", help="write from the cache")
    parser.add_argument("--no-eval-server", action="store_true", help="MLP imports per run")
    parser.add_argument("--out", type=Path, help="the markdown file (default bench/RESULTS.md)")
    parser.add_argument(
        "--load-traces",
        type=Path,
        action="append",
        default=[],
        help="a .json.gz of --save-traces: its sweeps made by today's code and package "
        "versions are not run again",
    )
    parser.add_argument(
        "--save-traces",
        type=Path,
        help="add this run's sweeps to a .json.gz (to commit), keeping its others",
    )
    args = parser.parse_args(argv)
    if args.slow_seeds is not None and args.slow_seeds < 1:
        parser.error("--slow-seeds must be at least 1")
    if args.fresh and args.load_traces:
        parser.error("--fresh runs every sweep again: leave out --load-traces")
    if args.split:
        problems, seeds = SPLITS[args.split]
        if args.problems == ",".join(PROBLEMS):
            args.problems = ",".join(problems)
        args.first_seed, args.seeds = seeds.start, min(args.seeds, len(seeds))
    if args.quick:
        args.seeds, args.budget = min(args.seeds, 2), min(args.budget, 12)
        if args.problems == ",".join(PROBLEMS):
            args.problems = "branin,surrogate"
        args.latency_sizes = "30"
    if args.slow_seeds is None or args.slow_seeds > args.seeds:
        args.slow_seeds = args.seeds
    args.problems = [p for p in args.problems.split(",") if p]
    args.engines = [e for e in args.engines.split(",") if e]
    args.modes = [m for m in args.modes.split(",") if m]
    args.latency_sizes = [int(n) for n in args.latency_sizes.split(",") if n]
    for name, known, chosen in (
        ("problem", PROBLEMS, args.problems),
        ("engine", ENGINES, args.engines),
        ("mode", MODES, args.modes),
    ):
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            parser.error(f"unknown {name}s {unknown}; choose from {', '.join(known)}")
    if args.out is None:
        args.out = WORK / "quick" / "RESULTS.md" if args.quick else BENCH / "RESULTS.md"
    return args


def main() -> None:
    environments.ensure_bench_python([__file__, *sys.argv[1:]])
    args = parse_args(sys.argv[1:])
    if "wandb-bayes" in args.engines:
        environments.ensure_wandb_venv()
    if "hebo" in args.engines:
        environments.ensure_hebo_venv()
    if "ax-botorch" in args.engines:
        environments.ensure_ax_venv()
    WORK.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.fresh and not args.report_only:
        for path in (WORK / "traces").glob("**/*.json"):
            path.unlink()
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    tasks = make_tasks(args)
    loaded, versions = [], _versions()
    for path in args.load_traces:
        n, other, why = load_traces(tasks, path, versions)
        name = os.path.relpath(path, REPO)
        loaded += [f"{n} loaded from {name}"] if n else []
        print(f"{name}: {n} traces loaded, {other} left out ({why or 'shorter or other code'})")
    ran = 0
    if not args.report_only:
        ran = sum(cached(t) is None for t in tasks)
        errors = run_all(tasks, args.jobs, not args.no_eval_server)
        for error in errors:
            print("error:", error, file=sys.stderr)
    latency_results = None
    if args.latency_sizes:
        if args.report_only:
            path = WORK / "latency.json"
            latency_results = json.loads(path.read_text()) if path.exists() else None
        else:
            latency_results = run_latency(
                args.engines, args.latency_sizes, args.latency_repeats, args.fresh
            )
    meta = {
        "command": shlex.join([".venv/bin/python", "bench/search.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "minutes": (time.perf_counter() - start) / 60,
        "load_start": load_start,
        "ran": ran,
        "cached": len(tasks) - ran,
        "loaded": loaded,
        "versions": versions,
    }
    if args.save_traces:  # before the report, so that a long run's sweeps are kept whatever
        made = {
            "date": meta["date"],
            "git": _git(),
            "machine": f"{os.cpu_count()} cores, {platform.platform()}",
            "versions": versions,
        }
        n = save_traces(tasks, args.save_traces, made)
        print(f"{os.path.relpath(args.save_traces, REPO)} holds {n} traces")
    out = write_results(args, tasks, latency_results, meta)
    print(f"wrote {os.path.relpath(out, REPO)}")


if __name__ == "__main__":
    main()
