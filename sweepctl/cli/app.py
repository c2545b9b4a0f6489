"""The Typer app, the options several commands share, and how a command ends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sweepctl import __version__
from sweepctl.errors import EXIT_OK
from sweepctl.lazy import lazy_import

api = lazy_import("sweepctl.api")  # loaded on first use: `--help` prints before it
render = lazy_import("sweepctl.render")
progress = lazy_import("sweepctl.progress")
slurm_types = lazy_import("sweepctl.agent.slurm")

app = typer.Typer(
    name="sweepctl",
    no_args_is_help=True,
    add_completion=False,
    suggest_commands=False,  # click itself says "Did you mean ...?"; typer would say it again
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: quick, and clean in a pipe or a narrow terminal
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"sweepctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Run W&B sweep files anywhere: validate, create, run agents, read results."""


StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Store URL: sqlite:///path.db, postgresql://user@host/db, or a file path. "
        "Default: $SWEEPCTL_STORAGE, else the nearest .sweepctl/sweepctl.db.",
        show_default=False,
    ),
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for programs.")]

FilesOpt = Annotated[
    Path | None,
    typer.Option("--files", help="Folder for run files (logs, metrics); shared by every agent."),
]

SweepArg = Annotated[
    str,
    typer.Argument(
        help="Sweep id (or a unique prefix, or its name); entity/project/id for a W&B sweep."
    ),
]


def control(sweep: str, action: str, storage: str | None) -> None:
    """Stop, cancel, pause or resume a sweep, and say what changed."""
    render.line(api.control(sweep, action, storage=storage).message)


def end_with(code: int) -> None:
    """End with a result's exit code (errors and Ctrl-C are mapped in :func:`main`)."""
    if code != EXIT_OK:
        raise typer.Exit(code)
