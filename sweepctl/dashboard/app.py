"""The dashboard's ASGI app (Starlette): pages, JSON endpoints, controls, and the guards.

Guards, outermost first: the Host header must name this server when it is bound to the
loopback address (a page elsewhere cannot reach it by rebinding a DNS name); with a token,
every request carries it (header, cookie, or ``?token=`` once, which sets the cookie), 401
without and 403 with a wrong one; controls are POST only, with the page's CSRF token in a
header (a form or image on another site cannot send one), and refused when read-only.
Every response says what a browser may run (no inline script, nothing from elsewhere).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sweepctl.dashboard import pages
from sweepctl.dashboard.watch import ACTIONS, ReadOnly, Watch
from sweepctl.errors import SweepctlError, UsageError

STATIC = Path(__file__).parent / "static"
TOKEN_COOKIE = "sweepctl_token"
CSRF_HEADER = "x-sweepctl-csrf"
# Plotly's WebGL traces (parallel coordinates) compile their code at run time: 'unsafe-eval'.
# Inline scripts stay forbidden, so text that slipped into a page could still not run.
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class Settings:
    """How the app guards itself."""

    token: str | None = None  # required on every request when set
    read_only: bool = False
    allowed_hosts: tuple[str, ...] | None = None  # None: any Host header
    where: str = ""  # the store, redacted, for the page header
    csrf: str = ""  # made at start when empty


def plotly_js_path() -> Path:
    """plotly.min.js as the installed ``plotly`` package ships it."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def create_app(watch: Watch, settings: Settings) -> ASGIApp:
    """The app over ``watch``, wrapped in its guards."""
    csrf = settings.csrf or secrets.token_urlsafe(24)
    show = pages.PageInfo(csrf=csrf, read_only=settings.read_only, where=settings.where)
    stylesheet = pages.stylesheet()

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def sweeps_page(request: Request) -> Response:
        return HTMLResponse(pages.sweeps_page(show))

    async def sweep_page(request: Request) -> Response:
        ref = request.path_params["sweep_id"]
        try:
            sweep = await _thread(watch.open, ref)
        except UsageError as exc:
            return HTMLResponse(pages.not_found(show, exc.message), status_code=404)
        return HTMLResponse(pages.sweep_page(show, sweep))

    async def api_sweeps(request: Request) -> Response:
        return JSONResponse(await _thread(watch.overview))

    async def api_sweep(request: Request) -> Response:
        ref = request.path_params["sweep_id"]
        since = request.query_params.get("since")
        return JSONResponse(await _thread(watch.detail, ref, since))

    async def api_importance(request: Request) -> Response:
        return JSONResponse(await _thread(watch.importance, request.path_params["sweep_id"]))

    async def api_log(request: Request) -> Response:
        p = request.path_params
        return JSONResponse(await _thread(watch.log, p["sweep_id"], p["run_id"]))

    async def api_control(request: Request) -> Response:
        if request.method != "POST":  # routed here so no other route takes the path
            return JSONResponse(
                {"error": "controls are POST requests"}, status_code=405, headers={"allow": "POST"}
            )
        if settings.read_only:
            return error(403, "this dashboard is read-only (--read-only)")
        if not secrets.compare_digest(request.headers.get(CSRF_HEADER, ""), csrf):
            return error(403, "missing or wrong CSRF token: use the page's buttons")
        action = request.path_params["action"]
        if action not in ACTIONS:
            return error(404, f"no action {action!r}; one of {', '.join(ACTIONS)}")
        try:
            message = await _thread(watch.control, request.path_params["sweep_id"], action)
        except ReadOnly as exc:
            return error(403, exc.message)
        except UsageError as exc:
            return error(409, exc.message)
        return JSONResponse({"action": action, "message": message})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        cache = {"cache-control": "max-age=3600"}
        if name == "dashboard.css":
            return Response(stylesheet, media_type="text/css", headers=cache)
        if name == "plotly.min.js":
            path = plotly_js_path()
        elif name == "dashboard.js":
            path = STATIC / name
        else:
            return error(404, "no such file")
        return FileResponse(path, headers=cache)

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, UsageError):
            return error(404, exc.message)
        assert isinstance(exc, SweepctlError)
        return error(503, exc.message)  # the store could not be read: messages are redacted

    app = Starlette(
        routes=[
            Route("/", sweeps_page),
            # W&B sweep ids are paths (entity/project/id): the specific routes come first.
            Route("/sweeps/{sweep_id:path}", sweep_page),
            Route("/api/sweeps", api_sweeps),
            Route("/api/sweeps/{sweep_id:path}/importance", api_importance),
            Route("/api/sweeps/{sweep_id:path}/runs/{run_id}/log", api_log),
            Route(
                "/api/sweeps/{sweep_id:path}/control/{action}",
                api_control,
                methods=["GET", "POST"],
            ),
            Route("/api/sweeps/{sweep_id:path}", api_sweep),
            Route("/static/{name}", static),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
        ],
        exception_handlers={SweepctlError: on_error},
    )
    return Guard(app, settings)


async def _thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Store reads block: run them off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)


class Guard:
    """The Host check, the token and the response headers, around every request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = self._refuse(request)
        if refused is not None:
            await refused(scope, receive, send)
            return
        set_cookie = (
            self.settings.token is not None
            and request.query_params.get("token") == self.settings.token
        )
        if set_cookie and request.method == "GET" and not request.url.path.startswith("/api/"):
            # The token goes into a cookie and out of the address bar (and screenshots).
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            clean = request.url.replace(query=urlencode(rest))
            moved = Response(status_code=303, headers={**HEADERS, "location": str(clean)})
            moved.set_cookie(
                TOKEN_COOKIE, self.settings.token, httponly=True, samesite="strict", path="/"
            )
            await moved(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [
                    (k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in have
                ]
                if set_cookie:
                    cookie = (
                        f"{TOKEN_COOKIE}={self.settings.token}; HttpOnly; SameSite=Strict; Path=/"
                    )
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _refuse(self, request: Request) -> Response | None:
        allowed = self.settings.allowed_hosts
        if allowed is not None:
            host = request.headers.get("host", "")
            name = host if host.endswith("]") else host.rsplit(":", 1)[0]
            if name not in allowed:
                return _refusal(400, "this dashboard answers to 127.0.0.1 and localhost only")
        token = self.settings.token
        if token is None:
            return None
        given = [
            t
            for t in (
                request.headers.get("x-sweepctl-token"),
                _bearer(request.headers.get("authorization")),
                request.query_params.get("token"),
                request.cookies.get(TOKEN_COOKIE),  # perhaps an earlier dashboard's
            )
            if t
        ]
        if not given:
            return _refusal(401, "this dashboard needs its token: open the URL it printed")
        if not any(secrets.compare_digest(t.encode(), token.encode()) for t in given):
            return _refusal(403, "wrong token")
        return None


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def _refusal(status: int, message: str) -> Response:
    return Response(
        f"{status} {message}\n",
        status_code=status,
        media_type="text/plain",
        headers={**HEADERS, "www-authenticate": "Bearer"} if status == 401 else HEADERS,
    )
