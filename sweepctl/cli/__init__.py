"""The command line: parse options, call :mod:`sweepctl.api`, render. No behaviour lives here.

Commands are registered on one Typer app (:mod:`sweepctl.cli.app`) by the modules that define
them, imported here in the order ``--help`` lists them."""

from __future__ import annotations

import os
import sys

import click
import typer

# isort: off
# Importing these registers their commands, in this order in `--help`.
from sweepctl.cli import sweeps, running, results  # noqa: F401

# isort: on
from sweepctl.cli.app import app, render
from sweepctl.errors import (
    EXIT_INTERRUPTED,
    EXIT_UNEXPECTED,
    InvalidSweepError,
    SweepctlError,
    crash_log,
)

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turns every failure into a message and an exit code."""
    command = typer.main.get_command(app)
    try:
        # Without standalone mode, click returns the exit code of `typer.Exit` instead of raising.
        code = command.main(args=argv, prog_name="sweepctl", standalone_mode=False)
    except InvalidSweepError as exc:
        render.invalid_sweep(exc)
        sys.exit(exc.exit_code)
    except SweepctlError as exc:
        render.error(exc)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.stderr.write("interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `sweepctl runs ID | head`: the reader went away; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except Exception as exc:  # the last line of defence: a log file, not a traceback
        render.crash(exc, crash_log())
        sys.exit(EXIT_UNEXPECTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
