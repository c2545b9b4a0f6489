"""The ``parameters`` block: names, the distribution each parameter asks for, its own rules.

The schema's ``parameter`` definition is an ``anyOf`` over the shapes, which makes a poor error
message, so each parameter is checked against the one shape its keys ask for (filled in as
W&B fills it), and the message says what that shape expected and what was found.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from sweepctl.domain import GRID_DISTRIBUTIONS
from sweepctl.spec.findings import Findings, describe
from sweepctl.spec.loader import KeyPath, format_path
from sweepctl.spec.schema import report_error, schema, validator
from sweepctl.spec.suggest import did_you_mean

DEPRECATED = {
    "log_uniform": "log_uniform_values",
    "q_log_uniform": "q_log_uniform_values",
    "inv_log_uniform": "inv_log_uniform_values",
}
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def check_parameters(
    found: Findings, params: dict, path: KeyPath, *, top_level: bool, method: Any
) -> None:
    """Check every parameter of a ``parameters:`` block, nested blocks included."""
    if not params:
        found.error(path, "`parameters` must not be empty", hint="add at least one parameter")
    for name, spec in params.items():
        p = (*path, name)
        if not isinstance(name, str):
            written = found.doc.odd_keys.get(p, str(name))
            found.error(
                p,
                f"parameter name {written!r} is read as {describe(name)} (YAML 1.1)",
                hint=f"quote it: '{written}':",
            )
        elif not _PARAM_NAME.match(name):
            found.error(
                p,
                f"parameter name {name!r} is not allowed: a name starts with a letter "
                "or _ and holds only letters, digits, _ . -",
            )
        if not isinstance(spec, dict):
            shown = _inline(spec)
            found.error(
                p,
                f"parameter {name!r} must be a mapping, found {describe(spec)}",
                hint=f"write `{name}: {{value: {shown}}}` for a constant, or "
                f"`{name}: {{values: [...]}}` to search over a list",
            )
            continue
        _check_parameter(found, spec, p, top_level=top_level, method=method)


def _check_parameter(
    found: Findings, spec: dict, path: KeyPath, *, top_level: bool, method: Any
) -> None:
    name = path[-1]
    shape = _shape_of(found, spec, path, top_level)
    if shape is None:
        return
    if shape == "dict":
        extra = [k for k in spec if k != "parameters"]
        for key in extra:
            found.error(
                (*path, key),
                f"unknown key {key!r} next to `parameters:` in a nested block",
                hint="a nested block holds only `parameters:`",
            )
        inner = spec["parameters"]
        if isinstance(inner, dict):
            check_parameters(found, inner, (*path, "parameters"), top_level=False, method=method)
        else:
            found.error(
                (*path, "parameters"),
                f"expected a mapping of parameters, found {describe(inner)}",
            )
        return
    before = len(found.problems)
    filled = {**spec, "distribution": shape}
    for err in sorted(
        validator(f"param_{shape}").iter_errors(filled), key=lambda e: str(e.absolute_path)
    ):
        rel = tuple(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = list(err.schema.get("properties", {}))
            for key in spec:
                if key not in allowed:
                    _extra_key(found, spec, (*path, key), key, shape, allowed)
        else:
            report_error(found, err, (*path, *rel))
    if len(found.problems) > before:
        return
    _shape_rules(found, spec, path, shape)
    if method == "grid" and shape not in GRID_DISTRIBUTIONS:
        found.error(
            path,
            f"grid search cannot enumerate {name!r} (distribution {shape})",
            hint="give it `values: [...]`, or use int_uniform or q_uniform; or choose "
            "method random or bayes",
        )


def _shape_of(found: Findings, spec: dict, path: KeyPath, top_level: bool) -> str | None:
    """The distribution a parameter asks for, filled in as W&B fills it."""
    if "parameters" in spec:
        return "dict"
    known = [d.removeprefix("param_") for d in schema()["definitions"] if d.startswith("param_")]
    known.remove("dict")
    if "distribution" in spec:
        dist = spec["distribution"]
        if dist not in known:
            found.error(
                (*path, "distribution"),
                f"unknown distribution {dist!r}",
                hint=did_you_mean(dist, [k for k in known if k not in DEPRECATED])
                or did_you_mean(dist, known)
                or f"one of: {', '.join(known)}",
            )
            return None
        if dist in DEPRECATED:
            _deprecation(found, spec, path, dist)
        return dist
    if "value" in spec:
        if "values" in spec:
            found.error(
                path,
                "a parameter has either `value` (a constant) or `values` (a list), not both",
            )
            return None
        return "constant"
    if "values" in spec:
        return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
    if "min" in spec and "max" in spec:
        return _infer_min_max(found, spec, path, top_level)
    if "min" in spec or "max" in spec:
        found.error(path, "a range needs both `min` and `max`")
        return None
    if any(k in spec for k in ("mu", "sigma", "a", "b", "q")):
        found.error(
            path,
            "this parameter needs a `distribution:`",
            hint="e.g. normal (mu, sigma), beta (a, b), q_uniform (min, max, q)",
        )
        return None
    keys = ", ".join(map(str, spec)) or "nothing"
    found.error(
        path,
        f"parameter {path[-1]!r} has {keys}, which describes no distribution",
        hint=did_you_mean(next(iter(spec), None), ["value", "values", "distribution", "parameters"])
        or "give `value:`, `values: [...]`, `min:`/`max:`, or `parameters:` for a nested block",
    )
    return None


def _infer_min_max(found: Findings, spec: dict, path: KeyPath, top_level: bool) -> str | None:
    lo, hi = spec["min"], spec["max"]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi))
    if not numbers:
        bad = "min" if not isinstance(lo, (int, float)) or isinstance(lo, bool) else "max"
        found.error((*path, bad), f"expected a number, found {describe(spec[bad])}")
        return None
    ints = [isinstance(v, int) for v in (lo, hi)]
    if all(ints):
        return "int_uniform"
    if any(ints) and top_level:
        name = path[-1]
        found.error(
            path,
            f"parameter {name!r} is ambiguous: min {lo!r} and max {hi!r} mix an "
            "integer and a float (W&B rejects this too)",
            hint="write both as floats (e.g. `1.0`) for uniform, both as integers for "
            "int_uniform, or name the `distribution:`",
        )
        return None
    return "uniform"


def _deprecation(found: Findings, spec: dict, path: KeyPath, dist: str) -> None:
    newer = DEPRECATED[dist]
    lo, hi = spec.get("min"), spec.get("max")
    detail = ""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)):
        sign = -1 if dist.startswith("inv") else 1
        try:
            a, b = sorted((math.exp(sign * lo), math.exp(sign * hi)))
            detail = f" (here: values from {a:.3g} to {b:.3g})"
        except OverflowError:
            detail = " (here: values too large for a float)"
    if dist.startswith("inv"):
        sem = "exp(-x) for x uniform in [min, max]"
    else:
        sem = "exp(x) for x uniform in [min, max]"
    found.warning(
        (*path, "distribution"),
        f"{dist} is deprecated: min and max are exponents of e, the value is {sem}{detail}; "
        "W&B's own validator rejects it",
        hint=f"use `distribution: {newer}` with min/max as the values themselves",
    )


def _extra_key(
    found: Findings, spec: dict, path: KeyPath, key: Any, shape: str, allowed: list[str]
) -> None:
    value = spec[key]
    if isinstance(value, dict) and any(
        k in value for k in ("value", "values", "distribution", "min", "parameters")
    ):
        found.error(
            path,
            f"{key!r} looks like a parameter indented one level too deep, inside "
            f"{format_path(path[:-1])}",
            hint=f"move `{key}:` left so it lines up with `{path[-2]}:`",
        )
        return
    if key == "values" or (key in ("min", "max") and shape.startswith("categorical")):
        found.error(
            path,
            f"`{key}` does not go with distribution {shape}: a parameter is either "
            "a list of `values` or a distribution over a range",
            hint="keep `values` and drop `distribution`/`min`/`max`, or the reverse",
        )
        return
    found.error(
        path,
        f"unknown key {key!r} for distribution {shape}",
        hint=did_you_mean(key, allowed) or f"{shape} takes: {', '.join(a for a in allowed)}",
    )


def _shape_rules(found: Findings, spec: dict, path: KeyPath, shape: str) -> None:
    """What the schema cannot say about a parameter whose shape it accepted."""
    for key in ("min", "max", "q", "mu", "sigma", "a", "b"):
        number = spec.get(key)
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            continue
        # inf/nan make every draw nan or inf; an integer past float range overflows there.
        if isinstance(number, float) and not math.isfinite(number):
            found.error((*path, key), f"{key} must be a finite number, found {number!r}")
            return
        if isinstance(number, int) and abs(number) > sys.float_info.max:
            digits = len(str(abs(number)))
            found.error((*path, key), f"{key} is too large for a number ({digits} digits)")
            return
    if "min" in spec and "max" in spec and not spec["min"] < spec["max"]:
        found.error((*path, "min"), f"min {spec['min']!r} must be less than max {spec['max']!r}")
    if shape == "categorical_w_probabilities":
        values, probs = spec["values"], spec["probabilities"]
        if len(values) != len(probs):
            found.error(
                (*path, "probabilities"),
                f"{len(probs)} probabilities for {len(values)} values: give one per value",
            )
        else:
            try:
                total = math.fsum(float(p) for p in probs)
            except OverflowError:
                total = math.inf
            if not math.isclose(total, 1.0, rel_tol=1e-6, abs_tol=1e-8):
                found.error((*path, "probabilities"), f"probabilities sum to {total:g}, not 1")
    for key in ("sigma", "a", "b"):
        if spec.get(key) == 0 and shape.removeprefix("q_") in ("normal", "log_normal", "beta"):
            found.warning(
                (*path, key),
                f"{key} 0 makes every draw NaN (W&B samples NaN too)",
                hint=f"give {key} a positive value",
            )
    if shape in ("q_uniform", "q_log_uniform_values") and "q" in spec and "min" in spec:
        span = spec["max"] - spec["min"]
        if isinstance(spec["q"], (int, float)) and spec["q"] > span > 0:
            found.warning(
                (*path, "q"),
                f"q {spec['q']!r} is larger than the range {span!r}: "
                "every draw rounds to one or two values",
            )


def _inline(value: Any) -> str:
    """A short YAML-ish rendering of a value for a hint; never fails."""
    if isinstance(value, (dict, list)) and len(str(value)) > 60:
        return "..."
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return "..."
