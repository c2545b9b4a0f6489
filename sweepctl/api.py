"""The library behind every command. The CLI is a thin layer over these functions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sweepctl.spec import FileReport, inspect_file


def validate(files: Iterable[str | Path]) -> list[FileReport]:
    """Check each sweep file; every problem is reported, none raised."""
    return [inspect_file(f) for f in files]
