"""Table definitions and the schema version they describe.

Names carry a `sweepctl_` prefix so a shared PostgreSQL database can hold them beside others.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_VERSION = 3

# How to bring a store from version N-1 to N: statements run in one transaction, in order,
# per database dialect ("*" for all). SQLite ignores declared string lengths; PostgreSQL not.
MIGRATIONS: dict[int, dict[str, tuple[str, ...]]] = {
    2: {
        "*": ("ALTER TABLE sweepctl_runs ADD COLUMN history TEXT",),
        "postgresql": ("ALTER TABLE sweepctl_runs ALTER COLUMN stop_requested TYPE TEXT",),
    },
    # Agents started by SLURM say which job and array task they are; the jobs that
    # `agent --slurm` submitted are kept, so that `stop --cancel` can cancel them.
    3: {
        "*": (
            "ALTER TABLE sweepctl_agents ADD COLUMN slurm_job VARCHAR(64)",
            "ALTER TABLE sweepctl_agents ADD COLUMN slurm_task INTEGER",
            "CREATE TABLE sweepctl_slurm_jobs ("
            "job_id VARCHAR(64) NOT NULL PRIMARY KEY, "
            "sweep_id VARCHAR(16) NOT NULL REFERENCES sweepctl_sweeps (id), "
            "tasks INTEGER NOT NULL, "
            "output TEXT, "
            "submitted_at FLOAT NOT NULL)",
        ),
    },
}

metadata = MetaData()

# Key/value facts about the store itself, such as its schema version.
meta = Table(
    "sweepctl_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sweeps = Table(
    "sweepctl_sweeps",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(255)),
    Column("project", String(255)),
    Column("entity", String(255)),
    Column("method", String(16), nullable=False),
    # running | paused | finished | stopped | canceled
    Column("state", String(16), nullable=False),
    Column("state_reason", Text),
    Column("spec", Text, nullable=False),  # the normalised sweep config, JSON
    Column("source", Text),  # the file it was created from
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

runs = Table(
    "sweepctl_runs",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("sweep_id", String(16), ForeignKey("sweepctl_sweeps.id"), nullable=False),
    Column("number", Integer, nullable=False),  # 0, 1, 2 ... in the order runs were claimed
    # running | finished | failed | crashed | stopped | killed | timeout
    Column("state", String(16), nullable=False),
    Column("config", Text, nullable=False),  # JSON
    Column("agent_id", String(32)),
    Column("exit_code", Integer),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("heartbeat_at", Float),
    Column("summary", Text),  # JSON: last value per key
    Column("metric", Float),  # the sweep metric of the run, by W&B's rule
    Column("history", Text),  # JSON list: the metric's finite values in logged order
    Column("steps", Integer, nullable=False, default=0),
    Column("reason", Text),  # why it ended the way it did, for people
    Column("stop_requested", Text),  # "cancel", or why early termination stops the run
    Index("ix_sweepctl_runs_sweep", "sweep_id", "number"),
)

metrics = Table(
    "sweepctl_metrics",
    metadata,
    Column("run_id", String(16), ForeignKey("sweepctl_runs.id"), primary_key=True),
    Column("step", Integer, primary_key=True),  # position in the run's history
    Column("data", Text, nullable=False),  # JSON of one logged step
)

agents = Table(
    "sweepctl_agents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("sweep_id", String(16), ForeignKey("sweepctl_sweeps.id"), nullable=False),
    Column("host", String(255)),
    Column("pid", Integer),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("slurm_job", String(64)),  # SLURM's job id (an array's id for its tasks)
    Column("slurm_task", Integer),  # the array task's index
)

# Job arrays submitted by `agent --slurm`, one row each.
slurm_jobs = Table(
    "sweepctl_slurm_jobs",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("sweep_id", String(16), ForeignKey("sweepctl_sweeps.id"), nullable=False),
    Column("tasks", Integer, nullable=False),
    Column("output", Text),  # the tasks' output files, with %A_%a in the name
    Column("submitted_at", Float, nullable=False),
)
