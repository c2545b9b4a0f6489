"""bench/search.py: which sweeps a run is made of, and which seeds its report uses."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))


@pytest.fixture
def search(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_search", BENCH / "search.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_search", module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "WORK", tmp_path)  # the cache, away from bench/.work
    return module


def _seeds(tasks, engine):
    return sorted({t.seed for t in tasks if t.engine == engine})


def test_slow_engines_run_on_the_first_slow_seeds_of_the_split(search):
    args = search.parse_args(
        ["--split", "held-back", "--engines", "sweepctl-bayes,hebo,ax-botorch", "--slow-seeds", "3"]
    )
    tasks = search.make_tasks(args)
    assert _seeds(tasks, "sweepctl-bayes") == list(range(10, 20))
    assert _seeds(tasks, "hebo") == _seeds(tasks, "ax-botorch") == [10, 11, 12]
    # every mode and problem of those seeds, for each engine
    per_engine = {e: sum(t.engine == e for t in tasks) for e in ("sweepctl-bayes", "hebo")}
    assert per_engine == {"sweepctl-bayes": 10 * 2 * 4, "hebo": 3 * 2 * 4}


def test_without_slow_seeds_every_engine_runs_every_seed(search):
    args = search.parse_args(["--seeds", "4", "--engines", "random,hebo", "--problems", "branin"])
    tasks = search.make_tasks(args)
    assert _seeds(tasks, "hebo") == _seeds(tasks, "random") == [0, 1, 2, 3]
    # more slow seeds than seeds: all of them
    args = search.parse_args(["--seeds", "2", "--slow-seeds", "5", "--engines", "hebo"])
    assert args.slow_seeds == 2


def test_the_report_keeps_seeds_complete_for_the_engines_that_run_them(search):
    args = search.parse_args(
        ["--seeds", "3", "--slow-seeds", "1", "--engines", "random,hebo", "--problems", "branin"]
    )
    args.modes = ["sequential"]
    tasks = search.make_tasks(args)
    for task in tasks:
        if (task.engine, task.seed) == ("random", 2):
            continue  # seed 2 unfinished: left out for every engine
        task.path().parent.mkdir(parents=True, exist_ok=True)
        trace = {"configs": [], "values": [float(task.seed)], "seconds": 1.0}
        saved = {
            "budget": task.budget,
            "fingerprint": search.fingerprint(task.engine, task.mode),
            "trace": trace,
        }
        task.path().write_text(json.dumps(saved))
    traces, seeds, incomplete = search.load(tasks)
    assert seeds == [0, 1] and incomplete == [2]
    assert sorted((k[1], k[3]) for k in traces) == [("hebo", 0), ("random", 0), ("random", 1)]


def _cache(search, task, values, fingerprint=None, budget=None):
    """Put a trace for ``task`` in the cache, as run_task would."""
    task.path().parent.mkdir(parents=True, exist_ok=True)
    saved = {
        "budget": task.budget if budget is None else budget,
        "fingerprint": fingerprint or search.fingerprint(task.engine, task.mode),
        "trace": {
            "configs": [{"x": float(v)} for v in values],
            "values": list(values),
            "seconds": 2.0,
        },
    }
    task.path().write_text(json.dumps(saved))


MADE = {"date": "today", "versions": "optuna 1"}


def test_saved_traces_fill_a_fresh_cache_with_those_of_todays_code(search, tmp_path, monkeypatch):
    args = search.parse_args(["--seeds", "2", "--engines", "random,hebo", "--problems", "branin"])
    tasks = search.make_tasks(args)  # seed 0 sequential, seed 0 parallel, seed 1 ...
    assert {t.mode for t in tasks} == {"sequential", "parallel"}
    for task in tasks:
        stale = (task.engine, task.seed, task.mode) == ("hebo", 1, "parallel")
        _cache(search, task, [task.seed + 0.5], fingerprint="older-driver" if stale else None)
    archive = tmp_path / "archive" / "traces.json.gz"
    assert search.save_traces(tasks, archive, MADE) == 7  # the stale one is not cached either

    monkeypatch.setattr(search, "WORK", tmp_path / "fresh")
    assert all(search.cached(t) is None for t in tasks)
    assert search.load_traces(tasks, archive, "optuna 1") == (7, 0, None)
    stale = [t for t in tasks if search.cached(t) is None]
    assert [(t.engine, t.seed, t.mode) for t in stale] == [("hebo", 1, "parallel")]
    parallel = next(t for t in tasks if (t.engine, t.seed, t.mode) == ("random", 1, "parallel"))
    assert search.cached(parallel)["values"] == [1.5]
    # loading again changes nothing: those tasks are cached now
    assert search.load_traces(tasks, archive, "optuna 1") == (0, 0, None)


def test_traces_of_other_code_or_shorter_sweeps_are_not_loaded(search, tmp_path, monkeypatch):
    args = search.parse_args(["--seeds", "2", "--engines", "random", "--problems", "branin"])
    args.modes = ["sequential"]
    short, other = search.make_tasks(args)
    _cache(search, short, [1.0], budget=30)  # today's code, but 30 runs: not enough for 50
    _cache(search, other, [1.0], fingerprint="older-code")  # 50 runs of other code
    archive = tmp_path / "traces.json.gz"
    # save both as they are, though neither is valid here
    real = search._saved
    monkeypatch.setattr(search, "_saved", lambda task: json.loads(task.path().read_text()))
    search.save_traces([short, other], archive, MADE)
    monkeypatch.setattr(search, "_saved", real)
    monkeypatch.setattr(search, "WORK", tmp_path / "fresh")
    assert search.load_traces([short, other], archive, "optuna 1") == (0, 2, None)
    assert not short.path().exists() and not other.path().exists()


def test_traces_made_with_other_package_versions_are_not_loaded(search, tmp_path, monkeypatch):
    args = search.parse_args(["--seeds", "1", "--engines", "random", "--problems", "branin"])
    (task, _) = search.make_tasks(args)
    _cache(search, task, [1.0])
    archive = tmp_path / "traces.json.gz"
    search.save_traces([task], archive, MADE)
    monkeypatch.setattr(search, "WORK", tmp_path / "fresh")
    loaded, other, why = search.load_traces([task], archive, "optuna 2")
    assert (loaded, other) == (0, 1) and "optuna 1" in why and "optuna 2" in why
    assert not task.path().exists()


def test_saving_keeps_the_files_other_traces_and_the_same_traces_give_the_same_bytes(
    search, tmp_path
):
    args = search.parse_args(["--seeds", "2", "--engines", "random,hebo", "--problems", "branin"])
    tasks = search.make_tasks(args)
    for task in tasks:
        _cache(search, task, [1.0])
    archive = tmp_path / "traces.json.gz"
    assert search.save_traces(tasks, archive, MADE) == 8
    first = archive.read_bytes()
    only_random = [t for t in tasks if t.engine == "random"]
    assert search.save_traces(only_random, archive, MADE) == 8  # hebo's kept
    assert archive.read_bytes() == first


def test_slow_seeds_below_one_are_refused(search, capsys):
    with pytest.raises(SystemExit):
        search.parse_args(["--slow-seeds", "0"])
    assert "--slow-seeds must be at least 1" in capsys.readouterr().err


def test_the_report_says_which_seeds_each_engine_has_and_leaves_out_an_engine_without_any(
    search, tmp_path
):
    out = tmp_path / "report.md"
    engines = "sweepctl-bayes,random,hebo,ax-botorch"
    run = ["--seeds", "3", "--slow-seeds", "1", "--engines", engines, "--problems", "branin"]
    args = search.parse_args([*run, "--latency-sizes", "", "--out", str(out)])
    tasks = search.make_tasks(args)
    offset = {"sweepctl-bayes": 1.0, "random": 2.0, "hebo": 0.5, "ax-botorch": 0.7}
    for task in tasks:  # values fall run by run
        _cache(search, task, [offset[task.engine] + 10.0 / (i + 1) for i in range(args.budget)])
    meta = {
        "command": "c",
        "date": "d",
        "minutes": 1.0,
        "load_start": 0.0,
        "ran": 0,
        "versions": "v",
    }
    meta["cached"] = len(tasks)
    search.write_results(args, tasks, None, meta)
    text = out.read_text()
    assert "3 seeds (0, 1, 2)" in text
    assert "**hebo and ax-botorch are reported on 1 seed** (0; `--slow-seeds 1`" in text
    assert "| problem | sweepctl-bayes | random | hebo | ax-botorch |" in text
    assert "seeds left out" not in text and "left out of this report" not in text

    # ax-botorch's one sweep failed: seed 0 is left out for every engine, and hebo and
    # ax-botorch, with no seed left, are left out of the tables (not a KeyError)
    next(t for t in tasks if t.engine == "ax-botorch").path().unlink()
    search.write_results(args, tasks, None, meta)
    text = out.read_text()
    assert (
        "2 seeds (1, 2)" in text
        and "seeds left out (not finished for every combination): [0]" in text
    )
    assert "left out of this report, with no seed finished: hebo, ax-botorch" in text
    assert "| problem | sweepctl-bayes | random |\n" in text
    assert "reported on" not in text
