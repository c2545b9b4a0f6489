"""``sweepctl sync ID``: a finished local sweep's runs, uploaded to W&B with ``wandb sync``.

A local agent gives each run ``WANDB_RUN_ID`` (the run's id) and ``WANDB_RUN_GROUP`` (the
sweep's name, else its id), and, without W&B credentials, ``WANDB_MODE=offline``: an
unmodified ``wandb.init()`` then writes ``wandb/offline-run-<time>-<run id>/``. Syncing those
directories puts the sweep's runs in one W&B project, grouped under the sweep's name, with
their config, history and summary. Local sweeps are unknown to W&B's server, so the runs carry
no W&B sweep id (a run naming a sweep W&B does not have is refused on upload).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sweepctl.agent.process import run_streamed
from sweepctl.errors import UsageError

# wandb.init() names a run's directory offline-run-YYYYMMDD_HHMMSS-<run id>.
_RUN_DIR = re.compile(r"^offline-run-(\d{8}_\d{6})-([A-Za-z0-9]+)$")


@dataclass
class SyncPlan:
    """Which run directories go to W&B, and which runs have none."""

    sweep_id: str
    project: str | None
    entity: str | None
    group: str | None = None  # the W&B group the runs carry (the sweep's name, else its id)
    dirs: dict[str, Path] = field(default_factory=dict)  # run id -> its latest offline dir
    synced: list[str] = field(default_factory=list)  # run ids whose dir was uploaded before
    missing: list[str] = field(default_factory=list)  # run ids with no offline dir

    @property
    def command(self) -> list[str]:
        argv = [sys.executable, "-m", "wandb", "sync"]
        if self.project:
            argv += ["--project", self.project]
        if self.entity:
            argv += ["--entity", self.entity]
        return argv + [str(d) for d in self.dirs.values()]


def default_roots() -> list[Path]:
    """Where runs' ``wandb/`` folders are: ``WANDB_DIR`` when set, and the current folder."""
    roots = [Path(os.environ["WANDB_DIR"])] if os.environ.get("WANDB_DIR") else []
    return [*roots, Path.cwd()]


def offline_dirs(roots: Sequence[Path]) -> dict[str, list[Path]]:
    """Offline run directories under ``roots`` (each root and its ``wandb/``), by run id,
    oldest first."""
    found: dict[str, list[tuple[str, Path]]] = {}
    for root in roots:
        for folder in (root / "wandb", root):
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                match = _RUN_DIR.match(entry.name)
                if match and entry.is_dir():
                    found.setdefault(match.group(2), []).append((match.group(1), entry.resolve()))
    return {
        run_id: list(dict.fromkeys(p for _, p in sorted(items))) for run_id, items in found.items()
    }


def already_synced(run_dir: Path) -> bool:
    """Whether ``wandb sync`` marked this directory as uploaded (``run-ID.wandb.synced``)."""
    return any(run_dir.glob("*.wandb.synced"))


def plan_sync(
    sweep_id: str,
    run_ids: Sequence[str],
    *,
    group: str | None = None,
    roots: Sequence[Path],
    project: str | None,
    entity: str | None,
    again: bool = False,
) -> SyncPlan:
    """Match the sweep's runs to offline run directories. A run retried after a crash has one
    directory per attempt; the latest holds its outcome."""
    plan = SyncPlan(sweep_id=sweep_id, project=project, entity=entity, group=group)
    found = offline_dirs(roots)
    for run_id in run_ids:
        dirs = found.get(run_id)
        if not dirs:
            plan.missing.append(run_id)
        elif already_synced(dirs[-1]) and not again:
            plan.synced.append(run_id)
        else:
            plan.dirs[run_id] = dirs[-1]
    return plan


def run_sync(plan: SyncPlan, *, echo: Callable[[bytes], None] | None = None) -> int:
    """Run ``wandb sync`` over the plan's directories; its exit code."""
    if not plan.dirs:
        raise UsageError("nothing to sync", hint="every run was synced before; pass --again")
    return run_streamed(plan.command, echo=echo)
