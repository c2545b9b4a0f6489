"""The W&B controller: sweeps that live on W&B's servers, driven through the wandb package.

sweepctl stays the front end (validation, GPU fan-out, tables, exports, reports) while W&B
does the search and the dashboards. A W&B sweep is named by its path ``entity/project/id``;
every reading command turns it into the same :class:`~sweepctl.store.base.Sweep` and
:class:`~sweepctl.store.base.Run` values a local store gives, so one set of tables, exports
and reports serves both.

The wandb package is imported only here, and only when a W&B path is used. The calls are the
ones W&B's own CLI makes (``wandb sweep`` creates and changes state through
``wandb.apis.public.sweeps``); agents are W&B's own ``wandb agent``, one per GPU group.
"""

from __future__ import annotations

import copy
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sweepctl.domain import RUN_STATES, RunState
from sweepctl.errors import Problem, SweepctlError, UsageError
from sweepctl.records import Run, Sweep
from sweepctl.run_metric import metric_history
from sweepctl.spec import build_spec

# entity/project/id, as `wandb agent` takes it (a `wandb:` prefix is accepted too).
_PATH = re.compile(r"^(?:wandb:)?([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/([A-Za-z0-9]+)$")

# Seconds the wandb client may wait for one answer before sweepctl says W&B is unreachable.
TIMEOUT = 20

# W&B's sweep states and the names sweepctl's local sweeps use for the same thing.
_STATES = {
    "RUNNING": "running",
    "PAUSED": "paused",
    "FINISHED": "finished",
    "CANCELED": "canceled",
    "PENDING": "pending",
    "FAILED": "failed",
}
# What `stop`, `stop --cancel`, `pause` and `resume` ask W&B for (as `wandb sweep --stop` ...).
_ACTIONS = {"stop": "FINISHED", "cancel": "CANCELED", "pause": "PAUSED", "resume": "RUNNING"}


class WandbError(SweepctlError):
    """W&B could not be reached, refused the request, or answered with an error."""

    refused = False  # True when W&B answered and said no (not: unreachable, not logged in)


@dataclass(frozen=True)
class SweepPath:
    entity: str
    project: str
    sweep_id: str

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.sweep_id}"


def parse_path(ref: str) -> SweepPath | None:
    """The W&B sweep ``ref`` names (``entity/project/id``), or None for a local reference."""
    found = _PATH.match(ref.strip())
    return SweepPath(*found.groups()) if found else None


def base_url() -> str:
    """The W&B server the wandb package talks to (``WANDB_BASE_URL`` or its settings)."""
    from wandb import env

    return env.get_base_url() or "https://api.wandb.ai"


# -- the sweep file on its way to W&B -------------------------------------------------------


def wandb_config(
    config: dict[str, Any], lines: dict[tuple, int] | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """The config W&B gets: ``config`` without the ``sweepctl:`` block, and a warning for
    each option in that block, since only sweepctl's local controller honours them.

    Numbers the loader fixed (``1e-5`` read as text by PyYAML) are already floats here, so
    the YAML the wandb package sends holds real floats.
    """
    out = copy.deepcopy(config)
    options = out.pop("sweepctl", None) or {}
    warnings = [
        Problem(
            "warning",
            f"`sweepctl.{key}` is honoured only by sweepctl's local controller; "
            "W&B's controller ignores it",
            line=(lines or {}).get(("sweepctl", key)),
            path=f"sweepctl.{key}",
        )
        for key in options
    ]
    return out, warnings


# -- talking to W&B -------------------------------------------------------------------------


@contextmanager
def errors(what: str, *, path: SweepPath | None = None) -> Iterator[None]:
    """Turn whatever the wandb client raises while doing ``what`` into a :class:`WandbError`."""
    try:
        yield
    except SweepctlError:
        raise
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # the client raises many types; all become one message
        raise _explain(exc, what, path) from exc


def _explain(exc: BaseException, what: str, path: SweepPath | None) -> WandbError:
    text = " ".join(str(exc).split()) or type(exc).__name__
    lowered = text.lower()
    server = base_url()
    if "authentication" in lowered and "configured" in lowered:
        return not_logged_in()
    # With a key at hand, the server's "user is not logged in" (HTTP 401) means it refused it.
    rejected = ("401", "unauthorized", "invalid api key", "relogin", "not logged in")
    if any(word in lowered for word in rejected):
        return WandbError(
            f"W&B at {server} did not accept the API key ({what})",
            hint="log in again with `wandb login --relogin`, or set WANDB_API_KEY",
        )
    if path is not None and any(w in lowered for w in ("not found", "could not find", "404")):
        return WandbError(
            f"W&B has no sweep {path}",
            hint="check the entity, project and sweep id (the path `sweepctl create "
            "--controller wandb` printed)",
            exit_code=2,
        )
    unreachable = (
        "connection",
        "timed out",
        "timeout",
        "name resolution",
        "unreachable",
        "refused",
        "max retries",
        "deadline",
    )
    if any(word in lowered for word in unreachable):
        return WandbError(
            f"cannot reach W&B at {server} ({what}): {_short(text)}",
            hint="check the network (or WANDB_BASE_URL); local sweeps need no network",
        )
    error = WandbError(f"W&B refused to {what}: {_short(text)}")
    error.refused = True
    return error


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def not_logged_in() -> WandbError:
    return WandbError(
        f"not logged in to W&B ({base_url()})",
        hint="run `wandb login`, or set WANDB_API_KEY (local sweeps need no account)",
    )


def has_credentials() -> bool:
    """Whether the wandb package would find an API key without asking for one."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:
        from wandb.sdk.lib.wbauth.wbnetrc import read_netrc_auth
    except ImportError:  # a wandb without this module: let wandb itself decide
        return True
    try:
        return bool(read_netrc_auth(host=base_url()))
    except Exception:
        return False


def require_wandb() -> None:
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise UsageError(
            "the W&B controller needs the wandb package, and it is not installed",
            hint="pip install 'sweepctl[wandb]'",
        ) from None


def check_reachable(url: str | None = None, timeout: float = 5.0) -> None:
    """Fail in seconds, not after the wandb client's retries, when nothing answers at ``url``.

    Only a TCP connection is tried (no request); behind a proxy the proxy decides, so the
    check is left to the client then.
    """
    import socket
    from urllib.parse import urlsplit

    url = url or base_url()
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise WandbError(f"WANDB_BASE_URL {url!r} is not a URL", hint="e.g. https://api.wandb.ai")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, socket.gaierror):
            reason = f"cannot resolve {host}"
        elif isinstance(exc, TimeoutError):
            reason = f"no answer in {timeout:g}s"
        raise WandbError(
            f"cannot reach W&B at {url} ({reason})",
            hint="check the network (or WANDB_BASE_URL); local sweeps need no network",
        ) from None


def connect(timeout: float | None = None):
    """An authenticated ``wandb.Api``; raises :class:`WandbError` when that is not possible."""
    require_wandb()
    if not has_credentials():
        raise not_logged_in()
    check_reachable()
    import wandb

    with errors("log in"):
        return wandb.Api(timeout=max(1, round(timeout or _timeout())))


def _timeout() -> float:
    """Seconds per request: ``SWEEPCTL_WANDB_TIMEOUT``, else :data:`TIMEOUT`."""
    text = os.environ.get("SWEEPCTL_WANDB_TIMEOUT")
    if not text:
        return TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"SWEEPCTL_WANDB_TIMEOUT={text!r} is not a number of seconds", hint="e.g. 20"
        ) from None
    return value if value > 0 else TIMEOUT


# -- creating --------------------------------------------------------------------------------


@dataclass
class CreatedOnWandb:
    path: SweepPath
    url: str | None
    warnings: list[str]  # W&B's own config validation warnings


def create_sweep(
    config: dict[str, Any], *, entity: str | None = None, project: str | None = None
) -> CreatedOnWandb:
    """Create the sweep on W&B (as ``wandb sweep`` does) and return its path."""
    from wandb.apis.public.sweeps import _upsert_sweep

    api = connect()
    # W&B's order: the command line, then the environment, then the file.
    entity = entity or os.environ.get("WANDB_ENTITY") or config.get("entity")
    project = project or os.environ.get("WANDB_PROJECT") or config.get("project")
    config = {**config, **({"entity": entity} if entity else {}), "project": project}
    if not project:
        project = _project_from_program(config.get("program"))
    with errors("create the sweep"):
        if not entity:
            entity = api.default_entity
        sweep, warnings = _upsert_sweep(api, config, entity=entity, project=project)
    found = sweep.get("project") or {}
    project = found.get("name") or project
    entity = (found.get("entity") or {}).get("name") or entity
    path = SweepPath(entity, project, sweep["name"])
    url = f"{_app_url()}/{entity}/{project}/sweeps/{sweep['name']}"
    return CreatedOnWandb(path=path, url=url, warnings=list(warnings or []))


def _project_from_program(program: str | None) -> str:
    """W&B's fallback project name: the program's file name, else "uncategorized"."""
    if not program:
        return "uncategorized"
    stem = os.path.splitext(os.path.basename(program))[0]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-")
    return name or "uncategorized"


def _app_url() -> str:
    url = base_url().rstrip("/")
    if url in ("https://api.wandb.ai", "http://api.wandb.ai"):
        return "https://wandb.ai"
    return url


# -- reading ---------------------------------------------------------------------------------


class WandbSweeps:
    """Reads W&B sweeps and runs into sweepctl's values; quacks like a store for readers."""

    def __init__(self, timeout: float | None = None) -> None:
        self.api = connect(timeout)
        self._runs: dict[str, Any] = {}  # run id -> the wandb public Run, for history()
        self._sweeps: dict[str, Sweep] = {}
        self._pages: dict[str, Any] = {}  # sweep path -> its runs, paged in when first read

    def get_sweep(self, ref: str) -> Sweep:
        path = parse_path(ref)
        if path is None:
            raise UsageError(f"{ref!r} is not a W&B sweep path", hint="use entity/project/id")
        key = str(path)
        if key not in self._sweeps:
            self._sweeps[key] = self._load(path)
        return self._sweeps[key]

    def _load(self, path: SweepPath) -> Sweep:
        with errors("read the sweep", path=path):
            found = self.api.sweep(str(path))
            config = found.config or {}
        _check_readable(path, config)
        with errors("read the sweep", path=path):
            state = _STATES.get(str(found.state).upper(), str(found.state).lower())
            created = _timestamp(found._attrs.get("createdAt"))
            sweep = Sweep(
                id=str(path),
                name=config.get("name") or found._attrs.get("displayName"),
                project=path.project,
                entity=path.entity,
                method=config.get("method", "?"),
                state=state,
                state_reason="on W&B",
                config=config,
                source=found.url,
                created_at=created or time.time(),
                updated_at=_timestamp(found._attrs.get("updatedAt")) or created or time.time(),
            )
            self._pages[sweep.id] = found.runs  # read by runs(); state changes never page it
        return sweep

    def runs(self, sweep_id: str, states=None) -> list[Run]:
        sweep = self.get_sweep(sweep_id)
        metric = _metric_name(sweep.config)
        with errors("read the sweep's runs", path=parse_path(sweep_id)):
            found = list(self._pages[sweep.id])
            out = []
            ordered = sorted(found, key=lambda r: _timestamp(r._attrs.get("createdAt")) or 0)
            for number, wandb_run in enumerate(ordered, start=1):
                self._runs[wandb_run.id] = wandb_run
                run = to_run(sweep.id, number, wandb_run, metric)
                if not states or run.state in states:
                    out.append(run)
        return out

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """The logged rows of a run (what reports draw curves from)."""
        wandb_run = self._runs.get(run_id)
        if wandb_run is None:
            return []
        with errors("read a run's history"):
            return list(wandb_run.scan_history())

    def reap(self, sweep_id: str, timeout: float | None = None) -> int:
        """Nothing to do: W&B's server notices lost runs itself."""
        return 0

    def set_state(self, ref: str, action: str) -> tuple[Sweep, str]:
        """``stop``, ``cancel``, ``pause`` or ``resume`` a W&B sweep with W&B's own controls."""
        from wandb.apis.public.sweeps import _set_sweep_state

        sweep = self.get_sweep(ref)
        path = parse_path(sweep.id)
        assert path is not None
        target = _ACTIONS[action]
        try:
            _set_sweep_state(
                self.api, path.sweep_id, target, entity=path.entity, project=path.project
            )
        except Exception as exc:
            text = str(exc)
            if text.startswith(("Cannot ", "Sweep already")):  # W&B's own state checks
                raise UsageError(
                    f"W&B sweep {path} is {sweep.state}: {text.rstrip('.').lower()}",
                    hint="see it with `sweepctl runs` or in W&B's UI",
                ) from None
            raise _explain(exc, f"{action} the sweep", path) from exc
        return sweep, f"W&B sweep {path} is now {_STATES[target]}"


def _check_readable(path: SweepPath, config: Any) -> None:
    """Refuse, with a message, a config from W&B that sweepctl's model cannot read.

    Only what would break reading is refused; W&B's server may hold configs that sweepctl's
    stricter checks would not create, and their runs are still worth reading.
    """
    reason = "it is not a mapping"
    if isinstance(config, dict):
        try:
            build_spec(config, source=str(path))
            return
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
    raise UsageError(
        f"W&B sweep {path} has a config sweepctl cannot read ({reason})",
        hint="see the sweep in W&B's UI; `sweepctl validate` on its file names the problems",
    )


def _metric_name(config: dict[str, Any]) -> str | None:
    metric = config.get("metric")
    return metric.get("name") if isinstance(metric, dict) else None


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch from W&B's ISO times (``2026-11-23T10:00:00`` is UTC)."""
    if not value:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        from datetime import timezone

        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


# W&B run states that sweepctl's tables know under another name.
_RUN_STATES = {"preempting": "preempted"}


def to_run(sweep_id: str, number: int, wandb_run: Any, metric: str | None) -> Run:
    """A W&B run as sweepctl's :class:`Run`.

    Its metric is the run's summary value, the number W&B's UI and ``Sweep.best_run()``
    rank runs by (reading every run's history to take W&B's best-ever value would cost one
    request per run).
    """
    attrs = wandb_run._attrs

    summary = dict(wandb_run.summary_metrics or {})
    # The same lookup as local runs: finite numbers only, `eval.loss` also as a nested key.
    found = metric_history([summary], metric) if metric else []
    value = found[0] if found else None
    state = str(wandb_run.state or "unknown").lower()
    state = _RUN_STATES.get(state, state)
    created = _timestamp(attrs.get("createdAt")) or 0.0
    heartbeat = _timestamp(attrs.get("heartbeatAt"))
    step = summary.get("_step")
    return Run(
        id=wandb_run.id,
        sweep_id=sweep_id,
        number=number,
        state=state,
        config=dict(wandb_run.config or {}),
        agent_id=None,
        exit_code=None,
        created_at=created,
        started_at=created,
        ended_at=heartbeat if state not in RUN_STATES or RunState(state).terminal else None,
        heartbeat_at=heartbeat,
        summary=summary,
        metric=value,
        history=[],
        steps=int(step) + 1 if isinstance(step, (int, float)) and not isinstance(step, bool) else 0,
        reason=None,
        stop_requested=None,
    )
