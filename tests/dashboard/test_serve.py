"""`sweepctl dashboard` through the real CLI: uvicorn on a port, the token, clear refusals."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from dashboard_fixtures import fill
from dashboard_server import dashboard, get

from sweepctl.store import open_store


@pytest.fixture
def storage(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    fill(open_store(url, create=True))
    return url


@pytest.mark.slow
def test_serves_the_store_on_loopback_without_a_token(storage: str) -> None:
    with dashboard(storage) as (url, _):
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.port and not parts.query
        status, body = get(url + "api/sweeps")
        assert status == 200
        (sweep,) = json.loads(body)["sweeps"]
        assert sweep["label"] == "known <b>sweep</b>"
        status, page = get(url + f"sweeps/{sweep['id']}")
        assert status == 200 and "known &lt;b&gt;sweep&lt;/b&gt;" in page


@pytest.mark.slow
def test_another_host_needs_the_token_it_prints_once(storage: str) -> None:
    with dashboard(storage, "--host", "0.0.0.0") as (url, proc):
        parts = urlsplit(url)
        assert parts.hostname == socket.gethostname()  # how other machines reach it
        token = parts.query.removeprefix("token=")
        assert len(token) >= 20
        base = f"http://127.0.0.1:{parts.port}/"
        assert get(base + "api/sweeps")[0] == 401
        assert get(base + "api/sweeps?token=wrong-token")[0] == 403
        assert get(base + "api/sweeps", {"X-Sweepctl-Token": "nope"})[0] == 403
        assert get(base + f"api/sweeps?token={token}")[0] == 200
        assert get(base + "api/sweeps", {"Authorization": f"Bearer {token}"})[0] == 200
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    # Said once, in the URL; stderr says a token guards it without repeating it.
    assert token not in out + err
    assert "a token guards this address" in err


@pytest.mark.slow
def test_a_given_token_guards_loopback_too(storage: str) -> None:
    with dashboard(storage, "--token", "my-long-token", "--read-only") as (url, _):
        base = url.split("?")[0]
        assert get(base + "api/sweeps")[0] == 401
        status, page = get(base, {"Authorization": "Bearer my-long-token"})
        assert status == 200 and 'data-read-only="1"' in page


@pytest.mark.slow
def test_open_hands_the_url_to_the_users_browser(storage: str, tmp_path: Path, monkeypatch) -> None:
    opened = tmp_path / "opened.txt"
    record = tmp_path / "browser.py"
    record.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    # Python's webbrowser runs $BROWSER, with %s the URL, before any browser it knows.
    monkeypatch.setenv("BROWSER", f"{sys.executable} {record} %s")
    with dashboard(storage, "--open") as (url, _):
        deadline = time.monotonic() + 30
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.read_text() == url


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_a_busy_port_and_a_short_token_are_clear_errors(storage: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = run_cli("dashboard", "--storage", storage, "--port", str(port), cwd=tmp_path)
    assert done.returncode == 2
    assert f"error: cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_cli("dashboard", "--storage", storage, "--token", "short", cwd=tmp_path)
    assert done.returncode == 2 and "--token is too short" in done.stderr


BLOCK_STARLETTE = """
import sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("starlette", "uvicorn"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
from sweepctl.cli import main
main(sys.argv[1:])
"""


def test_without_the_extra_it_says_what_to_install(storage: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_STARLETTE, "dashboard", "--storage", storage],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "the dashboard needs starlette and uvicorn, and they are not installed" in done.stderr
    assert "pip install 'sweepctl[dashboard]'" in done.stderr
    assert "Traceback" not in done.stderr
