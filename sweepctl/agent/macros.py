"""The child's argv and parameter file, built exactly as W&B's agent builds them.

W&B's agent (``wandb_agent.Agent._command_run`` with ``create_sweep_command`` and
``create_sweep_command_args``, wandb 0.31.0) turns the sweep's ``command`` list and one run's
config into an argv, and writes the config to the YAML file ``WANDB_SWEEP_PARAM_PATH`` names.
Everything here reproduces that output, quirks included, so a program written for ``wandb
agent`` gets the same argv and the same ``wandb.config`` under sweepctl. Reference: sections
7 and 8 of ``reference/wandb-sweeps.md``. This module must not import wandb.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

DEFAULT_COMMAND: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")

# W&B's pattern: upper case, digits and underscores only (the empty name included), so
# `${envvar:home}` is not substituted and then reads as an unknown macro.
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")

_ARGS_JSON_FILE = "${args_json_file}"


def substitute_envvars(token: str, environ: Mapping[str, str]) -> str:
    """Replace every ``${envvar:NAME}`` in a token; an unset NAME becomes the text NAME."""
    return _ENVVAR.sub(lambda m: environ.get(m.group(1), m.group(1)), token)


def args_json(config: Mapping[str, Any]) -> str:
    """The ``${args_json}`` token: ``json.dumps`` of the run config with default settings."""
    # W&B raises TypeError for a value JSON cannot hold (a YAML date, say) and so fails every
    # run of the sweep; writing its str() instead keeps the run going with the same text the
    # other macros show. JSON-able configs, the only kind W&B can run, come out identical.
    return json.dumps(dict(config), default=str)


def needs_args_json_file(
    command: Sequence[Any] | None, *, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether ``${args_json_file}`` is a whole token, the only case W&B writes that file.

    W&B tests the command after ``${envvar:...}`` substitution; pass ``environ`` to do the
    same (it only matters if a variable's value is itself the macro).
    """
    for token in command or DEFAULT_COMMAND:
        # W&B compares list items with ==, so a non-string token never matches.
        if not isinstance(token, str):
            continue
        if environ is not None:
            token = substitute_envvars(token, environ)
        if token == _ARGS_JSON_FILE:
            return True
    return False


def render_command(
    command: Sequence[Any] | None,
    config: Mapping[str, Any],
    *,
    program: str | None,
    environ: Mapping[str, str],
    args_json_file: str | None = None,
) -> list[str]:
    """The child's argv for one run, token for token as W&B's agent builds it.

    ``config`` is the plain run config in render order. ``args_json_file`` is the path
    ``${args_json_file}`` expands to; without it that macro is dropped like an unknown one.
    """
    macros = _macros(config, program=program, args_json_file=args_json_file)
    argv: list[str] = []
    # W&B replaces an empty or missing command by the default (`command or DEFAULT`).
    for raw in command or DEFAULT_COMMAND:
        # Envvars first, then the macro test: a variable whose value is `${args}` expands.
        token = substitute_envvars(str(raw), environ)
        if token.startswith("${") and token.endswith("}"):
            expand = macros.get(token[2:-1])
            # An unknown whole-token macro (`${project}`, `${foo}`, `${}`) silently vanishes.
            if expand is not None:
                argv.extend(expand())
        else:
            # Embedded macros (`--cfg=${args}`) are not expanded: W&B leaves them literal.
            argv.append(token)
    return argv


def write_param_file(path: str | os.PathLike[str], config: Mapping[str, Any]) -> None:
    """Write the ``WANDB_SWEEP_PARAM_PATH`` file byte for byte as W&B's agent writes it."""
    data = b"wandb_version: 1"
    # W&B adds nothing for an empty config (an empty mapping would dump as `{}`).
    if config:
        data += b"\n\n" + yaml.dump(
            {name: {"value": value} for name, value in config.items()},
            Dumper=yaml.SafeDumper,  # not CSafeDumper: the pure dumper is what W&B's bytes are
            default_flow_style=False,
            allow_unicode=True,
            encoding="utf-8",
            sort_keys=False,
        )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Bytes, not text: W&B's text-mode write equals this under a UTF-8 locale, and the file
    # should not change with the locale here.
    target.write_bytes(data)


def _macros(
    config: Mapping[str, Any], *, program: str | None, args_json_file: str | None
) -> dict[str, Callable[[], list[str]]]:
    """Whole-token macro name -> its tokens, computed only when the command uses it."""
    items = list(config.items())
    # W&B formats with f"{name}={value}", i.e. str(value): True, None, 1e-05, {'a': 1}.
    pairs = [(str(name), str(value)) for name, value in items]
    macros: dict[str, Callable[[], list[str]]] = {
        "interpreter": lambda: ["python"],
        # W&B puts the program in as is; None or a number would then crash its agent before the
        # child starts. A string argv needs str(), and callers refuse a missing program first.
        "program": lambda: [str(program)],
        "args": lambda: [f"--{k}={v}" for k, v in pairs],
        "args_no_hyphens": lambda: [f"{k}={v}" for k, v in pairs],
        "args_no_equals": lambda: [token for k, v in pairs for token in (f"--{k}", v)],
        "args_no_boolean_flags": lambda: _no_boolean_flags(items),
        "args_append_hydra": lambda: [f"+{k}={v}" for k, v in pairs],
        "args_override_hydra": lambda: [f"++{k}={v}" for k, v in pairs],
        "args_json": lambda: [args_json(config)],
        # W&B extends the argv with a dict here, which yields its keys: the parameter names.
        "args_dict": lambda: [k for k, _ in pairs],
    }
    # W&B leaves out `/usr/bin/env` on Windows only (platform.system() == "Windows").
    if sys.platform != "win32":
        macros["env"] = lambda: ["/usr/bin/env"]
    if args_json_file is not None:
        macros["args_json_file"] = lambda: [args_json_file]
    return macros


def _no_boolean_flags(items: list[tuple[Any, Any]]) -> list[str]:
    """``${args_no_boolean_flags}``: True -> bare ``--KEY``, False -> nothing, else ``--KEY=V``."""
    tokens = []
    for name, value in items:
        if value is True:
            tokens.append(f"--{name}")
        elif value is not False:
            tokens.append(f"--{name}={value}")
    return tokens
