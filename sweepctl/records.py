"""Sweep and Run: the values every backend reads its sweeps and runs into.

A local store and W&B's servers give the same two shapes, so every view (tables, exports,
reports, the dashboard) serves both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sweepctl.search import RunRecord
from sweepctl.spec.model import SweepSpec, build_spec


@dataclass(frozen=True)
class Sweep:
    id: str
    name: str | None
    project: str | None
    entity: str | None
    method: str
    state: str
    state_reason: str | None
    config: dict[str, Any]
    source: str | None
    created_at: float
    updated_at: float

    @property
    def spec(self) -> SweepSpec:
        """The sweep's :class:`~sweepctl.spec.SweepSpec`."""
        return build_spec(self.config, source=self.source)

    @property
    def label(self) -> str:
        """A short name for the sweep: its name, else its id (reports, where ids stand beside)."""
        return self.name or self.id

    @property
    def shown(self) -> str:
        """What to call the sweep in messages: ``name (id)``, else its id. Names need not be
        unique, so a message never names a sweep by its name alone."""
        return f"{self.name} ({self.id})" if self.name else self.id


@dataclass(frozen=True)
class Run:
    id: str
    sweep_id: str
    number: int
    state: str
    config: dict[str, Any]
    agent_id: str | None
    exit_code: int | None
    created_at: float
    started_at: float | None
    ended_at: float | None
    heartbeat_at: float | None
    summary: dict[str, Any]
    metric: float | None
    history: list[float]
    steps: int
    reason: str | None
    stop_requested: str | None

    @property
    def stopped_early(self) -> bool:
        """Whether early termination stopped it (the controller's reason says so)."""
        return (self.reason or "").startswith("early stop")

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


@dataclass(frozen=True)
class AgentRecord:
    """An agent that worked on a sweep: where it ran, and its SLURM job and array task."""

    id: str
    host: str | None
    pid: int | None
    started_at: float
    heartbeat_at: float
    ended_at: float | None
    slurm_job: str | None = None
    slurm_task: int | None = None
    output: str | None = None  # its SLURM task's output file, when `agent --slurm` started it

    @property
    def slurm_label(self) -> str | None:
        """``JOB_TASK`` as SLURM writes an array task (``JOB`` outside an array)."""
        if self.slurm_job is None:
            return None
        return self.slurm_job if self.slurm_task is None else f"{self.slurm_job}_{self.slurm_task}"


@dataclass(frozen=True)
class SlurmJob:
    """A job array that `agent --slurm` submitted for a sweep."""

    job_id: str
    sweep_id: str
    tasks: int
    output: str | None
    submitted_at: float


def search_records(runs: list[Run]) -> list[RunRecord]:
    """What the search methods and stopping rules see of runs."""
    return [
        RunRecord(
            run_id=r.id, state=r.state, config=r.config, metric=r.metric, history=tuple(r.history)
        )
        for r in runs
    ]
