"""A fake W&B server that the real wandb client (0.31) can talk to in tests.

`FakeWandb` is a small HTTP server on 127.0.0.1 (ephemeral port, background thread). It
answers the GraphQL operations and HTTP calls that wandb's public API, `wandb agent` and
`wandb sync` send (all through the `wandb-core` service process), from in-memory state
that tests can seed and inspect. It dispatches on the GraphQL operation name and answers
with a superset of the fields those operations select; it does not parse GraphQL.
Anything it does not know is answered with a GraphQL error and listed in `unknown`.

    fake = FakeWandb()                      # or the `fake_wandb` fixture below
    env = {**os.environ, **fake.env()}      # for subprocesses (wandb agent, wandb sync)
    sid = fake.add_sweep({"method": "grid", "program": "train.py", ...}, project="p")
    fake.add_run(sid, config={"lr": 0.1}, summary={"loss": 0.3}, history=[{"loss": 0.3}])
    fake.queue_runs(sid, [{"lr": 0.1}, {"lr": 0.2}])   # handed out one per agent heartbeat
    assert "UpsertSweep" in fake.requests
    fake.close()
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import socket
import string
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

SWEEP_STATES = ("RUNNING", "PAUSED", "FINISHED", "CANCELED")
# Unset by the fixture (and restored after): wandb writes the first five into os.environ
# (wandb.sweep, the agent); the others would leak from a developer's shell into tests.
_ENV_UNSET = (
    "WANDB_ENTITY",
    "WANDB_PROJECT",
    "WANDB_SWEEP_ID",
    "WANDB_RUN_ID",
    "WANDB_SWEEP_PARAM_PATH",
    "WANDB_MODE",
    "WANDB_RUN_GROUP",
    "WANDB_IDENTITY_TOKEN_FILE",
)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def _new_id(n: int = 8) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def _storage_id(kind: str, name: str) -> str:
    """Opaque node id like the real server's base64("Kind:...")."""
    return base64.b64encode(f"{kind}:{name}".encode()).decode()


class GraphQLError(Exception):
    """Answered as {"errors": [{"message": ...}], "data": {field: null}} with `status`."""

    def __init__(self, message: str, status: int = 400, path: str | None = None):
        super().__init__(message)
        self.status = status
        self.path = path


@dataclass
class FakeRun:
    name: str  # the run id users see (e.g. "ab12cd34")
    entity: str
    project: str
    config: dict[str, Any] = field(default_factory=dict)  # plain values, no {"value": ...}
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    state: str = "finished"  # running, finished, failed, crashed, killed, pending
    sweep: str | None = None
    group: str | None = None
    job_type: str | None = None
    display_name: str | None = None
    tags: list[str] = field(default_factory=list)
    agent: str | None = None
    exitcode: int | None = None
    wandb_config: dict[str, Any] = field(default_factory=dict)  # the "_wandb" config key
    files: dict[str, bytes] = field(default_factory=dict)  # uploaded files by name
    created_at: str = field(default_factory=_now)
    heartbeat_at: str = field(default_factory=_now)

    @property
    def storage_id(self) -> str:
        return _storage_id("Run", f"{self.entity}/{self.project}/{self.name}")

    def node(self, fake: FakeWandb, variables: dict[str, Any]) -> dict[str, Any]:
        """The Run object with every field the client's run fragments select."""
        config = {k: {"value": v, "desc": None} for k, v in self.config.items()}
        if self.wandb_config:
            config["_wandb"] = {"value": self.wandb_config, "desc": None}
        keys = sorted({k for row in self.history for k in row})
        return {
            "__typename": "Run",
            "id": self.storage_id,
            "name": self.name,
            "displayName": self.display_name or self.name,
            "sweepName": self.sweep,
            "state": self.state,
            "config": json.dumps(config),
            "summaryMetrics": json.dumps(self.summary),
            "systemMetrics": "{}",
            "group": self.group,
            "jobType": self.job_type,
            "tags": self.tags,
            "commit": None,
            "readOnly": False,
            "createdAt": self.created_at,
            "heartbeatAt": self.heartbeat_at,
            "updatedAt": self.heartbeat_at,
            "description": None,
            "notes": None,
            "projectId": fake.project_id(self.entity, self.project),
            "historyLineCount": len(self.history),
            "historyKeys": {
                "lastStep": len(self.history) - 1,
                "keys": {k: {"typeCounts": [{"type": "number", "count": 1}]} for k in keys},
            },
            "user": {"name": fake.entity, "username": fake.entity},
            "exitcode": self.exitcode,
            "shouldStop": False,
            "failed": self.state == "failed",
            "stopped": self.state == "killed",
            "running": self.state == "running",
            "sampledHistory": [self.sampled_history(json.loads(s)) for s in _specs(variables)],
            "history": [json.dumps(row) for row in self.history_page(variables)],
            "events": [],
            # scan_history (wandb-core): no parquet export, every row comes as live data.
            "parquetHistory": {"parquetUrls": [], "liveData": self.history_rows()},
        }

    def history_rows(self) -> list[dict[str, Any]]:
        return [{"_step": i, **row} for i, row in enumerate(self.history)]

    def history_page(self, variables: dict[str, Any]) -> list[dict[str, Any]]:
        """history(minStep, maxStep, samples): full rows, max exclusive, no real sampling."""
        lo, hi = variables.get("minStep", 0), variables.get("maxStep", len(self.history))
        rows = [r for r in self.history_rows() if lo <= r["_step"] < hi]
        return rows[: variables.get("pageSize") or variables.get("samples") or None]

    def sampled_history(self, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows that have every key of the spec, reduced to those keys (no real sampling)."""
        keys = spec.get("keys") or []
        # wandb-core's scan asks for steps [0, 1] as minStep 0, maxStep 1, samples 2: the
        # max is inclusive.
        lo, hi = spec.get("minStep", 0), spec.get("maxStep", len(self.history))
        rows = [r for r in self.history_rows() if all(k in r for k in keys)]
        rows = [r for r in rows if lo <= r["_step"] <= hi]
        return [{k: r[k] for k in keys} for r in rows][: spec.get("samples") or None]


def _specs(variables: dict[str, Any]) -> list[str]:
    """History specs: `specs` (RunSampledHistory, SweepWithRuns) or one `spec` (scan)."""
    specs = variables.get("specs") or variables.get("spec") or []
    return [specs] if isinstance(specs, str) else specs


@dataclass
class FakeSweep:
    name: str  # the sweep id users see (e.g. "ab12cd34")
    entity: str
    project: str
    config: str  # the YAML text exactly as upsertSweep sent it
    state: str = "RUNNING"
    display_name: str | None = None
    commands: deque[dict[str, Any]] = field(default_factory=deque)  # for agent heartbeats
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)

    @property
    def storage_id(self) -> str:
        return _storage_id("Sweep", f"{self.entity}/{self.project}/{self.name}")

    @property
    def config_dict(self) -> dict[str, Any]:
        return yaml.safe_load(self.config) or {}


@dataclass
class FakeAgent:
    id: str
    sweep: str
    host: str
    heartbeats: list[dict[str, Any]] = field(default_factory=list)  # runState of each
    commands_sent: list[dict[str, Any]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # run ids handed to this agent
    created_at: str = field(default_factory=_now)
    heartbeat_at: str = field(default_factory=_now)


class FakeWandb:
    """In-memory W&B server on 127.0.0.1:<ephemeral>, serving in a daemon thread.

    State (all public, guarded by `lock` while the server thread mutates it):
      entity     the viewer's entity ("alice"); also the default entity.
      projects   {(entity, project): numeric id}, created on first use.
      sweeps     {sweep id: FakeSweep}
      runs       {run id: FakeRun}   (run ids are unique across projects here)
      agents     {agent id: FakeAgent}
      requests   operation names in arrival order: GraphQL operation names
                 ("Viewer", "UpsertSweep", ...) and "file_stream" / "upload" for HTTP.
      unknown    GraphQL queries the fake could not answer (should stay empty).
      log        (name, variables or request body) for each entry of `requests`.

    Steering it: add_sweep / add_run seed data; queue_runs / queue_stop / queue_exit decide
    what agent heartbeats return; reject_sweeps(message) fails sweep creation the way the
    server fails a bad config; a wrong key is answered with 401 (`env(api_key="0" * 40)`,
    or change `fake.api_key` to revoke the key mid-test); deleting `fake.sweeps[id]`
    makes the agent's next heartbeat a 404; close() makes the server unreachable.
    """

    def __init__(self, entity: str = "alice", api_key: str | None = None):
        self.entity = entity
        self.api_key = api_key or secrets.token_hex(20)  # 40 characters like a real key
        self.lock = threading.RLock()
        self.projects: dict[tuple[str, str], int] = {}
        self.sweeps: dict[str, FakeSweep] = {}
        self.runs: dict[str, FakeRun] = {}
        self.agents: dict[str, FakeAgent] = {}
        self.requests: list[str] = []
        self.unknown: list[str] = []
        self.log: list[tuple[str, dict[str, Any]]] = []  # (name, variables or body)
        self._sweep_rejection: str | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="wandb-fake-")
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- setup -------------------------------------------------------------------------

    def env(self, api_key: str | None = None) -> dict[str, str]:
        """Environment variables that point a wandb client (this process or a child) here.

        WANDB_BASE_URL, WANDB_API_KEY  the server and a 40-character key it accepts.
        WANDB_CONFIG_DIR, WANDB_CACHE_DIR, WANDB_DATA_DIR, WANDB_DIR
                                       temp dirs, so nothing touches ~/.config/wandb,
                                       ~/.cache/wandb, the working directory or /tmp (the
                                       CLI's debug-cli log goes to $WANDB_DIR/wandb/).
        NETRC                          a temp path: ~/.netrc is neither read nor written.
        WANDB_ERROR_REPORTING=false    wandb-core starts with --no-observability: no Sentry,
                                       no OpenTelemetry POSTs to <base_url>/sdk/otel/v1/...
        WANDB_SILENT=true              no banners on stdout. It also hides the CLI's
                                       "wandb: ERROR ..." lines (not click's "Error: ...");
                                       set it to "false" to assert on those.
        WANDB_DISABLE_GIT, WANDB_DISABLE_CODE, WANDB__DISABLE_STATS, WANDB__DISABLE_META
                                       runs skip git probing, code saving, system metrics
                                       and machine info: faster and nothing to upload.
        WANDB__GRAPHQL_RETRY_MAX=1, WANDB__GRAPHQL_RETRY_WAIT_MAX_SECONDS=1, WANDB_HTTP_TIMEOUT=10
                                       give up within ~2 s when nothing listens (wandb-core
                                       otherwise retries for longer than the client waits;
                                       a retry max of 0 means "default", not "no retries").
        """
        tmp = Path(self._tmp.name)
        dirs = {name: tmp / name for name in ("config", "cache", "data", "dir")}
        for d in dirs.values():
            d.mkdir(exist_ok=True)
        (dirs["dir"] / "wandb").mkdir(exist_ok=True)  # CLI logs go here, not to /tmp
        return {
            "WANDB_BASE_URL": self.url,
            "WANDB_API_KEY": api_key or self.api_key,
            "WANDB_CONFIG_DIR": str(dirs["config"]),
            "WANDB_CACHE_DIR": str(dirs["cache"]),
            "WANDB_DATA_DIR": str(dirs["data"]),
            "WANDB_DIR": str(dirs["dir"]),
            "NETRC": str(tmp / "netrc"),
            "WANDB_ERROR_REPORTING": "false",
            "WANDB_SILENT": "true",
            "WANDB_DISABLE_GIT": "true",
            "WANDB_DISABLE_CODE": "true",
            "WANDB__DISABLE_STATS": "true",
            "WANDB__DISABLE_META": "true",
            "WANDB_HTTP_TIMEOUT": "10",
            "WANDB__GRAPHQL_RETRY_MAX": "1",
            "WANDB__GRAPHQL_RETRY_WAIT_MAX_SECONDS": "1",
        }

    def close(self) -> None:
        """Stop the server (clients then get "connection refused") and drop its temp dir."""
        if not self._thread.is_alive():
            return
        self._server.close()
        self._thread.join(5)
        self._tmp.cleanup()

    def project_id(self, entity: str, project: str) -> int:
        with self.lock:
            return self.projects.setdefault((entity, project), len(self.projects) + 1)

    def add_sweep(
        self,
        config: dict[str, Any] | str,
        *,
        project: str = "uncategorized",
        entity: str | None = None,
        state: str = "RUNNING",
        sweep_id: str | None = None,
    ) -> str:
        """Create a sweep directly (as if upsertSweep had run); returns its id."""
        assert state in SWEEP_STATES, state
        text = config if isinstance(config, str) else yaml.safe_dump(config)
        sweep = FakeSweep(sweep_id or _new_id(), entity or self.entity, project, text, state)
        with self.lock:
            self.project_id(sweep.entity, sweep.project)
            self.sweeps[sweep.name] = sweep
        return sweep.name

    def add_run(
        self,
        sweep_id: str | None,
        *,
        config: dict[str, Any] | None = None,
        summary: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
        state: str = "finished",
        run_id: str | None = None,
        project: str | None = None,
        entity: str | None = None,
        **extra: Any,
    ) -> FakeRun:
        """Add a run to a sweep (or, with sweep_id=None, to entity/project)."""
        with self.lock:
            sweep = self.sweeps[sweep_id] if sweep_id else None
            run = FakeRun(
                name=run_id or _new_id(),
                entity=sweep.entity if sweep else entity or self.entity,
                project=sweep.project if sweep else project or "uncategorized",
                config=dict(config or {}),
                summary=dict(summary or {}),
                history=list(history or []),
                state=state,
                sweep=sweep_id,
                **extra,
            )
            self.project_id(run.entity, run.project)
            self.runs[run.name] = run
            return run

    def sweep_runs(self, sweep_id: str) -> list[FakeRun]:
        with self.lock:
            return [r for r in self.runs.values() if r.sweep == sweep_id]

    # -- agent commands ----------------------------------------------------------------

    def queue_runs(self, sweep_id: str, configs: list[dict[str, Any]]) -> list[str]:
        """Queue one `run` command per config; returns the run ids they will carry.

        Each agent heartbeat of a RUNNING sweep takes the next queued command. The command
        is the real server's shape: {"type": "run", "run_id", "program", "args":
        {name: {"value": v}}}; the run is created (state "pending") when it is handed out.
        """
        ids = []
        for config in configs:
            run_id = _new_id()
            args = {k: {"value": v} for k, v in config.items()}
            self.queue_command(sweep_id, {"type": "run", "run_id": run_id, "args": args})
            ids.append(run_id)
        return ids

    def queue_stop(self, sweep_id: str, run_id: str) -> None:
        """Next heartbeat tells the agent to stop (SIGTERM) that run."""
        self.queue_command(sweep_id, {"type": "stop", "run_id": run_id})

    def queue_exit(self, sweep_id: str) -> None:
        """Next heartbeat tells the agent to kill its runs and exit."""
        self.queue_command(sweep_id, {"type": "exit"})

    def queue_command(self, sweep_id: str, command: dict[str, Any]) -> None:
        with self.lock:
            self.sweeps[sweep_id].commands.append(command)

    def reject_sweeps(self, message: str | None) -> None:
        """Fail every sweep-creating upsertSweep with HTTP 400 and this message.

        The real server answers an invalid config with HTTP 400 and
        {"errors": [{"message": "Invalid sweep config: ...", "path": ["upsertSweep"]}]}.
        (The client retries the mutation in up to 5 schema variants, so this is sticky;
        pass None to accept sweeps again.) Without it, the fake only rejects a config that
        has no `method`, with the real server's message for that case.
        """
        self._sweep_rejection = message

    # -- GraphQL -----------------------------------------------------------------------

    def record(self, name: str, details: dict[str, Any] | None = None) -> None:
        with self.lock:
            self.requests.append(name)
            self.log.append((name, details or {}))

    def graphql(self, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query") or ""
        variables = body.get("variables") or {}
        name = body.get("operationName") or _operation_name(query)
        with self.lock:
            self.record(name, variables)
            handler = getattr(self, f"_op_{name}", None)
            if handler is None:
                self.unknown.append(query)
                raise GraphQLError(f"fake wandb: unsupported operation {name!r}")
            return handler(variables)

    def _project(self, v: dict[str, Any], project_key: str = "project") -> tuple[str, str]:
        return v.get("entity") or self.entity, v.get(project_key) or "uncategorized"

    def _has_project(self, entity: str, project: str) -> bool:
        return (entity, project) in self.projects

    def _viewer(self) -> dict[str, Any]:
        return {
            "id": _storage_id("User", self.entity),
            "entity": self.entity,
            "username": self.entity,
            "name": self.entity,
            "email": f"{self.entity}@example.com",
            "admin": False,
            "flags": "{}",
            "deletedAt": None,
            "apiKeys": {"edges": []},
            "teams": {"edges": []},
        }

    def _op_Viewer(self, v):
        return {"viewer": self._viewer()}

    _op_GetViewer = _op_GetDefaultEntity = _op_Viewer

    def _sweep_node(self, sweep: FakeSweep, v: dict[str, Any]) -> dict[str, Any]:
        runs = self.sweep_runs(sweep.name)
        method = sweep.config_dict.get("method")
        return {
            "__typename": "Sweep",
            "id": sweep.storage_id,
            "name": sweep.name,
            "displayName": sweep.display_name,
            "method": method,
            "state": sweep.state,
            "description": sweep.config_dict.get("description"),
            "bestLoss": None,
            "config": sweep.config,
            "createdAt": sweep.created_at,
            "updatedAt": sweep.updated_at,
            "heartbeatAt": sweep.updated_at,
            "earlyStopJobRunning": False,
            "controller": None,
            "scheduler": None,
            "runCount": len(runs),
            "runCountExpected": None,
            "runs": {"edges": [{"node": r.node(self, v)} for r in runs]},
        }

    def _find_sweep(self, entity: str, project: str, name: str | None) -> FakeSweep | None:
        sweep = self.sweeps.get(name or "")
        if sweep and (sweep.entity, sweep.project) == (entity, project):
            return sweep
        return None

    def _project_with_sweep(self, v, name_key):
        entity, project = self._project(v)
        if not self._has_project(entity, project):
            return {"project": None}
        sweep = self._find_sweep(entity, project, v.get(name_key))
        node = self._sweep_node(sweep, v) if sweep else None
        return {"project": {"id": _storage_id("Project", project), "sweep": node}}

    def _op_GetSweep(self, v):
        return self._project_with_sweep(v, "name")

    _op_GetSweepLegacy = _op_GetSweep

    def _op_SweepWithRuns(self, v):
        return self._project_with_sweep(v, "sweep")

    _op_GetSweepState = _op_SweepWithRuns

    def _op_UpsertSweep(self, v):
        entity = v.get("entityName") or self.entity
        project = v.get("projectName") or "uncategorized"
        if v.get("id"):  # update (state change) of an existing sweep
            sweep = next(
                (s for s in self.sweeps.values() if v["id"] in (s.storage_id, s.name)), None
            )
            if sweep is None:
                raise GraphQLError("Sweep not found", 404, "upsertSweep")
            if v.get("state"):
                sweep.state = v["state"]
            if v.get("config"):
                sweep.config = v["config"]
            sweep.updated_at = _now()
        else:
            config = yaml.safe_load(v.get("config") or "") or {}
            message = self._sweep_rejection
            if message is None and "method" not in config:
                message = "Invalid sweep config: Sweep config must contain method section"
            if message is not None:
                raise GraphQLError(message, 400, "upsertSweep")
            sweep_id = self.add_sweep(
                v.get("config") or "",
                entity=entity,
                project=project,
                state=v.get("state") or "RUNNING",
            )
            sweep = self.sweeps[sweep_id]
            sweep.display_name = v.get("displayName")
        project_node = {
            "id": _storage_id("Project", sweep.project),
            "name": sweep.project,
            "entity": {"id": _storage_id("Entity", sweep.entity), "name": sweep.entity},
        }
        return {
            "upsertSweep": {
                "sweep": {"id": sweep.storage_id, "name": sweep.name, "project": project_node},
                "configValidationWarnings": [],
            }
        }

    def _op_Runs(self, v):
        entity, project = self._project(v)
        if not self._has_project(entity, project):
            return {"project": None}
        filters = json.loads(v.get("filters") or "{}")
        runs = [
            r
            for r in self.runs.values()
            if (r.entity, r.project) == (entity, project) and _matches(r, filters)
        ]
        runs = _ordered(runs, v.get("order") or "+created_at")
        start = int(v.get("cursor") or 0)
        page = runs[start : start + int(v.get("perPage") or 50)]
        edges = [
            {"node": r.node(self, v), "cursor": str(start + i + 1)} for i, r in enumerate(page)
        ]
        return {
            "project": {
                "internalId": str(self.project_id(entity, project)),
                "runCount": len(runs),
                "readOnly": False,
                "runs": {
                    "edges": edges,
                    "pageInfo": {
                        "endCursor": edges[-1]["cursor"] if edges else None,
                        "hasNextPage": start + len(page) < len(runs),
                    },
                },
            }
        }

    def _op_Run(self, v):
        entity, project = self._project(v)
        if not self._has_project(entity, project):
            return {"project": None}
        run = self.runs.get(v.get("name") or v.get("runName") or v.get("run") or "")
        if run is None or (run.entity, run.project) != (entity, project):
            return {"project": {"run": None}}
        return {"project": {"run": run.node(self, v)}}

    _op_RunState = _op_RunSampledHistory = _op_RunFullHistory = _op_RunHistoryKeys = _op_Run
    _op_RunParquetHistory = _op_SampledHistoryPage = _op_HistoryPage = _op_Run

    def _op_UpsertBucket(self, v):
        """Create or update a run (wandb.init / wandb sync); absent variables keep values."""
        entity = v.get("entity") or self.entity
        project = v.get("project") or "uncategorized"
        run = self.runs.get(v.get("name") or "")
        if run is None and v.get("id"):
            run = next((r for r in self.runs.values() if r.storage_id == v["id"]), None)
        inserted = run is None
        if run is None:
            run_id = v.get("name") or _new_id()
            run = self.add_run(None, run_id=run_id, entity=entity, project=project)
            run.state = "running"
        if v.get("config") is not None:
            config = json.loads(v["config"])
            run.wandb_config = (config.pop("_wandb", None) or {}).get("value") or {}
            run.config = {
                k: c.get("value") if isinstance(c, dict) else c for k, c in config.items()
            }
        if v.get("summaryMetrics") is not None:
            run.summary.update(json.loads(v["summaryMetrics"]))
        for var, attr in [
            ("groupName", "group"),
            ("jobType", "job_type"),
            ("displayName", "display_name"),
            ("tags", "tags"),
            ("sweep", "sweep"),
            ("state", "state"),
        ]:
            if v.get(var) is not None:
                setattr(run, attr, v[var])
        run.heartbeat_at = _now()
        node = run.node(self, v)
        node["project"] = {
            "id": _storage_id("Project", run.project),
            "name": run.project,
            "entity": {"id": _storage_id("Entity", run.entity), "name": run.entity},
        }
        return {"upsertBucket": {"bucket": node, "inserted": inserted}}

    def _op_CreateRunFiles(self, v):
        run = self.runs.get(v.get("run") or "")
        if run is None:
            return {"createRunFiles": {"runID": None, "uploadHeaders": [], "files": []}}
        base = f"{self.url}/upload/{run.entity}/{run.project}/{run.name}"
        files = [{"name": f, "uploadUrl": f"{base}/{f}"} for f in v.get("files") or []]
        return {"createRunFiles": {"runID": run.storage_id, "uploadHeaders": [], "files": files}}

    def file_stream(self, entity: str, project: str, run_id: str, body: dict[str, Any]):
        """POST /files/<entity>/<project>/<run>/file_stream: history, summary, exit."""
        with self.lock:
            run = self.runs.get(run_id)
            if run is None:
                run = self.add_run(None, run_id=run_id, entity=entity, project=project)
            for name, chunk in (body.get("files") or {}).items():
                lines = [json.loads(x) for x in chunk.get("content") or [] if x.strip()]
                if name == "wandb-history.jsonl":
                    del run.history[chunk.get("offset", 0) :]  # a resent chunk replaces
                    run.history.extend(lines)
                elif name == "wandb-summary.json" and lines:
                    run.summary = lines[-1]
                run.heartbeat_at = _now()
            if body.get("complete"):
                run.exitcode = body.get("exitcode")
                run.state = "finished" if not run.exitcode else "failed"
        return {"exitcode": None, "limits": {}}

    def _op_CreateAgent(self, v):
        entity = v.get("entityName") or self.entity
        project = v.get("projectName") or "uncategorized"
        if self._find_sweep(entity, project, v.get("sweep")) is None:
            raise GraphQLError("sweep not found", 404, "createAgent")
        agent = FakeAgent(id=_storage_id("Agent", _new_id()), sweep=v["sweep"], host=v["host"])
        self.agents[agent.id] = agent
        return {"createAgent": {"agent": {"id": agent.id}}}

    def _op_Heartbeat(self, v):
        agent = self.agents.get(v.get("id") or "")
        if agent is None:
            raise GraphQLError("agent not found", 404, "agentHeartbeat")
        sweep = self.sweeps.get(agent.sweep)
        if sweep is None:  # deleted: the client turns this 404 into SweepNotFoundError
            raise GraphQLError("sweep not found", 404, "agentHeartbeat")
        run_state = json.loads(v.get("runState") or "{}")
        agent.heartbeats.append(run_state)
        agent.heartbeat_at = _now()
        self._track_agent_runs(agent, run_state)
        commands = self._next_commands(agent, sweep, run_state)
        agent.commands_sent.extend(commands)
        return {"agentHeartbeat": {"agent": {"id": agent.id}, "commands": json.dumps(commands)}}

    def _track_agent_runs(self, agent: FakeAgent, run_state: dict[str, bool]) -> None:
        """A run the agent reports alive is "running"; once it is no longer reported it is
        "finished" (the agent reports only which runs are alive, never exit codes: the real
        server learns a run's end from the run's own wandb process). Tests may set
        `run.state` themselves."""
        for run_id in agent.runs:
            run = self.runs.get(run_id)
            if run is None:
                continue
            if run_state.get(run_id):
                run.state, run.heartbeat_at = "running", _now()
            elif run.state in ("pending", "running"):
                run.state = "finished"

    def _next_commands(self, agent, sweep, run_state) -> list[dict[str, Any]]:
        """At most one queued command per heartbeat; `run` commands wait while not RUNNING.

        A FINISHED or CANCELED sweep with nothing queued sends `stop` for the agent's live
        runs (CANCELED) and then `exit` once none are alive.
        """
        queued = sweep.commands
        if queued and (queued[0]["type"] != "run" or sweep.state == "RUNNING"):
            command = dict(queued.popleft())
            if command["type"] == "run":
                command.setdefault("program", sweep.config_dict.get("program"))
                config = {k: a["value"] for k, a in command["args"].items()}
                run_id = command["run_id"]
                self.add_run(sweep.name, run_id=run_id, config=config, state="pending")
                self.runs[run_id].agent = agent.id
                agent.runs.append(command["run_id"])
            return [command]
        alive = [r for r, up in run_state.items() if up]
        if sweep.state == "CANCELED" and alive:
            return [{"type": "stop", "run_id": r} for r in alive]
        if sweep.state in ("FINISHED", "CANCELED") and not alive:
            return [{"type": "exit"}]
        return []


def _run_field(run: FakeRun, key: str) -> Any:
    """A run's value for a filter/order key as the client spells it."""
    if key.startswith("config.") and key.endswith(".value"):
        return run.config.get(key[len("config.") : -len(".value")])
    if key.startswith(("summary_metrics.", "summaryMetrics.")):
        return run.summary.get(key.partition(".")[2])
    simple = {
        "name": run.name,
        "sweep": run.sweep,
        "state": run.state,
        "group": run.group,
        "display_name": run.display_name,
        "displayName": run.display_name,
        "created_at": run.created_at,
        "createdAt": run.created_at,
        "heartbeat_at": run.heartbeat_at,
        "heartbeatAt": run.heartbeat_at,
    }
    return simple.get(key)


def _matches(run: FakeRun, filters: dict[str, Any]) -> bool:
    """The MongoDB-style run filters the client sends: $and, $or, and key equality/$in."""
    for key, want in filters.items():
        if key == "$and":
            ok = all(_matches(run, f) for f in want)
        elif key == "$or":
            ok = any(_matches(run, f) for f in want)
        elif isinstance(want, dict) and "$in" in want:
            ok = _run_field(run, key) in want["$in"]
        elif isinstance(want, dict) and "$ne" in want:
            ok = _run_field(run, key) != want["$ne"]
        else:
            ok = _run_field(run, key) == want
        if not ok:
            return False
    return True


def _ordered(runs: list[FakeRun], order: str) -> list[FakeRun]:
    """Sort by "+key"/"-key" (created_at, config.x.value, summary_metrics.x); None last."""
    key = order.lstrip("+-")
    present = [r for r in runs if _run_field(r, key) is not None]
    missing = [r for r in runs if _run_field(r, key) is None]
    present.sort(key=lambda r: _run_field(r, key), reverse=order.startswith("-"))
    return present + missing


def _operation_name(query: str) -> str:
    """The operation's name, or for an anonymous one its first root field."""
    m = re.search(r"\b(?:query|mutation)\s+(\w+)", query)
    if m:
        return m.group(1)
    m = re.search(r"{\s*(\w+)", query)
    return m.group(1) if m else "?"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.connections: set[socket.socket] = set()  # open keep-alive connections

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def close(self) -> None:
        """Stop serving and drop open connections, so clients see the server gone."""
        self.shutdown()
        self.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients dropping keep-alive connections is normal; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeWandb:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return False
        try:
            user_key = base64.b64decode(auth[6:]).decode()
        except ValueError:
            return False
        return user_key.partition(":")[2] == self.fake.api_key

    def do_POST(self) -> None:
        body = self._body()
        if not self._authorized():
            # What the real server answers a bad key with (HTTP 401, GraphQL-style errors).
            self.fake.record("unauthorized")
            message = {
                "message": "user is not logged in",
                "extensions": {"code": "PERMISSION_ERROR"},
            }
            return self._send_json(401, {"errors": [message], "data": None})
        if self.path.split("?")[0] == "/graphql":
            try:
                payload = json.loads(body)
                return self._send_json(200, {"data": self.fake.graphql(payload)})
            except GraphQLError as e:
                error: dict[str, Any] = {"message": str(e)}
                if e.path:
                    error["path"] = [e.path]
                data = {e.path: None} if e.path else None
                return self._send_json(e.status, {"errors": [error], "data": data})
        m = re.fullmatch(r"/files/([^/]+)/([^/]+)/([^/]+)/file_stream", self.path.split("?")[0])
        if m:
            payload = json.loads(body)
            self.fake.record("file_stream", payload)
            return self._send_json(200, self.fake.file_stream(*m.groups(), payload))
        self.fake.record(f"POST {self.path}")
        self._send_json(404, {"error": f"fake wandb: no route POST {self.path}"})

    def do_PUT(self) -> None:
        """Uploads to the URLs that CreateRunFiles hands out (pre-signed: no auth)."""
        body = self._body()
        m = re.fullmatch(r"/upload/([^/]+)/([^/]+)/([^/]+)/(.+)", self.path.split("?")[0])
        if m is None:
            self.fake.record(f"PUT {self.path}")
            return self._send_json(404, {"error": f"fake wandb: no route PUT {self.path}"})
        self.fake.record("upload")
        _, _, run_id, name = m.groups()
        with self.fake.lock:
            run = self.fake.runs.get(run_id)
            if run is not None:
                run.files[name] = body
        self._send_json(200 if run is not None else 404, {})


@pytest.fixture
def fake_wandb(monkeypatch: pytest.MonkeyPatch):
    """A started `FakeWandb`, with its `env()` set in os.environ for in-process wandb.

    The variables wandb itself writes into os.environ (wandb.sweep sets WANDB_ENTITY and
    WANDB_PROJECT, the agent WANDB_SWEEP_ID...) are restored afterwards, and if wandb was
    imported its process-wide state (settings singleton, wandb-core service, session
    credentials) is torn down, so the next test starts clean against its own server.
    """
    fake = FakeWandb()
    for name in _ENV_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    try:
        yield fake
    finally:
        if "wandb" in sys.modules:
            sys.modules["wandb"].teardown()
        fake.close()
