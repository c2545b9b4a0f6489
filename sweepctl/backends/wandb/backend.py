"""The W&B backend: sweeps on W&B's servers, read through its public API, run by ``wandb
agent`` workers (one per GPU group)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sweepctl.agent import call as calls
from sweepctl.agent.gpus import gpu_groups
from sweepctl.backends.base import AgentOptions, AgentReport, NewSweep, require_gpus
from sweepctl.backends.wandb import client
from sweepctl.backends.wandb.fanout import FanOut
from sweepctl.backends.wandb.sync import SyncPlan, run_sync
from sweepctl.errors import Problem, UsageError
from sweepctl.records import AgentRecord, Run, Sweep


class WandbBackend:
    """Sweeps that live on W&B. Connects (and checks the login) on first use."""

    kind = "wandb"

    def __init__(self, *, entity: str | None = None, project: str | None = None) -> None:
        self.entity = entity  # where `create` puts a sweep (CLI > env > file)
        self.project = project
        self._reader: client.WandbSweeps | None = None

    @property
    def reader(self) -> client.WandbSweeps:
        if self._reader is None:
            self._reader = client.WandbSweeps()
        return self._reader

    @property
    def where(self) -> str:
        return client.base_url()

    # -- sweeps ---------------------------------------------------------------------------------
    def prepare(
        self, config: dict[str, Any], lines: dict[tuple, int] | None = None
    ) -> tuple[dict[str, Any], list[Problem]]:
        """The config W&B gets (no ``sweepctl:`` block) and a warning per option it drops."""
        return client.wandb_config(config, lines)

    def create(
        self,
        config: dict[str, Any],
        *,
        source: str | None = None,
        lines: dict[tuple, int] | None = None,
    ) -> NewSweep:
        prepared, local_only = self.prepare(config, lines)
        try:
            created = client.create_sweep(prepared, entity=self.entity, project=self.project)
        except client.WandbError as exc:
            if exc.refused:  # W&B's answer to this file: say which file
                exc.path = exc.path or source
            raise
        return NewSweep(
            sweep_id=str(created.path),
            url=created.url,
            warnings=created.warnings,
            local_only=local_only,
        )

    def get_sweep(self, ref: str) -> Sweep:
        return self.reader.get_sweep(ref)

    def sweeps(self) -> list[Sweep]:
        raise UsageError(
            "sweepctl lists the sweeps of a local store; W&B's sweeps are listed in W&B's UI",
            hint="name a W&B sweep by its path entity/project/id",
        )

    def run_counts(self) -> dict[str, dict[str, int]]:
        return {}

    # -- runs ----------------------------------------------------------------------------------
    def runs(self, sweep_id: str, states: Sequence[str] | None = None) -> list[Run]:
        return self.reader.runs(sweep_id, states)  # W&B's server notices lost runs itself

    def history(self, run_id: str) -> list[dict[str, Any]]:
        return self.reader.history(run_id)

    def agents(self, sweep_id: str) -> list[AgentRecord]:
        return []  # W&B keeps its agents to itself

    # -- control -------------------------------------------------------------------------------
    def control(self, sweep_id: str, action: str) -> str:
        _, message = self.reader.set_state(sweep_id, action)
        return message

    # -- a sweep's life ------------------------------------------------------------------------
    def delete(self, sweep_id: str) -> str:
        raise UsageError(
            f"W&B sweep {sweep_id} is W&B's to delete",
            hint="delete it in W&B's web app (the sweep's overview, Delete sweep)",
        )

    def requeue(self, sweep_id: str, states: Sequence[str]) -> dict[str, int]:
        raise UsageError(
            f"W&B sweep {sweep_id}'s runs are handed out by W&B's controller",
            hint="requeue works on local sweeps; W&B offers no such call",
        )

    def update(
        self, sweep_id: str, config: dict[str, Any], lines: dict[tuple, int] | None = None
    ) -> list[str]:
        raise UsageError(
            f"W&B sweep {sweep_id} is updated by W&B's own command",
            hint=f"wandb sweep --update {sweep_id} FILE",
        )

    # -- agents --------------------------------------------------------------------------------
    def check_agent(self, options: AgentOptions) -> None:
        if options.files is not None:
            raise UsageError(
                "--files works only with local sweeps",
                hint="W&B's agent keeps its runs' files in wandb/ (set WANDB_DIR)",
            )
        if options.function is not None and (options.workers > 1 or options.gpus is not None):
            raise UsageError(
                "a function agent on a W&B sweep runs its calls in this process, one at a time",
                hint="leave out workers/gpus, or give the sweep a command and run "
                "`sweepctl agent PATH --gpus ...`",
            )
        for option, value in (("--timeout", options.timeout), ("--idle-exit", options.idle_exit)):
            if value is not None:
                raise UsageError(
                    f"{option} works only with local sweeps",
                    hint="W&B's agent has no such option; leave it out for a W&B sweep",
                )
        require_gpus(options)

    def agent(self, sweep: Sweep, options: AgentOptions) -> AgentReport:
        """W&B's own agent, once per GPU group (or ``workers`` times); with a function,
        ``wandb.agent(function=...)`` in this process."""
        self.check_agent(options)
        if options.function is not None:
            return self._function_agent(sweep, options.function, options.count)
        if options.gpus is not None:
            groups: list[str | None] = list(gpu_groups(options.gpus, options.gpus_per_run or 1))
        else:
            groups = [None] * options.workers
        path = client.parse_path(sweep.id)
        assert path is not None  # a W&B backend's sweeps have W&B paths
        log_dir = (
            Path(".sweepctl") / "wandb-agents" / f"{path.entity}-{path.project}-{path.sweep_id}"
        )
        fan = FanOut(
            str(path),
            count=options.count,
            groups=groups,
            log_dir=log_dir,
            echo=options.echo_for(len(groups) > 1) if options.echo_for else None,
            say=options.say,
        )
        return fan.run()

    def _function_agent(
        self, sweep: Sweep, function: Callable[[], Any] | str, count: int | None
    ) -> AgentReport:
        """W&B's agent calling ``function`` per run: W&B's controller hands out the runs and
        wandb records them; sweepctl only opens the way."""
        if isinstance(function, str):
            function = calls.resolve(function)
        path = client.parse_path(sweep.id)
        assert path is not None  # a W&B backend's sweeps have W&B paths
        client.require_wandb()
        import wandb

        with client.errors("run W&B's agent", path=path):
            wandb.agent(
                path.sweep_id,
                function=function,
                entity=path.entity,
                project=path.project,
                count=count,
            )
        return AgentReport(controller="wandb", stop_reason="wandb.agent returned")

    # -- uploads -------------------------------------------------------------------------------
    def upload(
        self, plan: SyncPlan, *, echo: Callable[[bytes], None] | None = None
    ) -> tuple[int, list[str], list[str]]:
        """``wandb sync`` the plan's run directories, then ask W&B which runs it now has:
        ``(exit code, runs on W&B, runs not on W&B)``."""
        api = client.connect()
        with client.errors("find your W&B entity"):
            plan.entity = plan.entity or api.default_entity
        code = run_sync(plan, echo=echo)
        found, missing = [], []
        for run_id in plan.dirs:
            try:
                api.run(f"{plan.entity}/{plan.project}/{run_id}")
            except Exception:  # not found, or W&B gone: either way it is not confirmed
                missing.append(run_id)
            else:
                found.append(run_id)
        return code, found, missing
