"""`sweepctl launch`: run several sweep files one after another, resumably.

The way a team runs all of its phase-3 sweeps: for each file in order, create its sweep
(or find the one created from the same file with the same content), run agents on it until
it is finished or has its ``--count`` runs, then move on. Running the same command again
skips finished sweeps, continues unfinished ones and re-runs nothing.

The order is the one given: files in command-line order; a folder in the order its
``campaign.yaml`` lists (``sweeps: [a.yaml, b.yaml]``), else by file name. With carry-best
(``--carry-best``, or ``carry_best: true`` in the campaign file) a phase starts from the
best config of the phases before it: every parameter the later file does not search (absent,
or a constant ``value:``) is fixed to the earlier best value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sweepctl.domain import config_hash
from sweepctl.errors import InvalidSweepError, UsageError
from sweepctl.search.grid import grid_points
from sweepctl.spec import inspect_file
from sweepctl.spec.suggest import did_you_mean

CAMPAIGN_FILES = ("campaign.yaml", "campaign.yml")  # a folder's order, not a sweep file
_CAMPAIGN_KEYS = ("sweeps", "carry_best")

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
    carries: bool = False  # created from the best config of the steps before it
    fixed: list[str] = field(default_factory=list)  # the parameters it carried

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
        carry = ""
        if self.fixed:
            carry = f", with the best {', '.join(self.fixed)} so far"
        elif self.carries:
            carry = ", starting from the best so far"
        return f"new     {self.file}  ({self.method}{size}: {todo}{carry})"


@dataclass
class Campaign:
    """The sweep files of a launch, in order, and whether each phase carries the best."""

    files: list[Path] = field(default_factory=list)
    carry_best: bool = False


def _read_campaign(path: Path) -> Campaign:
    """A folder's ``campaign.yaml``: ``sweeps:`` (files relative to the folder, in order) and
    ``carry_best:``."""
    shown = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the campaign file: {exc}", path=shown) from None
    if not isinstance(data, dict) or not isinstance(data.get("sweeps"), list):
        raise UsageError(
            "a campaign file lists its sweep files under `sweeps:`",
            path=shown,
            hint="sweeps: [vocabulary.yaml, augmentation.yaml]  # run in this order",
        )
    for key in data:
        if key not in _CAMPAIGN_KEYS:
            raise UsageError(
                f"unknown key {key!r} in the campaign file",
                path=shown,
                hint=did_you_mean(key, _CAMPAIGN_KEYS) or f"keys: {', '.join(_CAMPAIGN_KEYS)}",
            )
    files = []
    for entry in data["sweeps"]:
        file = path.parent / str(entry)
        if not file.is_file():
            beside = [p.name for p in path.parent.iterdir() if p.is_file()]
            raise UsageError(
                f"the campaign lists {entry!r}, which is not in {path.parent}",
                path=shown,
                hint=did_you_mean(str(entry), beside),
            )
        files.append(file)
    return Campaign(files, bool(data.get("carry_best", False)))


def sweep_files(paths: list[Path]) -> Campaign:
    """Files as given, in that order; a folder gives the files its ``campaign.yaml`` lists,
    in its order, else its *.yaml/*.yml/*.json files by name, recursively."""
    out = Campaign()
    for path in paths:
        if path.is_dir():
            listed = [path / name for name in CAMPAIGN_FILES if (path / name).is_file()]
            if listed:
                campaign = _read_campaign(listed[0])
                out.files.extend(campaign.files)
                out.carry_best = out.carry_best or campaign.carry_best
                continue
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml", ".json")
                and p.is_file()
                and p.name not in CAMPAIGN_FILES
            )
            if not found:
                raise UsageError(f"{path} holds no sweep files (.yaml, .yml, .json)")
            out.files.extend(found)
        elif path.exists():
            out.files.append(path)
        else:
            raise UsageError("no such file", path=str(path))
    return out


def _constant(spec: Any) -> bool:
    """A parameter block that fixes one value (``{value: ...}``) rather than searching."""
    return isinstance(spec, dict) and "value" in spec and set(spec) <= {"value", "distribution"}


def searched_config(config: dict[str, Any]) -> dict[str, Any]:
    """A sweep config without its constant parameters: what carry-best never changes, so a
    phase's sweep is found again however the earlier best turned out."""
    params = config.get("parameters")
    if not isinstance(params, dict):
        return config
    kept = {k: v for k, v in params.items() if not _constant(v)}
    return {**config, "parameters": kept}


def carried(config: dict[str, Any], best: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``config`` with every parameter it does not search fixed to ``best``'s value; the
    names fixed."""
    params = dict(config.get("parameters") or {})
    fixed = []
    for key, value in best.items():
        spec = params.get(key)
        searched = isinstance(spec, dict) and not _constant(spec)
        if not searched:
            params[key] = {"value": value}
            fixed.append(key)
    return {**config, "parameters": params}, fixed


def plan(
    store: Any, files: list[Path], count: int | None, *, carry_best: bool = False
) -> list[Step]:
    """What a launch would do, without doing it. Every file is validated first."""
    specs = []
    for file in files:
        report = inspect_file(file)
        if report.spec is None:
            raise InvalidSweepError(report.source, report.problems)
        specs.append((file, report.spec))

    # With carry-best a phase's constants come from the earlier best: match without them.
    def matched(config: dict[str, Any]) -> str:
        return config_hash(searched_config(config) if carry_best else config)

    existing = [(s, matched(s.config)) for s in store.sweeps()]
    counts = store.run_counts()
    steps = []
    for index, (file, spec) in enumerate(specs):
        key = matched(spec.config)
        match = [s for s, known in existing if s.source == str(file) and known == key]
        if count is None and spec.method != "grid" and spec.run_cap is None:
            raise UsageError(
                f"{file}: a {spec.method} sweep never ends by itself",
                hint="give --count N (runs per sweep), or set `run_cap:` in the file",
            )
        grid = None
        if spec.method == "grid":
            grid = grid_points(spec)
        if not match:
            # the first phase has nothing before it to carry
            carries = carry_best and index > 0
            steps.append(Step(file, spec.method, None, "new", 0, count, grid, carries=carries))
            continue
        sweep = match[-1]
        done = sum(counts.get(sweep.id, {}).values())
        todo = None if count is None else max(0, count - done)
        finished = sweep.state in DONE_STATES or todo == 0
        steps.append(
            Step(file, spec.method, sweep.id, "skip" if finished else "resume", done, todo, grid)
        )
    return steps
