"""The sweep file JSON schema (``schema.json``) and its errors, worded for a person.

The schema is the single statement of which shapes are valid; jsonschema's own messages
are replaced here by ones that say what was expected, what was found, and what to write.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from sweepctl.spec.findings import Findings, describe
from sweepctl.spec.loader import KeyPath, format_path
from sweepctl.spec.suggest import did_you_mean

_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "boolean": "true or false",
}
_TOP_LEVEL_HINTS = {
    "count": "the number of runs is not part of the file: pass `sweepctl agent ID --count N`, "
    "or set `run_cap:` for the whole sweep",
    "trials": "the number of runs is set with `sweepctl agent ID --count N` or `run_cap:`",
    "seed": "sweepctl's own options go under `sweepctl:`, e.g. `sweepctl: {seed: 1}`",
}


@cache
def schema() -> dict:
    """The sweep file JSON schema shipped with the package."""
    text = resources.files("sweepctl.spec").joinpath("schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator_class() -> Any:
    # Imported here, not at module level: jsonschema is slow to import and `sweepctl --help`
    # never needs it.
    import jsonschema

    # W&B's schema wants real integers where it says integer: `min: 2.0` is not an int_uniform
    # bound, although draft-07 would accept 2.0 as an integer.
    def is_integer(_checker: Any, instance: Any) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", is_integer)
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)


@cache
def validator(definition: str | None = None) -> Any:
    """A validator for the whole file, or for one of the schema's ``definitions``."""
    root = schema()
    sub = (
        root
        if definition is None
        else {**root["definitions"][definition], "definitions": root["definitions"]}
    )
    return _validator_class()(sub)


def missing_hint(name: str) -> str | None:
    """What to add for a missing required key, where there is a usual answer."""
    return {
        "method": "add `method: grid`, `random` or `bayes`",
        "parameters": "add `parameters:` with at least one parameter, "
        "e.g. `lr: {values: [0.1, 0.01]}`",
        "name": "add `name: val_loss` (the key your program logs)",
        "type": "add `type: hyperband`",
    }.get(name)


def report_errors(found: Findings, data: Any, *, skip: KeyPath | None) -> None:
    """Report what the schema says about the whole file, except at or inside ``skip``."""
    for err in sorted(validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        rel = tuple(err.absolute_path)
        if skip is not None and rel[: len(skip)] == skip:
            continue
        report_error(found, err, rel)


def report_error(found: Findings, err: Any, path: KeyPath) -> None:
    """Report one jsonschema error at ``path`` in words, with a hint where one helps."""
    kind, instance, spec = err.validator, err.instance, err.validator_value
    if kind == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                unknown_key(found, (*path, key), key, allowed)
    elif kind == "required":
        missing = re.search(r"'([^']+)' is a required property", err.message)
        name = missing.group(1) if missing else err.message
        found.error(
            path,
            f"missing required key '{name}'" + (f" in {format_path(path)}" if path else ""),
            hint=missing_hint(name),
        )
    elif kind == "enum":
        choices = [str(c) for c in spec]
        found.error(
            path,
            f"expected one of {', '.join(choices)}; found {describe(instance)}",
            hint=did_you_mean(instance, choices),
        )
    elif kind == "type":
        want = _TYPE_WORDS.get(spec, str(spec))
        hint = None
        if path == ("command",) and isinstance(instance, str):
            hint = "write the command as a YAML list, one argv item per line: `- ${env}`"
        elif spec == "integer" and isinstance(instance, float) and instance.is_integer():
            hint = f"write {int(instance)} (no decimal point)"
        found.error(path, f"expected {want}, found {describe(instance)}", hint=hint)
    elif kind in ("minimum", "exclusiveMinimum"):
        op = ">=" if kind == "minimum" else ">"
        found.error(path, f"must be {op} {spec}, found {instance!r}")
    elif kind in ("minItems", "minProperties"):
        found.error(path, "must not be empty")
    elif kind == "anyOf" and path == ("early_terminate",):
        found.error(
            path,
            "hyperband needs `min_iter`, or `max_iter` together with `s`",
            hint="e.g. `early_terminate: {type: hyperband, min_iter: 3}`",
        )
    else:
        found.error(path, err.message)


def unknown_key(found: Findings, path: KeyPath, key: Any, allowed: list[str]) -> None:
    """Report a key the schema does not allow where it stands, with the likely intended one."""
    where = format_path(path[:-1]) or "the top level"
    hint = did_you_mean(key, allowed)
    if not hint and len(path) == 1:
        hint = _TOP_LEVEL_HINTS.get(key)
        if hint is None:
            hint = "sweepctl's own options go under `sweepctl:`; other keys are rejected by W&B"
    found.error(path, f"unknown key {key!r} in {where}", hint=hint)
