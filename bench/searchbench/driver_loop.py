"""The JSON-lines loop shared by the drivers that run a peer engine in its own virtualenv
(hebo_driver.py, ax_driver.py): plain standard library, importable in any of those venvs.

    {"op": "start", "params": [...], "seed": S}   -> {"ok": true}   a fresh sweep
    {"op": "ask", "n": N}                          -> {"configs": [...]}
    {"op": "tell", "configs": [...], "values": [...]} -> {"ok": true}

``params`` are the problem's parameters as dicts (name, kind, low, high, values, q; see
bench/problems/__init__.py). The parameters' W&B kinds map to each engine's own types in its
driver; categorical values travel as their positions, so 16 and "16" cannot be confused.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from typing import Any, Protocol


class Sweep(Protocol):
    def ask(self, n: int) -> list[dict[str, Any]]: ...

    def tell(self, configs: list[dict[str, Any]], values: list[float]) -> None: ...


def serve(start: Callable[[list[dict[str, Any]], int], Sweep]) -> None:
    """Answer requests from stdin until it closes; ``start(params, seed)`` makes a sweep."""
    warnings.simplefilter("ignore")  # model-fitting warnings would only fill the pipe
    answers, sys.stdout = sys.stdout, sys.stderr  # what an engine prints must not mix in
    sweep: Sweep | None = None
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any] = {"ok": True}
        if request["op"] == "start":
            sweep = start(request["params"], request["seed"])
        elif request["op"] == "ask":
            assert sweep is not None, "ask before start"
            answer = {"configs": sweep.ask(request["n"])}
        else:
            assert sweep is not None, "tell before start"
            sweep.tell(request["configs"], request["values"])
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def step_count(param: dict[str, Any]) -> int:
    """q_uniform: the largest step index k (values low + k * q)."""
    return round((param["high"] - param["low"]) / param["q"])


def from_engine(param: dict[str, Any], raw: Any) -> Any:
    """An engine's value (categorical position, step index, number) as the W&B value."""
    kind = param["kind"]
    if kind == "categorical":
        return param["values"][int(raw)]
    if kind == "int_uniform":
        return int(raw)
    if kind == "q_uniform":
        return round(param["low"] + int(raw) * param["q"], 10)
    return float(raw)


def to_engine(param: dict[str, Any], value: Any) -> Any:
    """A W&B value as the engine sees it (the inverse of :func:`from_engine`)."""
    kind = param["kind"]
    if kind == "categorical":
        return str(param["values"].index(value))
    if kind == "q_uniform":
        return round((value - param["low"]) / param["q"])
    if kind == "int_uniform":
        return int(value)
    return float(value)
