"""The ``command`` list: items W&B's agent can run, and macros it will really expand."""

from __future__ import annotations

import re

from sweepctl.spec.findings import Findings, describe
from sweepctl.spec.suggest import closest

# Macros the W&B agent expands when they stand alone as a command item.
MACROS = (
    "env",
    "interpreter",
    "program",
    "args",
    "args_no_hyphens",
    "args_no_equals",
    "args_no_boolean_flags",
    "args_append_hydra",
    "args_override_hydra",
    "args_json",
    "args_json_file",
    "args_dict",
)
_ENVVAR_MACRO = re.compile(r"^envvar:[A-Z0-9_]*$")
_ENVVAR_NAME = re.compile(r"\$\{envvar:([A-Z0-9_]+)\}")  # what the agent substitutes
_MACRO_TOKEN = re.compile(r"\$\{([^}]*)\}")


def check_command(found: Findings, data: dict) -> None:
    """Warn about macros W&B's agent would drop or pass literally; ``${program}`` needs one."""
    command = data.get("command")
    if not isinstance(command, list):
        return
    uses_program = False
    for index, item in enumerate(command):
        token = str(item)
        path = ("command", index)
        if isinstance(item, (dict, list)):
            found.error(
                path,
                f"a command item must be a string, found {describe(item)}",
                hint='quote the item: `- "${env}"`',
            )
            continue
        for name in _ENVVAR_NAME.findall(token):
            found.warning(
                path,
                f"${{envvar:{name}}} puts the value of ${name} into the run's command line, "
                "which every user of this machine can read (`ps`, /proc/<pid>/cmdline)",
                hint=f"for a secret, read os.environ[{name!r}] in the program instead: the "
                "runs inherit the agent's environment",
            )
        if token.startswith("${") and token.endswith("}"):
            name = token[2:-1]
            if name == "program":
                uses_program = True
            if name in MACROS or _ENVVAR_MACRO.match(name):
                continue
            suggestion = closest(name, MACROS)
            if name.startswith("envvar:"):
                message = (
                    f"{token}: ${{envvar:NAME}} needs an upper-case NAME; W&B's agent "
                    "silently drops this item"
                )
            else:
                message = f"unknown macro {token}: W&B's agent silently drops it, as sweepctl does"
            known = ", ".join("${" + m + "}" for m in MACROS)
            found.warning(
                path,
                message,
                hint=f"did you mean ${{{suggestion}}}?"
                if suggestion
                else f"known macros: {known} and ${{envvar:NAME}}",
            )
        elif "${" in token:
            for name in _MACRO_TOKEN.findall(token):
                if name.startswith("envvar:"):
                    continue
                found.warning(
                    path,
                    f"{token!r} is passed literally: W&B expands ${{{name}}} only "
                    "when it is a whole command item",
                    hint="put the macro on its own line",
                )
                break
    if uses_program and not isinstance(data.get("program"), str):
        found.error(
            ("command",),
            "the command uses ${program} but the file has no `program:`",
            hint="add `program: train.py` (the script to run)",
        )
