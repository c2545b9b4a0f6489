"""The backend protocol: "open this sweep and do X", whoever controls it.

Every command reaches a sweep through a :class:`Backend`. Two implement it: the local
backend (sweepctl's store on SQLite or PostgreSQL, its controller and agent loop) and the
W&B backend (W&B's servers, ``wandb agent`` workers). Both read into the same
:class:`~sweepctl.records.Sweep` and :class:`~sweepctl.records.Run` values, so every view
serves both; both run through one contract test suite (tests/backends/).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sweepctl.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, Problem, UsageError
from sweepctl.records import AgentRecord, Run, Sweep

EXIT_TERMINATED = 128 + signal.SIGTERM  # what a shell reports for a process ended by SIGTERM


@dataclass(frozen=True)
class NewSweep:
    """What creating a sweep gave: its id (a path on W&B) and what the backend said."""

    sweep_id: str
    url: str | None = None
    warnings: list[str] = field(default_factory=list)  # the server's own notes (W&B)
    local_only: list[Problem] = field(default_factory=list)  # options this backend ignores


@dataclass
class Outcome:
    """How one run ended, as an agent saw it."""

    run: Run
    state: str
    exit_code: int | None
    reason: str | None
    elapsed: float
    log: Path | None = None
    metric: float | None = None


@dataclass
class AgentReport:
    """What an agent did, on any backend: the runs it ended (local), the W&B agents it ran
    (W&B), whether it was interrupted, and why it stopped."""

    controller: str = "local"  # which backend's agent this was
    workers: int = 1
    started: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    stop_reason: str | None = None
    interrupted: bool = False
    signal: int | None = None
    failed_policy: str | None = None  # why the agent gave up (the failure policy)
    fault: str | None = None  # why the agent stopped on a fault of its machine (a full disk)
    fault_hint: str | None = None  # what to do about it
    agent_codes: list[int] = field(default_factory=list)  # exit codes of `wandb agent`s
    logs: list[Path] = field(default_factory=list)  # their output files

    @property
    def failed(self) -> bool:
        """Whether the agent ended in failure (not counting an interrupt)."""
        if self.interrupted:
            return False
        return (
            self.failed_policy is not None
            or self.fault is not None
            or any(code != 0 for code in self.agent_codes)
        )

    @property
    def exit_code(self) -> int:
        """The exit code a command that ran this agent ends with."""
        if self.interrupted:
            return EXIT_TERMINATED if self.signal == signal.SIGTERM else EXIT_INTERRUPTED
        return EXIT_FAILURE if self.failed else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        """The report as plain data for ``--json`` and programs."""
        return {
            "controller": self.controller,
            "workers": self.workers,
            "started": self.started,
            "runs": [
                {
                    "run_id": o.run.id,
                    "state": o.state,
                    "exit_code": o.exit_code,
                    "reason": o.reason,
                    "elapsed": o.elapsed,
                    "metric": o.metric,
                }
                for o in self.outcomes
            ],
            "stop_reason": self.stop_reason,
            "interrupted": self.interrupted,
            "failed": self.failed,
            "failed_policy": self.failed_policy,
            "fault": self.fault,
            "agent_exit_codes": self.agent_codes,
            "exit_code": self.exit_code,
        }


EchoFor = Callable[[bool], Callable[[str, bytes], None]]


class Observer:
    """What an agent tells about its runs as they go (a live view, log lines). Called from
    worker threads. This one does nothing: the agent's default."""

    # A live view takes the terminal: children's output then goes to their log files only.
    replaces_output = False

    def started(self, run: Run, worker: int) -> None: ...

    def progress(self, run_id: str, summary: dict[str, Any], metric: float | None) -> None: ...

    def ended(self, outcome: Outcome) -> None: ...

    def sweep_best(self, run_id: str, value: float) -> None:
        """The best run of the whole sweep so far (any agent's), by the ranking's rule."""

    def close(self) -> None: ...


@dataclass
class AgentOptions:
    """How to run an agent; what a backend cannot honour it refuses with a clear message."""

    count: int | None = None  # runs in total, across workers
    workers: int = 1
    timeout: float | None = None  # seconds per run
    gpus: str | None = None  # "0,1,2,3" or "all": one worker per group
    gpus_per_run: int | None = None
    idle_exit: float | None = None  # seconds to wait on a paused sweep before exiting
    echo_for: EchoFor | None = None  # given "several workers?", how to show children's output
    say: Callable[[str], None] | None = None  # the agent's own messages
    observe: Callable[[Sweep, int], Any] | None = None  # makes the progress observer
    # Runs are calls of this function (or "module:function") instead of the sweep's command.
    function: Callable[[], Any] | str | None = None
    files: Path | None = None  # where this agent writes run files (logs, metrics)


def require_gpus(options: AgentOptions) -> None:
    """``--gpus-per-run`` only means something with ``--gpus``."""
    if options.gpus is None and options.gpus_per_run is not None:
        raise UsageError("--gpus-per-run needs --gpus", hint="e.g. --gpus 0,1,2,3 --gpus-per-run 2")


@runtime_checkable
class Backend(Protocol):
    """Where sweeps live and how to act on them. Sweep ids given to methods are full ids
    (``Sweep.id``) unless the method says it takes a reference."""

    kind: str  # "local" or "wandb"

    @property
    def where(self) -> str:
        """Where the sweeps are, fit to print (a redacted store URL, W&B's server)."""
        ...

    def prepare(
        self, config: dict[str, Any], lines: dict[tuple, int] | None = None
    ) -> tuple[dict[str, Any], list[Problem]]:
        """The config this backend would store, and a warning per option it would ignore."""
        ...

    def create(
        self, config: dict[str, Any], *, source: str | None, lines: dict[tuple, int] | None
    ) -> NewSweep:
        """Store a validated sweep config as a new sweep."""
        ...

    def get_sweep(self, ref: str) -> Sweep:
        """The sweep that ``ref`` (id, unique prefix, name, or W&B path) names."""
        ...

    def sweeps(self) -> list[Sweep]:
        """Every sweep this backend can list."""
        ...

    def run_counts(self) -> dict[str, dict[str, int]]:
        """``{sweep_id: {state: count}}`` for :meth:`sweeps`."""
        ...

    def runs(self, sweep_id: str, states: Sequence[str] | None = None) -> list[Run]:
        """A sweep's runs in creation order, lost ones (silent agents) noticed first."""
        ...

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """A run's logged rows, in order."""
        ...

    def agents(self, sweep_id: str) -> list[AgentRecord]:
        """The agents that worked on a sweep: host, SLURM job and task (none on W&B)."""
        ...

    def control(self, sweep_id: str, action: str) -> str:
        """``stop``, ``cancel``, ``pause`` or ``resume`` a sweep; says what changed."""
        ...

    def delete(self, sweep_id: str) -> str:
        """Remove a sweep with its runs and their files; says what was removed."""
        ...

    def requeue(self, sweep_id: str, states: Sequence[str]) -> dict[str, int]:
        """Offer again the configs of the sweep's runs in ``states``; ``{state: count}``."""
        ...

    def update(
        self, sweep_id: str, config: dict[str, Any], lines: dict[tuple, int] | None = None
    ) -> list[str]:
        """Replace a sweep's config by a validated one that keeps its method and metric
        (:mod:`sweepctl.spec.update`); the keys that changed."""
        ...

    def check_agent(self, options: AgentOptions) -> None:
        """Refuse, before any sweep is read, agent options this backend cannot honour."""
        ...

    def agent(self, sweep: Sweep, options: AgentOptions) -> AgentReport:
        """Run the sweep's runs here until the count is reached or the sweep is done."""
        ...
