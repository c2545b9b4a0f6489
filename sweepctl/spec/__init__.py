"""Sweep files: loading with line numbers, the JSON schema, semantic checks, the sweep model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweepctl.errors import InvalidSweepError, Problem, SweepctlError
from sweepctl.spec.checks import check_document
from sweepctl.spec.limits import grid_problem, limits, raise_hint
from sweepctl.spec.loader import Document, check_config_data, load_document
from sweepctl.spec.model import Metric, Param, SweepSpec, build_spec

__all__ = [
    "FileReport",
    "Metric",
    "Param",
    "SweepSpec",
    "build_spec",
    "inspect_config",
    "inspect_file",
    "load_spec",
]


@dataclass
class FileReport:
    """What validation found in one file. ``spec`` is set when the file is valid."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    spec: SweepSpec | None = None
    lines: dict[tuple, int] = field(default_factory=dict)  # key path -> line in the file

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors


def inspect_file(path: str | Path) -> FileReport:
    """Load and check one sweep file; bad input becomes problems, never an exception."""
    source = str(path)
    try:
        doc = load_document(path)
    except SweepctlError as exc:
        # A file that cannot be read at all is one error at the line the reader gave.
        return FileReport(source, [Problem("error", exc.message, line=exc.line, hint=exc.hint)])
    return _checked(doc, source, lines=doc.lines)


def _checked(doc: Document, source: str, lines: dict[tuple, int]) -> FileReport:
    """Every problem of a loaded sweep; its spec when it has none (grids counted against
    their limit without being built)."""
    report = FileReport(source, check_document(doc), lines=lines)
    if report.valid:
        spec = build_spec(doc.data, source=source)
        too_big = grid_problem(spec.params, limits().grid) if spec.method == "grid" else None
        if too_big is None:
            report.spec = spec
        else:
            param, message = too_big
            where = ("parameters", *[p for name in param.path for p in (name, "parameters")][:-1])
            report.problems.append(
                Problem(
                    "error",
                    message + f"; at most {limits().grid} are allowed",
                    line=doc.line_of(where),
                    path=".".join(map(str, where)),
                    hint="use method: random or bayes for a range this wide, or "
                    + raise_hint("grid"),
                )
            )
    return report


def inspect_config(config: Mapping[str, Any], *, source: str = "<dict>") -> FileReport:
    """Check a sweep given as a dict (W&B's Python form): the same checks as a file, each
    problem named by its key path (``parameters.lr.min``) instead of a line."""
    try:
        data = check_config_data(config, source)
    except SweepctlError as exc:
        return FileReport(source, [Problem("error", exc.message, hint=exc.hint)])
    return _checked(Document(data=data, source=source), source, lines={})


def load_spec(path: str | Path) -> tuple[SweepSpec, list[Problem]]:
    """A valid sweep file's spec and its warnings; raises :class:`InvalidSweepError`."""
    report = inspect_file(path)
    if report.spec is None:
        raise InvalidSweepError(report.source, report.problems)
    return report.spec, report.warnings
