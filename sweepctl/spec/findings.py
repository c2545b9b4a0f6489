"""The problems found in one sweep file so far, each placed at its line and key path.

Every check module writes into one :class:`Findings`; it also words the values a message
quotes, so that all of them describe a found value the same way.
"""

from __future__ import annotations

from typing import Any

from sweepctl.errors import Problem
from sweepctl.spec.loader import Document, KeyPath, format_path


class Findings:
    """The document being checked and what the checks have reported on it."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = list(doc.problems)

    def add(self, severity: str, path: KeyPath, message: str, hint: str | None = None) -> None:
        """Record a problem at ``path``, on the line where that key was written."""
        self.problems.append(
            Problem(
                severity, message, line=self.doc.line_of(path), path=format_path(path), hint=hint
            )
        )

    def error(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        """Record an error at ``path``."""
        self.add("error", path, message, hint)

    def warning(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        """Record a warning at ``path``."""
        self.add("warning", path, message, hint)

    def in_line_order(self) -> list[Problem]:
        """Every problem by line, errors before warnings on the same line."""
        return sorted(self.problems, key=lambda p: (p.line or 0, p.severity != "error"))


def describe(value: Any) -> str:
    """A found value as a message names it: ``the string 'x'``, ``a list``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
