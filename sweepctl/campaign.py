"""`sweepctl launch`: run several sweep files one after another, resumably.

The way a team runs all of its phase-3 sweeps: for each file in order, create its sweep
(or find the one created from the same file with the same content), run agents on it until
it is finished or has its ``--count`` runs, then move on. Running the same command again
skips finished sweeps, continues unfinished ones and re-runs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepctl.domain import config_hash
from sweepctl.errors import InvalidSweepError, UsageError
from sweepctl.search.grid import grid_points
from sweepctl.spec import inspect_file

DONE_STATES = ("finished", "stopped", "canceled")


@dataclass
class Step:
    """One sweep file of a launch: what exists already and what is left to do."""

    file: Path
    method: str
    sweep_id: str | None  # an existing sweep made from this file, if any
    state: str  # "new", "resume" or "skip"
    done_runs: int
    todo: int | None  # runs still to run (None: until the sweep is finished)
    grid_points: int | None = None

    def describe(self) -> str:
        size = f", {self.grid_points} grid points" if self.grid_points is not None else ""
        todo = "until finished" if self.todo is None else f"{self.todo} runs"
        if self.state == "skip":
            return f"skip    {self.file}  (sweep {self.sweep_id} is done: {self.done_runs} runs)"
        if self.state == "resume":
            return (
                f"resume  {self.file}  (sweep {self.sweep_id}, {self.method}{size}: "
                f"{self.done_runs} runs so far, {todo} more)"
            )
        return f"new     {self.file}  ({self.method}{size}: {todo})"


def sweep_files(paths: list[Path]) -> list[Path]:
    """Files as given; a folder gives its *.yaml/*.yml/*.json files, sorted, recursively."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()
            )
            if not found:
                raise UsageError(f"{path} holds no sweep files (.yaml, .yml, .json)")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise UsageError("no such file", path=str(path))
    return out


def plan(store: Any, files: list[Path], count: int | None) -> list[Step]:
    """What a launch would do, without doing it. Every file is validated first."""
    specs = []
    for file in files:
        report = inspect_file(file)
        if report.spec is None:
            raise InvalidSweepError(report.source, report.problems)
        specs.append((file, report.spec))
    existing = store.sweeps()
    counts = store.run_counts()
    steps = []
    for file, spec in specs:
        key = config_hash(spec.config)
        match = [s for s in existing if s.source == str(file) and config_hash(s.config) == key]
        if count is None and spec.method != "grid" and spec.run_cap is None:
            raise UsageError(
                f"{file}: a {spec.method} sweep never ends by itself",
                hint="give --count N (runs per sweep), or set `run_cap:` in the file",
            )
        grid = None
        if spec.method == "grid":
            grid = grid_points(spec)
        if not match:
            steps.append(Step(file, spec.method, None, "new", 0, count, grid))
            continue
        sweep = match[-1]
        done = sum(counts.get(sweep.id, {}).values())
        todo = None if count is None else max(0, count - done)
        finished = sweep.state in DONE_STATES or todo == 0
        steps.append(
            Step(file, spec.method, sweep.id, "skip" if finished else "resume", done, todo, grid)
        )
    return steps
