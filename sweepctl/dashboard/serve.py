"""Serving the dashboard: check the extra is installed, decide the token, bind, run uvicorn.

Bound to the loopback address by default. Any other address (a LAN, ``0.0.0.0``) needs a
token on every request: the one given, else one made here and said once through ``ready``.
"""

from __future__ import annotations

import importlib
import ipaddress
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sweepctl.agent.process import open_url
from sweepctl.backends import factory
from sweepctl.dashboard import EXTRA
from sweepctl.dashboard.watch import Watch
from sweepctl.errors import UsageError
from sweepctl.lazy import lazy_import

app = lazy_import("sweepctl.dashboard.app")  # starlette: once the extra is known installed

# The Host headers a loopback-bound dashboard answers (a DNS name rebound to 127.0.0.1 is not).
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
NEEDED = {"starlette": "starlette", "uvicorn": "uvicorn", "plotly": "plotly"}


@dataclass(frozen=True)
class Serving:
    """Where the dashboard listens, as ``ready`` is told before the first request."""

    url: str  # with ``?token=`` when a token guards it: the address to open
    host: str
    port: int
    token: str | None
    token_made: bool  # made here (print it once) rather than given
    read_only: bool
    where: str  # the store, redacted


def require_extra() -> None:
    """Refuse, with what to install, when the dashboard's packages are missing."""
    missing = []
    for module, package in NEEDED.items():
        try:
            importlib.import_module(module)  # about to be used: importing costs nothing more
        except ImportError:
            missing.append(package)
    if missing:
        which = "it is" if len(missing) == 1 else "they are"
        raise UsageError(
            f"the dashboard needs {' and '.join(missing)}, and {which} not installed",
            hint=EXTRA,
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one), or a clear error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host!r}: {exc.strerror}", hint="e.g. --host 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="pick another --port (or --port 0 for any free one)",
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _sources(storage: str | None, sweeps: Sequence[str]):
    """The local backend (None when only W&B sweeps are asked for and no store is found),
    the W&B backend and the ids of the W&B sweeps named, and where they are: opened now, so
    a wrong --storage or sweep path fails before anything listens."""
    for ref in sweeps:
        if factory.parse_ref(ref).controller != "wandb":
            raise UsageError(
                f"{ref!r}: the dashboard shows every sweep of the store already",
                hint="name W&B sweeps by their path entity/project/id",
            )
    try:
        backend = factory.open_local(storage)
        places = [f"store: {backend.where}"]
    except UsageError:
        if storage is not None or not sweeps:
            raise
        backend, places = None, []
    remote, ids = None, []
    if sweeps:
        remote = factory.open_wandb()
        ids = list(dict.fromkeys(remote.get_sweep(ref).id for ref in sweeps))
        places.append(f"W&B: {remote.where} (read-only)")
    return backend, remote, ids, "; ".join(places)


def serve(
    storage: str | None = None,
    *,
    sweeps: Sequence[str] = (),
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    read_only: bool = False,
    open_browser: bool = False,
    ready: Callable[[Serving], None] | None = None,
) -> None:
    """Serve the dashboard over the store until interrupted (Ctrl-C, SIGTERM)."""
    require_extra()
    if token is not None and len(token) < 8:
        raise UsageError("--token is too short to guard anything", hint="use 8 characters or more")
    backend, remote, remote_ids, where = _sources(storage, sweeps)
    loopback = is_loopback(host)
    made = token is None and not loopback
    if made:
        token = secrets.token_urlsafe(18)
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    # Listening on every address: the URL names this machine, as others reach it.
    reach = socket.gethostname() if host in ("0.0.0.0", "::", "") else shown
    url = f"http://{reach}:{bound}/" + (f"?token={token}" if token else "")
    hosts = (*LOOPBACK_NAMES, shown) if loopback else None
    served = build(
        backend,
        token=token,
        read_only=read_only,
        allowed_hosts=hosts,
        where=where,
        remote=remote,
        remote_refs=remote_ids,
    )
    if ready is not None:
        ready(Serving(url, host, bound, token, made, read_only, where))
    if open_browser:
        open_url(url)
    run(served, sock)


def build(
    backend,
    *,
    token: str | None = None,
    read_only: bool = False,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_NAMES,
    where: str = "",
    remote=None,
    remote_refs: Sequence[str] = (),
):
    """The guarded app over ``backend`` (``allowed_hosts`` None: any Host header)."""
    settings = app.Settings(
        token=token, read_only=read_only, allowed_hosts=allowed_hosts, where=where
    )
    watch = Watch(backend, read_only=read_only, remote=remote, remote_refs=remote_refs)
    return app.create_app(watch, settings)


def run(served, sock: socket.socket) -> None:
    """Run the app on uvicorn on the bound socket until interrupted."""
    import uvicorn

    config = uvicorn.Config(served, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
