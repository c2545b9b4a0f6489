"""Errors a person can act on.

Library code raises :class:`SweepctlError` (or a subclass); only ``sweepctl.cli`` turns one into a
message on stderr and an exit code. Validation problems are collected as :class:`Problem`
values, so a file's every problem can be reported at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Exit codes, shared by every command.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_UNEXPECTED = 3
EXIT_INTERRUPTED = 130


class SweepctlError(Exception):
    """A failure with a message for a person, an optional file:line, a hint and an exit code."""

    exit_code = EXIT_FAILURE

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        hint: str | None = None,
        exit_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def location(self) -> str | None:
        """``file:line``, ``file``, or None."""
        if self.path is None:
            return None
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.message}" if where else self.message


class UsageError(SweepctlError):
    """Bad input from the user: a file that cannot be read, an unknown id, a bad option."""

    exit_code = EXIT_USAGE


class StoreGoneError(SweepctlError):
    """The store's file was deleted or replaced while in use: nothing more can be saved there,
    and waiting will not bring it back."""


class DiskFull(SweepctlError):
    """The disk holding the store or a run's files has no room left: nothing more can be
    recorded there until space is freed."""


class InvalidSweepError(UsageError):
    """A sweep file with at least one error; carries every problem found."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.severity == "error"]
        first = errors[0] if errors else None
        count = len(errors)
        what = "sweep config" if path.startswith("<") else "sweep file"  # "<dict>": no file
        super().__init__(
            f"{count} error{'s' if count != 1 else ''} in {what}",
            path=path,
            line=first.line if first else None,
        )
        self.problems = problems

    def __str__(self) -> str:
        """Every error, each with its line or key path and hint: what a Python caller sees."""
        lines = [super().__str__()]
        for p in self.problems:
            if p.severity != "error":
                continue
            where = f"line {p.line}" if p.line else ""
            where = ", ".join(w for w in (where, p.path) if w)
            text = f"  {where}: {p.message}" if where else f"  {p.message}"
            lines.append(text + (f" ({p.hint})" if p.hint else ""))
        return "\n".join(lines)


@dataclass(frozen=True)
class Problem:
    """One error or warning about a sweep file."""

    severity: str  # "error" or "warning"
    message: str
    line: int | None = None
    path: str = ""  # key path inside the file, e.g. "parameters.lr.distribution"
    hint: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        del data["severity"]
        return data


def crash_log() -> str:
    """Write the traceback of the exception being handled to a new file; its path.

    For failures that are sweepctl's bug, not the user's input: the user gets a short
    message and this file for the report, never a traceback on the terminal.
    """
    import os  # here, not at the top: errors.py is on every command's start-up path
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="sweepctl-crash-", suffix=".log")
    with os.fdopen(fd, "w") as log:
        traceback.print_exc(file=log)
    return path
