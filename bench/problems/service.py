"""A warm evaluator for run_problem.py: the objective computed in a process that stays up.

Each run that sweepctl launches is a fresh Python process; for the MLP problem, importing
scikit-learn costs that process 1-2 s, several times the fit itself, and would dominate the
benchmark's wall time. When the harness sets ``BENCH_EVAL_SOCKET``, run_problem.py sends its
config here and logs the value it gets back: the same function, the same interpreter and
libraries, so the same value; only the import is paid once. One JSON line each way.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import warnings
from pathlib import Path
from typing import Any

from problems import evaluate

ENV = "BENCH_EVAL_SOCKET"


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = json.loads(self.rfile.readline())
        try:
            answer: dict[str, Any] = {"value": evaluate(request["problem"], request["config"])}
        except Exception as exc:  # the run fails with the message, as a local error would
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        self.wfile.write((json.dumps(answer) + "\n").encode())


def serve(path: Path) -> socketserver.ThreadingUnixStreamServer:
    """Start serving evaluations on a Unix socket, in a daemon thread; returns the server."""
    # The objectives silence their warnings with warnings.catch_warnings(), which is not
    # thread-safe: with runs evaluated side by side here, silence them process-wide instead.
    warnings.simplefilter("ignore")
    path.unlink(missing_ok=True)
    server = socketserver.ThreadingUnixStreamServer(str(path), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def request(path: str, problem: str, config: dict[str, Any]) -> float:
    """The objective of one config, computed by the server at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        conn.sendall((json.dumps({"problem": problem, "config": config}) + "\n").encode())
        answer = json.loads(conn.makefile().readline())
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return float(answer["value"])
