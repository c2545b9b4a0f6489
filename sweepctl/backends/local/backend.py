"""The local backend: sweeps in sweepctl's own store, run by sweepctl's agents."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sweepctl.agent import call as calls
from sweepctl.agent import slurm
from sweepctl.agent.function import FunctionAgent
from sweepctl.agent.gpus import gpu_groups
from sweepctl.agent.loop import Agent
from sweepctl.agent.process import tail
from sweepctl.backends.base import AgentOptions, AgentReport, NewSweep, require_gpus
from sweepctl.backends.local.controller import HEARTBEAT_TIMEOUT, heartbeat_timeout
from sweepctl.domain import CONTROL_FROM, CONTROL_TARGETS
from sweepctl.duration import parse_duration
from sweepctl.errors import Problem, UsageError
from sweepctl.records import AgentRecord, Run, Sweep
from sweepctl.search.grid import grid_points
from sweepctl.spec import build_spec
from sweepctl.spec.update import changed_keys
from sweepctl.store.base import FILES_SETTING, Store, open_store
from sweepctl.urls import redact


class LocalBackend:
    """Sweeps in a SQLite or PostgreSQL store; the search and the agents are sweepctl's."""

    kind = "local"

    def __init__(
        self, storage: str | None = None, *, create: bool = False, store: Store | None = None
    ) -> None:
        self._storage = storage
        self._create = create
        self._store = store

    @property
    def store(self) -> Store:
        """The store named by ``storage`` (or ``SWEEPCTL_STORAGE``, or found from here),
        opened (and with ``create``, made) when first used, so that nothing is written for
        a sweep file that turns out to be invalid."""
        if self._store is None:
            self._store = open_store(self._storage, create=self._create)
        return self._store

    @property
    def url(self) -> str:
        """The store's URL, password included: for handing on to code that opens it again."""
        return self.store.url

    @property
    def where(self) -> str:
        return redact(self.store.url)

    # -- sweeps ---------------------------------------------------------------------------------
    def prepare(
        self, config: dict[str, Any], lines: dict[tuple, int] | None = None
    ) -> tuple[dict[str, Any], list[Problem]]:
        """The config as it will be stored (unchanged: every option is honoured here)."""
        return config, []

    def create(
        self,
        config: dict[str, Any],
        *,
        source: str | None = None,
        lines: dict[tuple, int] | None = None,
    ) -> NewSweep:
        name = config.get("name")
        if "/" in str(name or ""):  # checked before the store is opened (or made)
            raise UsageError(
                f"sweep name {name!r} has a slash; a reference shaped a/b/c names a W&B "
                "sweep (entity/project/id)",
                path=source,
                hint="use another separator, e.g. --name " + str(name).replace("/", "-"),
            )
        sweep = self.store.create_sweep(
            config,
            name=config.get("name"),
            project=config.get("project"),
            entity=config.get("entity"),
            source=source,
        )
        return NewSweep(sweep_id=sweep.id)

    def set_files_dir(self, folder: Path) -> Path:
        """Make ``folder`` where every agent of this store writes run files (``create
        --files``): a folder all of them reach, e.g. a shared file system."""
        folder = folder.expanduser().resolve()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.store.set_setting(FILES_SETTING, str(folder))
        return folder

    def get_sweep(self, ref: str) -> Sweep:
        return self.store.get_sweep(ref)

    def sweeps(self) -> list[Sweep]:
        return self.store.sweeps()

    def run_counts(self) -> dict[str, dict[str, int]]:
        return self.store.run_counts()

    # -- runs ----------------------------------------------------------------------------------
    def runs(self, sweep_id: str, states: Sequence[str] | None = None) -> list[Run]:
        sweep = self.store.get_sweep(sweep_id)
        self.store.reap(sweep.id, heartbeat_timeout(sweep.spec))  # whoever looks notices
        return self.store.runs(sweep.id, states)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        return self.store.history(run_id)

    # -- what a live view polls: reads only, nothing written --------------------------------
    def read_runs(self, sweep_id: str) -> list[Run]:
        """A sweep's runs in one read-only transaction (no lost runs marked, unlike
        :meth:`runs`), for views that ask every second while agents write."""
        return self.store.runs(sweep_id)

    def live_agents(self) -> dict[str, int]:
        """``{sweep_id: agents alive}``: not ended, and heartbeating."""
        return self.store.live_agents(HEARTBEAT_TIMEOUT)

    def log_tail(self, run: Run, lines: int = 40) -> list[str]:
        """The last lines of a run's output log (stdout and stderr), [] before it has any."""
        return tail(self.store.run_dir(run.sweep_id, run.id) / "output.log", lines)

    def agents(self, sweep_id: str) -> list[AgentRecord]:
        return self.store.agents(sweep_id)

    # -- control -------------------------------------------------------------------------------
    def control(self, sweep_id: str, action: str) -> str:
        sweep = self.store.get_sweep(sweep_id)
        target = CONTROL_TARGETS[action]
        if sweep.state not in CONTROL_FROM[action]:
            raise UsageError(
                f"sweep {sweep.shown} is {sweep.state}; it cannot be {target}",
                hint="see its state with `sweepctl ls`",
            )
        self.store.set_sweep_state(sweep.id, target, reason=f"{action} by user")
        message = f"sweep {sweep.shown} is now {target}"
        if action == "cancel":
            n = self.store.request_stop(sweep.id, "cancel")
            message += f"; {n} running run{'s' if n != 1 else ''} will be killed"
            message += slurm.cancel([job.job_id for job in self.store.slurm_jobs(sweep.id)])
        elif action == "stop":
            running = len(self.store.runs(sweep.id, ["running"]))
            message += f"; {running} running run{'s' if running != 1 else ''} will finish"
        return message

    # -- a sweep's life ------------------------------------------------------------------------
    def delete(self, sweep_id: str) -> str:
        sweep = self.store.get_sweep(sweep_id)
        running = self.runs(sweep.id, ["running"])
        if running:
            raise UsageError(
                f"sweep {sweep.shown} has {len(running)} running run"
                f"{'s' if len(running) != 1 else ''}: deleting it would orphan them",
                hint=f"end them first: `sweepctl stop {sweep.id} --cancel`",
            )
        removed = self.store.delete_sweep(sweep.id)
        files = self.store.run_dir(sweep.id)
        if files.is_dir():
            shutil.rmtree(files)
        return f"deleted sweep {sweep.shown}: {removed} run{'s' if removed != 1 else ''}"

    def requeue(self, sweep_id: str, states: Sequence[str]) -> dict[str, int]:
        sweep = self.store.get_sweep(sweep_id)
        if sweep.state == "canceled":
            raise UsageError(
                f"sweep {sweep.shown} is canceled: nothing of it runs",
                hint=f"resume it first: `sweepctl resume {sweep.id}`",
            )
        self.store.reap(sweep.id, heartbeat_timeout(sweep.spec))  # lost runs count as crashed
        return self.store.requeue_runs(sweep.id, states)

    def update(
        self, sweep_id: str, config: dict[str, Any], lines: dict[tuple, int] | None = None
    ) -> list[str]:
        sweep = self.store.get_sweep(sweep_id)
        if sweep.state == "canceled":
            raise UsageError(
                f"sweep {sweep.shown} is canceled",
                hint=f"resume it first (`sweepctl resume {sweep.id}`), or create a new sweep",
            )
        changed = changed_keys(sweep.spec, build_spec(config, source=sweep.source))
        # A finished sweep with something new to run is running again.
        state = "running" if sweep.state == "finished" and changed else None
        self.store.update_sweep_config(sweep.id, config, state=state)
        return changed

    # -- agents --------------------------------------------------------------------------------
    def check_agent(self, options: AgentOptions) -> None:
        """Every option is honoured here; ``--gpus-per-run`` is checked with the sweep."""

    def agent(self, sweep: Sweep, options: AgentOptions) -> AgentReport:
        require_gpus(options)
        if options.files is not None:
            self.store.files_override = options.files.expanduser().resolve()
        elif not self.store.files_dir_is_set and options.say is not None:
            options.say(
                f"run files (logs, metrics) go to {self.store.files_dir / 'runs'} on this "
                "machine; give every agent one folder with SWEEPCTL_FILES or `create --files DIR`"
            )
        spec = sweep.spec
        timeout = options.timeout
        if timeout is None and spec.options.get("timeout") is not None:
            timeout = parse_duration(spec.options["timeout"], what="sweepctl.timeout")
        groups = None
        if options.gpus is not None:
            per_run = options.gpus_per_run or int(spec.options.get("gpus_per_run", 1))
            groups = gpu_groups(options.gpus, per_run)
        workers = len(groups) if groups else options.workers
        observer = None
        if options.observe is not None:
            observer = options.observe(sweep, workers, self.remaining(sweep, options.count))
        live = observer is not None and observer.replaces_output
        settings: dict[str, Any] = dict(
            count=options.count,
            workers=options.workers,
            timeout=timeout,
            gpu_groups=groups,
            idle_exit=options.idle_exit,
            echo=options.echo_for(workers > 1) if options.echo_for and not live else None,
            say=options.say,
            observer=observer,
        )
        if options.function is None:
            runner = Agent(self.store, sweep, **settings)
        elif workers == 1:
            function = options.function
            if isinstance(function, str):
                function = calls.resolve(function)
            runner = FunctionAgent(self.store, sweep, function=function, **settings)
        else:  # in worker processes, which import the function by name
            runner = Agent(self.store, sweep, **settings)
            target = calls.target_name(options.function)
            runner.spec = replace(spec, command=calls.command(target), program=None)
            root = calls.import_root(target)
            if root is not None:
                path = runner.environ.get("PYTHONPATH")
                runner.environ["PYTHONPATH"] = root + (os.pathsep + path if path else "")
        try:
            return runner.run()
        finally:
            if observer is not None:
                observer.close()

    def remaining(self, sweep: Sweep, count: int | None) -> int | None:
        """How many runs an agent can expect to run: ``count``, else what the sweep's cap or
        grid leaves; None when nothing bounds it."""
        spec = sweep.spec
        if count is not None:
            return count
        if spec.run_cap is not None:
            return spec.run_cap
        if spec.method == "grid":
            return max(0, grid_points(spec) - len(self.store.runs(sweep.id)))
        return None
