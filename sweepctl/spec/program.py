"""Does the sweep's ``program:`` exist where agents will run it? Checked at ``create``.

An agent runs ``program`` from its working directory, as W&B's agent does, so ``create``
checks it from the directory it runs in. A store that only agents on this machine use (a
SQLite file) makes a missing program an error: nothing is stored and the person fixes the
name now, not at ``agent``. A shared store (PostgreSQL) or W&B's controller makes it a
warning, since agents on other machines may have the file where this one does not.
"""

from __future__ import annotations

from pathlib import Path

from sweepctl.errors import Problem
from sweepctl.spec.loader import KeyPath
from sweepctl.spec.model import SweepSpec
from sweepctl.spec.suggest import closest


def program_problem(
    spec: SweepSpec, lines: dict[KeyPath, int], cwd: Path, *, shared: bool
) -> Problem | None:
    """An error (a warning for a ``shared`` store) when ``program`` is not found from
    ``cwd``, with a did-you-mean against the files beside where it should be; else None."""
    program = spec.program
    if not program:
        return None  # a sweep for function agents, or a command that needs no program
    path = cwd / program
    if path.is_file():
        return None
    folder = path.parent
    beside = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    guess = closest(path.name, beside)
    hints = []
    if guess:
        hints.append(f"did you mean '{Path(program).parent / guess}'?".replace("'./", "'"))
    source = Path(spec.source) if spec.source and not spec.source.startswith("<") else None
    if source is not None and (source.parent / program).is_file() and source.parent != cwd:
        hints.append(
            f"it is beside the sweep file ({source.parent / program}): agents run the program "
            "from their working directory, so run from there, or give the path from here"
        )
    if shared:
        hints.append("agents on other machines may have it; checked here only")
    elif not hints:
        hints.append("agents run it from their working directory: create the sweep from there")
    return Problem(
        "warning" if shared else "error",
        f"{program!r} not found in {cwd}",
        line=lines.get(("program",)),
        path="program",
        hint="; ".join(hints) + ("" if shared else " (or pass --no-check-program)"),
    )
