"""Output for people: problems, verdicts and tables, through rich.

User data is always passed as :class:`rich.text.Text`, never as markup, so a value like
``[0.1]`` prints as written. Colour and decoration only reach a terminal.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import Any

from rich.console import Console
from rich.text import Text

from sweepctl.errors import Problem, SweepctlError

_STYLE = {"error": "bold red", "warning": "yellow"}


@cache
def out() -> Console:
    """Results: ids, tables, JSON."""
    return Console(highlight=False, soft_wrap=True)


@cache
def err() -> Console:
    """Errors, warnings and progress."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def problem_text(source: str, problem: Problem) -> Text:
    where = f"{source}:{problem.line}" if problem.line else source
    text = Text()
    text.append(where, style="bold")
    text.append(": ")
    text.append(problem.severity, style=_STYLE[problem.severity])
    text.append(": ")
    if problem.path:
        text.append(problem.path, style="cyan")
        text.append(": ")
    text.append(problem.message)
    if problem.hint:
        text.append("\n    hint: ", style="dim")
        text.append(problem.hint)
    return text


def problems(source: str, found: list[Problem]) -> None:
    for problem in found:
        err().print(problem_text(source, problem))


def error(exc: SweepctlError) -> None:
    """One failure, as ``error: file:line: message`` plus its hint."""
    text = Text()
    text.append("error: ", style="bold red")
    if exc.location:
        text.append(exc.location, style="bold")
        text.append(": ")
    text.append(exc.message)
    if exc.hint:
        text.append("\n  hint: ", style="dim")
        text.append(exc.hint)
    err().print(text)


def warning(message: str, hint: str | None = None) -> None:
    text = Text()
    text.append("warning: ", style="yellow")
    text.append(message)
    if hint:
        text.append("\n  hint: ", style="dim")
        text.append(hint)
    err().print(text)


def line(*parts: str | tuple[str, str]) -> None:
    """A result line on stdout; a part is text or ``(text, style)``."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    out().print(text)


def info(*parts: str | tuple[str, str]) -> None:
    """Like :func:`line`, on stderr (messages around a result, not the result)."""
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(part[0], style=part[1])
        else:
            text.append(part)
    err().print(text)


def as_json(data: Any) -> None:
    """Plain JSON on stdout, never styled, so ``| jq`` always works."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()
