"""The typed values :mod:`sweepctl.api` returns: one per command, each with ``to_json()``
(the shape ``--json`` prints). The CLI renders them; scripts use their fields."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepctl import ranking
from sweepctl.backends.base import AgentReport
from sweepctl.backends.wandb.client import parse_path
from sweepctl.backends.wandb.sync import SyncPlan
from sweepctl.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Problem
from sweepctl.records import AgentRecord, Run, Sweep
from sweepctl.results import export
from sweepctl.spec import FileReport, SweepSpec
from sweepctl.spec.model import Metric


@dataclass
class Validation:
    """What :func:`validate` found in each file."""

    reports: list[FileReport]
    strict: bool = False

    def passed(self, report: FileReport) -> bool:
        return report.valid and not (self.strict and report.warnings)

    @property
    def failed(self) -> list[FileReport]:
        return [r for r in self.reports if not self.passed(r)]

    @property
    def exit_code(self) -> int:
        return EXIT_USAGE if self.failed else EXIT_OK

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "file": r.source,
                "valid": self.passed(r),
                "errors": [p.to_json() for p in r.errors],
                "warnings": [p.to_json() for p in r.warnings],
            }
            for r in self.reports
        ]


@dataclass
class Created:
    """The result of :func:`create`: the new sweep's id (None for a dry run) and what to say."""

    spec: SweepSpec
    controller: str
    warnings: list[Problem]
    config: dict[str, Any]  # what the controller gets (W&B: without the `sweepctl:` block)
    sweep_id: str | None = None
    storage: str | None = None  # the local store, redacted
    storage_arg: str | None = None  # --storage as given, redacted (for the agent command)
    url: str | None = None  # W&B's page for the sweep
    server_warnings: list[str] = field(default_factory=list)  # W&B's own notes
    grid_points: int | None = None
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def dry_run(self) -> bool:
        return self.sweep_id is None

    @property
    def agent_command(self) -> str:
        storage = f" --storage {self.storage_arg}" if self.storage_arg else ""
        return f"sweepctl agent {self.sweep_id}{storage}"

    def to_json(self) -> dict[str, Any]:
        if self.controller == "wandb":
            if self.dry_run:
                return {"controller": "wandb", "config": self.config}
            path = parse_path(self.sweep_id or "")
            assert path is not None
            return {
                "controller": "wandb",
                "sweep_path": self.sweep_id,
                "sweep_id": path.sweep_id,
                "entity": path.entity,
                "project": path.project,
                "url": self.url,
                "warnings": self.server_warnings,
                "agent_command": self.agent_command,
            }
        if self.dry_run:
            data = {
                "method": self.spec.method,
                "parameters": self.spec.config.get("parameters", {}),
                "config": self.spec.config,
            }
            if self.grid_points is not None:
                data["grid_points"] = self.grid_points
                data["first_configs"] = self.preview
            return data
        return {
            "sweep_id": self.sweep_id,
            "name": self.config.get("name"),
            "method": self.spec.method,
            "grid_points": self.grid_points,
            "storage": self.storage,
            "agent_command": self.agent_command,
        }


@dataclass(frozen=True)
class EarlySavings:
    """What early termination saved over a whole sweep: runs it stopped, and iterations (metric
    values) they did not run against those all runs did run."""

    stopped: int
    saved: int
    done: int

    def describe(self) -> str:
        share = 100 * self.saved / max(1, self.saved + self.done)
        runs = f"{self.stopped} run{'s' if self.stopped != 1 else ''}"
        return (
            f"early termination stopped {runs} of the sweep, saving about {self.saved} of "
            f"{self.saved + self.done} iterations ({share:.0f}% of the compute)"
        )


@dataclass
class RunList:
    """A sweep's runs (in creation order), as :func:`runs` found them."""

    sweep: Sweep
    runs: list[Run]
    agents: dict[str, AgentRecord] = field(default_factory=dict)  # by agent id
    note: str | None = None  # which runs the ranking left out, and why
    savings: EarlySavings | None = None  # over the whole sweep, whatever was listed

    def where(self, run: Run) -> dict[str, Any]:
        """Where a run ran: its agent's host, SLURM job_task and that task's output file
        (None where unknown)."""
        agent = self.agents.get(run.agent_id or "")
        return {
            "host": agent.host if agent else None,
            "slurm_task": agent.slurm_label if agent else None,
            "slurm_output": agent.output if agent else None,
        }

    def __iter__(self) -> Iterator[Run]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def to_json(self) -> list[dict[str, Any]]:
        return [{**export.run_json(r), **self.where(r)} for r in self.runs]


@dataclass
class Best:
    """The best run of a sweep by its metric."""

    sweep: Sweep
    run: Run
    left_out: dict[str, int] = field(default_factory=dict)  # by state (or "no value")

    @property
    def note(self) -> str | None:
        """Which runs the ranking left out, and why."""
        return ranking.describe_left_out(self.left_out)

    @property
    def metric(self) -> Metric:
        metric = self.sweep.spec.metric
        assert metric is not None  # a sweep without a metric has no best run
        return metric

    @property
    def config(self) -> dict[str, Any]:
        """The best run's config."""
        return dict(self.run.config)

    @property
    def value(self) -> float | None:
        """The best run's value of the sweep's metric."""
        return self.run.metric

    def to_json(self) -> dict[str, Any]:
        return {**export.best_json(self.sweep, self.run), "left_out": self.left_out}


@dataclass
class SweepSummary:
    """One line of :func:`list_sweeps`."""

    sweep: Sweep
    runs_by_state: dict[str, int]
    slurm_jobs: list[str] = field(default_factory=list)  # job arrays of `agent --slurm`

    def to_json(self) -> dict[str, Any]:
        s = self.sweep
        return {
            "sweep_id": s.id,
            "name": s.name,
            "method": s.method,
            "state": s.state,
            "state_reason": s.state_reason,
            "runs": sum(self.runs_by_state.values()),
            "runs_by_state": self.runs_by_state,
            "created_at": export.iso(s.created_at),
            "source": s.source,
            "slurm_jobs": self.slurm_jobs,
        }


@dataclass
class RunLog:
    """Where a run's output is: ``path`` on this machine, if it ran (or runs) here."""

    run: Run
    path: Path
    host: str | None  # the host its agent ran on

    @property
    def here(self) -> bool:
        return self.path.is_file()

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run.id, "state": self.run.state, "path": str(self.path),
                "on_this_machine": self.here, "host": self.host}  # fmt: skip


@dataclass
class Requeued:
    """What :func:`requeue` offered again: runs by the state they had."""

    sweep: Sweep
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep.id, "requeued": self.counts, "state": self.sweep.state}


@dataclass
class Deleted:
    """What :func:`delete` removed."""

    sweep_id: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id, "deleted": True, "message": self.message}


@dataclass
class Updated:
    """What :func:`update` changed in a sweep."""

    sweep: Sweep
    changed: list[str]
    warnings: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep.id, "changed": self.changed}


@dataclass
class Controlled:
    """What :func:`control` changed."""

    sweep: Sweep
    action: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep.id, "action": self.action, "message": self.message}


@dataclass
class SeedRuns:
    """What :func:`run_best` found: the metric of the best config under each seed."""

    sweep_id: str
    source_run: str
    metric: dict[str, Any]
    values: list[float]
    report: AgentReport

    @property
    def mean(self) -> float | None:
        return math.fsum(self.values) / len(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        if not self.values:
            return None
        if len(self.values) < 2:
            return 0.0
        mean = math.fsum(self.values) / len(self.values)  # the sample deviation, n - 1
        return math.sqrt(math.fsum((v - mean) ** 2 for v in self.values) / (len(self.values) - 1))

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep_id,
            "source_run": self.source_run,
            "metric": self.metric,
            "values": self.values,
            "mean": self.mean,
            "std": self.std,
        }


@dataclass
class Synced:
    """What :func:`sync` did: the plan, ``wandb sync``'s exit code, the runs W&B now has."""

    plan: SyncPlan
    code: int | None = None
    on_wandb: list[str] = field(default_factory=list)
    not_on_wandb: list[str] = field(default_factory=list)

    @property
    def nothing_found(self) -> bool:
        return not self.plan.dirs and not self.plan.synced and bool(self.plan.missing)

    @property
    def failed(self) -> bool:
        return bool(self.code or self.not_on_wandb or self.nothing_found)

    @property
    def exit_code(self) -> int:
        return EXIT_FAILURE if self.failed else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "sweep_id": plan.sweep_id,
            "project": plan.project,
            "entity": plan.entity,
            "dirs": {run_id: str(path) for run_id, path in plan.dirs.items()},
            "synced_before": plan.synced,
            "missing": plan.missing,
            "wandb_sync_exit_code": self.code,
            "on_wandb": self.on_wandb,
            "not_on_wandb": self.not_on_wandb,
        }


@dataclass
class SlurmSubmitted:
    """What :func:`agent_slurm` did: the job array it submitted (none for a dry run)."""

    sweep: Sweep
    tasks: int
    script: str  # the batch script
    sbatch: list[str]  # the sbatch command line, the script's file last
    output: str  # the tasks' output files: %A is the job id, %a the task index
    store: str  # the store's URL, redacted
    job_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK

    @property
    def dry_run(self) -> bool:
        return self.job_id is None

    @property
    def logs(self) -> str:
        """The tasks' output files, as a glob with the job id filled in."""
        return self.output.replace("%A", self.job_id or "JOBID").replace("%a", "*")

    def to_json(self) -> dict[str, Any]:
        return {
            "sweep_id": self.sweep.id,
            "job_id": self.job_id,
            "tasks": self.tasks,
            "dry_run": self.dry_run,
            "output": self.output,
            "store": self.store,
            "sbatch": self.sbatch,
            "script": self.script,
            "warnings": self.warnings,
        }
