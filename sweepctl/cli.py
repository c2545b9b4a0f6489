"""The command line: parse options, call :mod:`sweepctl.api`, render. No behaviour lives here."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import typer

from sweepctl import __version__
from sweepctl.errors import EXIT_INTERRUPTED, EXIT_UNEXPECTED, EXIT_USAGE, SweepctlError

app = typer.Typer(
    name="sweepctl",
    help="Run W&B sweep files anywhere: validate, create, run agents, read results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: quick to print, and clean in a pipe or a narrow terminal.
    rich_markup_mode=None,
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


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Sweep files (YAML or JSON).", metavar="FILE...", show_default=False),
    ],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per file.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
) -> None:
    """Check sweep files against W&B's rules; report every problem with file:line."""
    from sweepctl import api, render

    reports = api.validate(files)
    failed = [r for r in reports if not r.valid or (strict and r.warnings)]
    if json_out:
        render.as_json(
            [
                {
                    "file": r.source,
                    "valid": r.valid and not (strict and r.warnings),
                    "errors": [p.to_json() for p in r.errors],
                    "warnings": [p.to_json() for p in r.warnings],
                }
                for r in reports
            ]
        )
    else:
        for report in reports:
            render.problems(report.source, report.problems)
        for report in reports:
            render.line(*_verdict(report, strict))
        if len(reports) > 1:
            render.line(
                f"{len(reports)} files: {len(reports) - len(failed)} valid, {len(failed)} invalid"
            )
    if failed:
        raise typer.Exit(EXIT_USAGE)


def _verdict(report, strict: bool) -> list:
    counts = []
    for what, items in (("error", report.errors), ("warning", report.warnings)):
        if items:
            counts.append(f"{len(items)} {what}{'s' if len(items) != 1 else ''}")
    if report.valid and not (strict and report.warnings):
        spec = report.spec
        detail = (
            f"{spec.method}, {len(spec.params)} parameter{'s' if len(spec.params) != 1 else ''}"
        )
        if counts:
            detail += ", " + ", ".join(counts)
        return [("valid ", "bold green"), report.source, (f"  ({detail})", "dim")]
    return [("invalid ", "bold red"), report.source, (f"  ({', '.join(counts)})", "dim")]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: turns every failure into a message and an exit code."""
    import click

    command = typer.main.get_command(app)
    try:
        # Without standalone mode, click returns the exit code of `typer.Exit` instead of raising.
        code = command.main(args=argv, prog_name="sweepctl", standalone_mode=False)
    except SweepctlError as exc:
        from sweepctl import render

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
    except Exception:  # the last line of defence: a log file, not a traceback
        fd, log_path = tempfile.mkstemp(prefix="sweepctl-crash-", suffix=".log")
        with os.fdopen(fd, "w") as log:
            traceback.print_exc(file=log)
        sys.stderr.write(
            f"error: sweepctl failed unexpectedly ({sys.exc_info()[1]!r}).\n"
            f"  The traceback is in {log_path}; please include it in a bug report.\n"
        )
        sys.exit(EXIT_UNEXPECTED)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
