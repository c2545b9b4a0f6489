"""The Store class: sweeps, runs, metric history and agents, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sweepctl.errors import UsageError
from sweepctl.records import AgentRecord, Run, SlurmJob, Sweep
from sweepctl.spec.checks import closest
from sweepctl.store import tables as t
from sweepctl.store.database import Database
from sweepctl.store.locate import STORE_DIR, find_default_store, resolve_url
from sweepctl.store.rows import (
    CLAIM_HISTORY,
    FINISH_RUNNING,
    INSERT_RUN,
    RUN_OPTIONAL,
    SWEEP_FOR_UPDATE,
    dumps,
    insert_metrics,
    mark_crashed,
    new_id,
    run_from_row,
    sweep_from_row,
)
from sweepctl.urls import redact

__all__ = ["Store", "find_default_store", "open_store", "redact", "resolve_url"]

FILES_SETTING = "files_dir"  # where run files live, when `create --files` set it


def open_store(storage: str | None = None, *, create: bool = False) -> Store:
    """Open (and with ``create``, make) the store named by ``storage`` or found from here."""
    return Store(resolve_url(storage, create=create))


# -- the store ---------------------------------------------------------------------------------


class Store(Database):
    """All reads and writes of sweeps, runs, metrics and agents."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        # Runs as the last claim read them, by id, with the row they were made from: a claim
        # reads every run of its sweep, and most rows have not changed since the last one.
        self._claimed_runs: dict[str, tuple[tuple[Any, ...], Run]] = {}
        self.files_override: Path | None = None  # an agent's --files
        self._files_dir: Path | None = None

    @property
    def files_dir(self) -> Path:
        """Where run files (logs, metrics, param files) live, first found of: an agent's
        ``--files``, ``SWEEPCTL_FILES``, the store's own setting (``create --files``), the
        folder of an SQLite store, ``.sweepctl`` in the working directory (PostgreSQL)."""
        if self.files_override is not None:
            return self.files_override
        if os.environ.get("SWEEPCTL_FILES"):
            return Path(os.environ["SWEEPCTL_FILES"]).resolve()
        if self._files_dir is None:
            setting = self.setting(FILES_SETTING)
            if setting is not None:
                self._files_dir = Path(setting)
            elif self.is_sqlite:
                self._files_dir = Path(self.url.removeprefix("sqlite:///")).parent
            else:  # read once: the setting is not asked again at every run
                self._files_dir = Path.cwd() / STORE_DIR
                self._files_dir.mkdir(mode=0o700, exist_ok=True)
        return self._files_dir

    def run_dir(self, sweep_id: str, run_id: str | None = None) -> Path:
        """The folder of a run's files (``runs/<sweep>/<run>``), or of a sweep's runs."""
        folder = self.files_dir / "runs" / sweep_id
        return folder / run_id if run_id is not None else folder

    @property
    def files_dir_is_set(self) -> bool:
        """Whether run files have a place every agent agrees on (not each one's own folder)."""
        return bool(
            self.files_override
            or os.environ.get("SWEEPCTL_FILES")
            or self.is_sqlite
            or self.setting(FILES_SETTING)
        )

    def setting(self, key: str) -> str | None:
        """A store-wide setting (the meta table), or None."""
        return self.read(
            lambda c: c.execute(sa.select(t.meta.c.value).where(t.meta.c.key == key)).scalar()
        )

    def set_setting(self, key: str, value: str) -> None:
        def transaction(conn: Connection) -> None:
            done = conn.execute(sa.update(t.meta).where(t.meta.c.key == key).values(value=value))
            if not done.rowcount:
                conn.execute(sa.insert(t.meta).values(key=key, value=value))

        self.write(transaction)
        self._files_dir = None

    # -- sweeps --------------------------------------------------------------------------------
    def create_sweep(
        self,
        config: dict[str, Any],
        *,
        name: str | None = None,
        project: str | None = None,
        entity: str | None = None,
        source: str | None = None,
    ) -> Sweep:
        now = time.time()
        values = {
            "id": new_id(),
            "name": name,
            "project": project,
            "entity": entity,
            "method": config["method"],
            "state": "running",
            "state_reason": None,
            "spec": dumps(config),
            "source": source,
            "created_at": now,
            "updated_at": now,
        }
        self.write(lambda c: c.execute(sa.insert(t.sweeps).values(**values)))
        return sweep_from_row(SimpleNamespace(**values))

    def sweeps(self) -> list[Sweep]:
        rows = self.read(
            lambda c: c.execute(sa.select(t.sweeps).order_by(t.sweeps.c.created_at)).all()
        )
        return [sweep_from_row(r) for r in rows]

    def get_sweep(self, ref: str) -> Sweep:
        """A sweep by id, unique id prefix, or name; a clear error otherwise."""
        if not ref.strip():  # the empty prefix would match every sweep
            raise UsageError("the sweep reference is empty", hint="give a sweep id or name")
        every = self.sweeps()
        exact = [s for s in every if s.id == ref]
        if exact:
            return exact[0]
        # A name and an id prefix count alike: "g" names one sweep and may begin another's
        # random id, and acting on either one silently could pause or delete the wrong sweep.
        matches = [s for s in every if s.id.startswith(ref) or s.name == ref]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(s.id for s in matches[:5])
            raise UsageError(f"{ref!r} matches several sweeps ({shown})", hint="give the full id")
        hint = "list the sweeps with `sweepctl ls`"
        if every:
            near = closest(ref, [s.id for s in every])
            if near:
                hint = f"did you mean {near}? ({hint})"
        raise UsageError(f"no sweep {ref!r} in this store", hint=hint)

    def requeue_runs(self, sweep_id: str, states: Sequence[str]) -> dict[str, int]:
        """Mark a sweep's runs in ``states`` requeued (their config is offered again), each
        keeping what it was in its reason; ``{old state: count}``."""

        def transaction(conn: Connection) -> dict[str, int]:
            rows = conn.execute(
                sa.select(t.runs.c.id, t.runs.c.state, t.runs.c.reason).where(
                    t.runs.c.sweep_id == sweep_id, t.runs.c.state.in_(list(states))
                )
            ).all()
            counts: dict[str, int] = {}
            for run_id, state, reason in rows:
                was = f"requeued by user; was {state}" + (f": {reason}" if reason else "")
                conn.execute(
                    sa.update(t.runs)
                    .where(t.runs.c.id == run_id)
                    .values(state="requeued", reason=was)
                )
                counts[state] = counts.get(state, 0) + 1
            if rows:
                conn.execute(
                    sa.update(t.sweeps)
                    .where(t.sweeps.c.id == sweep_id, t.sweeps.c.state == "finished")
                    .values(state="running", state_reason="runs requeued", updated_at=time.time())
                )
            return counts

        return self.write(transaction)

    def delete_sweep(self, sweep_id: str) -> int:
        """Remove a sweep, its runs, their history and its agents, in one transaction; the
        number of runs removed."""

        def transaction(conn: Connection) -> int:
            runs = sa.select(t.runs.c.id).where(t.runs.c.sweep_id == sweep_id)
            conn.execute(sa.delete(t.metrics).where(t.metrics.c.run_id.in_(runs)))
            removed = conn.execute(sa.delete(t.runs).where(t.runs.c.sweep_id == sweep_id))
            conn.execute(sa.delete(t.agents).where(t.agents.c.sweep_id == sweep_id))
            conn.execute(sa.delete(t.sweeps).where(t.sweeps.c.id == sweep_id))
            return removed.rowcount or 0

        return self.write(transaction)

    def update_sweep_config(
        self, sweep_id: str, config: dict[str, Any], state: str | None = None
    ) -> None:
        """Replace a sweep's config (``update``); with ``state``, set its state too."""
        values: dict[str, Any] = {"spec": dumps(config), "updated_at": time.time()}
        if state is not None:
            values.update(state=state, state_reason="updated by user")
        self.write(
            lambda c: c.execute(
                sa.update(t.sweeps).where(t.sweeps.c.id == sweep_id).values(**values)
            )
        )

    def set_sweep_state(self, sweep_id: str, state: str, reason: str | None = None) -> None:
        self.write(
            lambda c: c.execute(
                sa.update(t.sweeps)
                .where(t.sweeps.c.id == sweep_id)
                .values(state=state, state_reason=reason, updated_at=time.time())
            )
        )

    def sweep_state(self, sweep_id: str) -> str:
        return self.read(
            lambda c: c.execute(
                sa.select(t.sweeps.c.state).where(t.sweeps.c.id == sweep_id)
            ).scalar_one()
        )

    # -- runs ----------------------------------------------------------------------------------
    def runs(self, sweep_id: str, states: Sequence[str] | None = None) -> list[Run]:
        query = sa.select(t.runs).where(t.runs.c.sweep_id == sweep_id)
        if states:
            query = query.where(t.runs.c.state.in_(list(states)))
        rows = self.read(lambda c: c.execute(query.order_by(t.runs.c.number)).all())
        return [run_from_row(r) for r in rows]

    def find_run(self, ref: str) -> Run:
        """A run by id or unique id prefix, in any sweep of the store."""
        rows = self.read(
            lambda c: c.execute(
                sa.select(t.runs).where(t.runs.c.id.startswith(ref, autoescape=True)).limit(6)
            ).all()
        )
        exact = [r for r in rows if r.id == ref]
        if exact or len(rows) == 1:
            return run_from_row((exact or rows)[0])
        if rows:
            shown = ", ".join(r.id for r in rows[:5])
            raise UsageError(f"{ref!r} matches several runs ({shown})", hint="give the full id")
        raise UsageError(f"no run {ref!r} in this store", hint="list runs with `sweepctl runs ID`")

    def agent_host(self, agent_id: str | None) -> str | None:
        """The host an agent ran on."""
        if agent_id is None:
            return None
        return self.read(
            lambda c: c.execute(
                sa.select(t.agents.c.host).where(t.agents.c.id == agent_id)
            ).scalar()
        )

    def get_run(self, run_id: str) -> Run:
        row = self.read(lambda c: c.execute(sa.select(t.runs).where(t.runs.c.id == run_id)).first())
        if row is None:
            raise UsageError(f"no run {run_id!r} in this store")
        return run_from_row(row)

    def run_counts(self) -> dict[str, dict[str, int]]:
        """``{sweep_id: {state: count}}`` for every sweep."""
        rows = self.read(
            lambda c: c.execute(
                sa.select(t.runs.c.sweep_id, t.runs.c.state, sa.func.count()).group_by(
                    t.runs.c.sweep_id, t.runs.c.state
                )
            ).all()
        )
        counts: dict[str, dict[str, int]] = {}
        for sweep_id, state, n in rows:
            counts.setdefault(sweep_id, {})[state] = n
        return counts

    def claim(
        self,
        sweep_id: str,
        agent_id: str,
        decide: Callable[[Sweep, list[Run]], tuple[str, Any]],
        stale_after: float | None = None,
    ) -> tuple[str, Any]:
        """Lock the sweep, let ``decide(sweep, runs)`` choose, and act on it atomically.

        ``decide`` returns ``("run", config)`` to start a run (returned as ``("run", Run)``),
        ``("wait", reason)`` to start nothing for now, or ``("finish", reason)`` to mark the
        sweep finished. Everything happens in one transaction under the sweep's lock, which
        is what makes grid points exactly-once across agents and machines.
        """

        def transaction(conn: Connection) -> tuple[str, Any]:
            row = conn.execute(SWEEP_FOR_UPDATE, {"b_sweep": sweep_id}).first()
            if row is None:
                raise UsageError(f"no sweep {sweep_id!r} in this store")
            sweep = sweep_from_row(row)
            if stale_after is not None:
                mark_crashed(conn, sweep_id, stale_after)
            history = [
                self._history_run(r)
                for r in conn.execute(CLAIM_HISTORY, {"b_sweep": sweep_id}).all()
            ]
            action, value = decide(sweep, history)
            now = time.time()
            if action == "finish":
                conn.execute(
                    sa.update(t.sweeps)
                    .where(t.sweeps.c.id == sweep_id)
                    .values(state="finished", state_reason=value, updated_at=now)
                )
                return action, value
            if action != "run":
                return action, value
            values = {
                "id": new_id(),
                "sweep_id": sweep_id,
                "number": len(history),
                "state": "running",
                "config": dumps(value),
                "agent_id": agent_id,
                "created_at": now,
                "started_at": now,
                "heartbeat_at": now,
                "steps": 0,
            }
            conn.execute(INSERT_RUN, values)
            return "run", run_from_row(SimpleNamespace(**dict.fromkeys(RUN_OPTIONAL), **values))

        return self.write(transaction)

    def _history_run(self, row: Any) -> Run:
        """The Run of a claim's history row (no summary), reused while its row is unchanged."""
        values = tuple(row)
        seen = self._claimed_runs.get(row.id)
        if seen is not None and seen[0] == values:
            return seen[1]
        run = run_from_row(row, with_summary=False)
        self._claimed_runs[row.id] = (values, run)
        return run

    def reap(self, sweep_id: str, stale_after: float) -> int:
        """Mark running runs whose agent has been silent too long as crashed; how many."""
        return self.write(lambda conn: mark_crashed(conn, sweep_id, stale_after))

    def record_metrics(
        self,
        run_id: str,
        first_step: int,
        rows: Sequence[dict[str, Any]],
        summary: dict[str, Any],
        metric: float | None,
        metric_history: Sequence[float] | None = None,
    ) -> None:
        """Append history rows (steps ``first_step``...) and update the run's summary."""

        def transaction(conn: Connection) -> None:
            if rows:
                conn.execute(
                    insert_metrics(conn.dialect.name),
                    [
                        {"run_id": run_id, "step": first_step + i, "data": dumps(r)}
                        for i, r in enumerate(rows)
                    ],
                )
            conn.execute(
                sa.update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    summary=dumps(summary),
                    metric=metric,
                    steps=first_step + len(rows),
                    heartbeat_at=time.time(),
                    **({"history": dumps(list(metric_history))} if metric_history else {}),
                )
            )

        self.write(transaction)

    def history(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.read(
            lambda c: c.execute(
                sa.select(t.metrics.c.data)
                .where(t.metrics.c.run_id == run_id)
                .order_by(t.metrics.c.step)
            ).all()
        )
        return [json.loads(r.data) for r in rows]

    def finish_run(
        self,
        run_id: str,
        state: str,
        *,
        exit_code: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Record how a running run ended.

        A run already marked crashed (its agent was silent too long: a suspended machine, a
        lost connection) keeps that state, because its config may have run again elsewhere;
        the late ending is added to its reason instead, so no grid point ends twice.
        """
        now = time.time()
        if reason is not None:  # PostgreSQL text cannot hold NUL (a child's last line can)
            reason = reason.replace("\0", "\\x00")

        def transaction(conn: Connection) -> None:
            ended = conn.execute(
                FINISH_RUNNING,
                {
                    "b_run": run_id,
                    "state": state,
                    "exit_code": exit_code,
                    "reason": reason,
                    "ended_at": now,
                },
            ).rowcount
            if not ended:
                late = f"; it ended later as {state}" + (
                    f" (exit code {exit_code})" if exit_code is not None else ""
                )
                conn.execute(
                    sa.update(t.runs)
                    # Not a run that has this state already: that is this very write, tried
                    # again after its commit's answer was lost with the connection.
                    .where(t.runs.c.id == run_id, t.runs.c.state != state)
                    .values(
                        exit_code=exit_code,
                        reason=sa.func.coalesce(t.runs.c.reason, "") + late,
                    )
                )

        self.write(transaction)

    def heartbeat(self, agent_id: str, run_ids: Sequence[str]) -> None:
        now = time.time()

        def transaction(conn: Connection) -> None:
            conn.execute(
                sa.update(t.agents).where(t.agents.c.id == agent_id).values(heartbeat_at=now)
            )
            if run_ids:
                conn.execute(
                    sa.update(t.runs).where(t.runs.c.id.in_(list(run_ids))).values(heartbeat_at=now)
                )

        self.write(transaction)

    def request_stop(self, sweep_id: str, kind: str) -> int:
        """Ask every running run of a sweep to stop (``kind`` says why); returns how many."""
        return self.write(
            lambda c: (
                c.execute(
                    sa.update(t.runs)
                    .where(t.runs.c.sweep_id == sweep_id, t.runs.c.state == "running")
                    .values(stop_requested=kind)
                ).rowcount
            )
        )

    def request_run_stops(self, reasons: dict[str, str]) -> None:
        """Ask single running runs to stop, each with its reason (early termination)."""

        def transaction(conn: Connection) -> None:
            for run_id, reason in reasons.items():
                conn.execute(
                    sa.update(t.runs)
                    .where(
                        t.runs.c.id == run_id,
                        t.runs.c.state == "running",
                        t.runs.c.stop_requested.is_(None),
                    )
                    .values(stop_requested=reason)
                )

        self.write(transaction)

    def best_of_sweep(
        self, sweep_id: str, states: Sequence[str], maximize: bool
    ) -> tuple[str, float] | None:
        """``(run id, value)`` of the sweep's best run among runs in ``states``, or None."""
        column = t.runs.c.metric

        def query(conn: Connection) -> tuple[str, float] | None:
            row = conn.execute(
                sa.select(t.runs.c.id, column)
                .where(
                    t.runs.c.sweep_id == sweep_id,
                    t.runs.c.state.in_(list(states)),
                    column.is_not(None),
                )
                .order_by(column.desc() if maximize else column.asc(), t.runs.c.number)
                .limit(1)
            ).first()
            return None if row is None else (row[0], float(row[1]))

        return self.read(query)

    def control(self, sweep_id: str, run_ids: Sequence[str]) -> tuple[str, dict[str, str]]:
        """What agents poll: the sweep's state and the stop requests for their runs."""

        def query(conn: Connection) -> tuple[str, dict[str, str]]:
            state = conn.execute(
                sa.select(t.sweeps.c.state).where(t.sweeps.c.id == sweep_id)
            ).scalar_one()
            stops: dict[str, str] = {}
            if run_ids:
                for rid, kind in conn.execute(
                    sa.select(t.runs.c.id, t.runs.c.stop_requested).where(
                        t.runs.c.id.in_(list(run_ids)), t.runs.c.stop_requested.is_not(None)
                    )
                ):
                    stops[rid] = kind
            return state, stops

        return self.read(query)

    # -- agents --------------------------------------------------------------------------------
    def register_agent(
        self,
        sweep_id: str,
        host: str,
        pid: int,
        *,
        slurm_job: str | None = None,
        slurm_task: int | None = None,
    ) -> str:
        agent_id = new_id(12)
        now = time.time()
        self.write(
            lambda c: c.execute(
                sa.insert(t.agents).values(
                    id=agent_id,
                    sweep_id=sweep_id,
                    host=host,
                    pid=pid,
                    started_at=now,
                    heartbeat_at=now,
                    slurm_job=slurm_job,
                    slurm_task=slurm_task,
                )
            )
        )
        return agent_id

    def live_agents(self, stale_after: float) -> dict[str, int]:
        """``{sweep_id: n}``: agents not ended and heard from within ``stale_after`` seconds."""
        since = time.time() - stale_after
        rows = self.read(
            lambda c: c.execute(
                sa.select(t.agents.c.sweep_id, sa.func.count())
                .where(t.agents.c.ended_at.is_(None), t.agents.c.heartbeat_at >= since)
                .group_by(t.agents.c.sweep_id)
            ).all()
        )
        return {sweep_id: n for sweep_id, n in rows}

    def end_agent(self, agent_id: str) -> None:
        self.write(
            lambda c: c.execute(
                sa.update(t.agents).where(t.agents.c.id == agent_id).values(ended_at=time.time())
            )
        )

    def agents(self, sweep_id: str) -> list[AgentRecord]:
        """The agents that have worked on a sweep, oldest first."""
        joined = t.agents.outerjoin(t.slurm_jobs, t.slurm_jobs.c.job_id == t.agents.c.slurm_job)
        rows = self.read(
            lambda c: c.execute(
                sa.select(t.agents, t.slurm_jobs.c.output)
                .select_from(joined)
                .where(t.agents.c.sweep_id == sweep_id)
                .order_by(t.agents.c.started_at)
            ).all()
        )
        return [
            AgentRecord(
                id=r.id,
                host=r.host,
                pid=r.pid,
                started_at=r.started_at,
                heartbeat_at=r.heartbeat_at,
                ended_at=r.ended_at,
                slurm_job=r.slurm_job,
                slurm_task=r.slurm_task,
                output=_task_output(r.output, r.slurm_job, r.slurm_task),
            )
            for r in rows
        ]

    # -- SLURM jobs ------------------------------------------------------------------------------
    def add_slurm_job(self, sweep_id: str, job_id: str, *, tasks: int, output: str) -> None:
        """Keep a job array that `agent --slurm` submitted for a sweep."""
        self.write(
            lambda c: c.execute(
                sa.insert(t.slurm_jobs).values(
                    job_id=job_id,
                    sweep_id=sweep_id,
                    tasks=tasks,
                    output=output,
                    submitted_at=time.time(),
                )
            )
        )

    def slurm_jobs(self, sweep_id: str | None = None) -> list[SlurmJob]:
        """The job arrays submitted for a sweep (for every sweep when None), oldest first."""
        query = sa.select(t.slurm_jobs).order_by(t.slurm_jobs.c.submitted_at)
        if sweep_id is not None:
            query = query.where(t.slurm_jobs.c.sweep_id == sweep_id)
        rows = self.read(lambda c: c.execute(query).all())
        return [
            SlurmJob(
                job_id=r.job_id,
                sweep_id=r.sweep_id,
                tasks=r.tasks,
                output=r.output,
                submitted_at=r.submitted_at,
            )
            for r in rows
        ]


def _task_output(pattern: str | None, job: str | None, task: int | None) -> str | None:
    """A SLURM task's output file, from its job's ``%A_%a`` pattern."""
    if pattern is None or job is None:
        return None
    return pattern.replace("%A", job).replace("%a", "" if task is None else str(task))
