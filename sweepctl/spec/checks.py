"""Every problem of a sweep file at once: the JSON schema, then the rules it cannot express.

The schema (``schema.json``) is the single statement of which shapes are valid. Its
``parameter`` definition is an ``anyOf`` over the shapes, which makes a poor error message,
so each parameter is checked against the one shape its keys ask for, and the message says
what that shape expected and what was found.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from functools import cache
from importlib import resources
from typing import Any

from sweepctl.errors import Problem
from sweepctl.spec.loader import Document, KeyPath, format_path

METHODS = ("grid", "random", "bayes")
GRID_DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "q_uniform")
DEPRECATED = {
    "log_uniform": "log_uniform_values",
    "q_log_uniform": "q_log_uniform_values",
    "inv_log_uniform": "inv_log_uniform_values",
}
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
_MACRO_TOKEN = re.compile(r"\$\{([^}]*)\}")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_TEMPLATE = re.compile(r"\$\{(oc\.|now:|hydra:)|\{\{.*\}\}")
_LAUNCH_KEYS = ("job", "resource", "num_workers", "settings", "docker_image", "resource_args")
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
    import jsonschema

    # W&B's schema wants real integers where it says integer: `min: 2.0` is not an int_uniform
    # bound, although draft-07 would accept 2.0 as an integer.
    def is_integer(_checker: Any, instance: Any) -> bool:
        return isinstance(instance, int) and not isinstance(instance, bool)

    checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", is_integer)
    return jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)


@cache
def _validator(definition: str | None = None) -> Any:
    root = schema()
    sub = (
        root
        if definition is None
        else {**root["definitions"][definition], "definitions": root["definitions"]}
    )
    return _validator_class()(sub)


def closest(word: Any, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice ``word`` most likely misspells, or None."""
    if not isinstance(word, str) or not choices:
        return None
    lowered = word.lower()

    def score(choice: str) -> float:
        # Similarity, nudged towards choices that start the same way: people mistype the
        # end of a name (`log_uniformm`) more often than its start.
        prefix = next(
            (i for i, (a, b) in enumerate(zip(lowered, choice.lower(), strict=False)) if a != b),
            min(len(lowered), len(choice)),
        )
        ratio = difflib.SequenceMatcher(None, lowered, choice.lower()).ratio()
        return ratio + 0.15 * prefix / max(len(word), 1)

    best = max(choices, key=score)
    return best if score(best) >= 0.65 else None


def did_you_mean(word: Any, choices: list[str] | tuple[str, ...]) -> str | None:
    """``did you mean 'x'?`` for the closest choice, or None."""
    match = closest(word, choices)
    return f"did you mean '{match}'?" if match else None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "array": "a list",
    "object": "a mapping",
    "boolean": "true or false",
}


class _Checker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = list(doc.problems)

    # -- reporting -------------------------------------------------------------------------
    def add(self, severity: str, path: KeyPath, message: str, hint: str | None = None) -> None:
        self.problems.append(
            Problem(
                severity, message, line=self.doc.line_of(path), path=format_path(path), hint=hint
            )
        )

    def error(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        self.add("error", path, message, hint)

    def warning(self, path: KeyPath, message: str, hint: str | None = None) -> None:
        self.add("warning", path, message, hint)

    def schema_errors(
        self, validator: Any, instance: Any, base: KeyPath, skip: KeyPath | None
    ) -> None:
        """Report what the schema says about ``instance``, except at or inside ``skip``."""
        for err in sorted(
            validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))
        ):
            rel = tuple(err.absolute_path)
            if skip is not None and rel[: len(skip)] == skip:
                continue
            self.schema_error(err, (*base, *rel))

    def schema_error(self, err: Any, path: KeyPath) -> None:
        kind, instance, spec = err.validator, err.instance, err.validator_value
        if kind == "additionalProperties":
            allowed = list(err.schema.get("properties", {}))
            for key in instance:
                if key not in allowed:
                    self.unknown_key((*path, key), key, allowed, instance)
        elif kind == "required":
            missing = re.search(r"'([^']+)' is a required property", err.message)
            name = missing.group(1) if missing else err.message
            self.error(
                path,
                f"missing required key '{name}'" + (f" in {format_path(path)}" if path else ""),
                hint=_missing_hint(name),
            )
        elif kind == "enum":
            choices = [str(c) for c in spec]
            self.error(
                path,
                f"expected one of {', '.join(choices)}; found {_describe(instance)}",
                hint=did_you_mean(instance, choices),
            )
        elif kind == "type":
            want = _TYPE_WORDS.get(spec, str(spec))
            hint = None
            if path == ("command",) and isinstance(instance, str):
                hint = "write the command as a YAML list, one argv item per line: `- ${env}`"
            elif spec == "integer" and isinstance(instance, float) and instance.is_integer():
                hint = f"write {int(instance)} (no decimal point)"
            self.error(path, f"expected {want}, found {_describe(instance)}", hint=hint)
        elif kind in ("minimum", "exclusiveMinimum"):
            op = ">=" if kind == "minimum" else ">"
            self.error(path, f"must be {op} {spec}, found {instance!r}")
        elif kind in ("minItems", "minProperties"):
            self.error(path, "must not be empty")
        elif kind == "anyOf" and path == ("early_terminate",):
            self.error(
                path,
                "hyperband needs `min_iter`, or `max_iter` together with `s`",
                hint="e.g. `early_terminate: {type: hyperband, min_iter: 3}`",
            )
        else:
            self.error(path, err.message)

    def unknown_key(self, path: KeyPath, key: Any, allowed: list[str], container: dict) -> None:
        where = format_path(path[:-1]) or "the top level"
        hint = did_you_mean(key, allowed)
        if not hint and len(path) == 1:
            hint = _TOP_LEVEL_HINTS.get(key)
            if hint is None:
                hint = "sweepctl's own options go under `sweepctl:`; other keys are rejected by W&B"
        self.error(path, f"unknown key {key!r} in {where}", hint=hint)

    # -- the file --------------------------------------------------------------------------
    def run(self) -> list[Problem]:
        data = self.doc.data
        if self.not_a_sweep(data):
            return self.done()
        # Parameters get their own shape-by-shape check; skip the schema's anyOf noise there.
        params_checked = isinstance(data.get("parameters"), dict)
        self.schema_errors(_validator(), data, (), skip=("parameters",) if params_checked else None)
        params = data.get("parameters")
        if isinstance(params, dict):
            self.check_parameters(
                params, ("parameters",), top_level=True, method=data.get("method")
            )
        elif "parameters" not in data and not (
            isinstance(data.get("scheduler"), dict) and "search_space" in data["scheduler"]
        ):
            self.error((), "missing required key 'parameters'", hint=_missing_hint("parameters"))
        self.check_method(data)
        self.check_command(data)
        self.check_options(data)
        self.check_templated(data)
        return self.done()

    def done(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.line or 0, p.severity != "error"))

    def not_a_sweep(self, data: dict) -> bool:
        """Wrapped configs and W&B Launch blocks: one clear message instead of a dozen."""
        if "method" not in data and "parameters" not in data:
            for key, value in data.items():
                inner = _find_sweep(value, (key,))
                if inner is not None:
                    shown = ".".join(map(str, inner))
                    self.error(
                        inner,
                        f"the sweep config sits under `{shown}:`, not at the top level",
                        hint=f"move the keys under `{shown}:` to the top level of their own file",
                    )
                    return True
        scheduler = data.get("scheduler")
        if isinstance(scheduler, dict) and (
            any(k in scheduler for k in _LAUNCH_KEYS) or "engine" not in scheduler
        ):
            self.error(
                ("scheduler",),
                "`scheduler:` here is a W&B Launch block, run by "
                "`wandb launch-sweep`; sweepctl runs the sweep itself",
                hint="remove the `scheduler:` block (and `job:`); start runs with "
                "`sweepctl agent ID --workers N`",
            )
            return True
        return False

    def check_method(self, data: dict) -> None:
        method = data.get("method")
        if method == "custom" or isinstance(data.get("scheduler"), dict):
            self.error(
                ("method",) if method == "custom" else ("scheduler",),
                "custom schedulers (`method: custom`, `scheduler:`) run on W&B Launch only",
                hint="use method grid, random or bayes",
            )
        if "metrics" in data:
            self.error(
                ("metrics",),
                "multi-objective `metrics:` works only with W&B's custom schedulers",
                hint="optimise one `metric:` with name and goal",
            )
        has_metric = isinstance(data.get("metric"), dict)
        if method == "bayes" and not has_metric:
            self.error(
                ("method",),
                "bayes search needs a `metric` to optimise",
                hint="add `metric: {name: val_loss, goal: minimize}`",
            )
        if "early_terminate" in data and not has_metric:
            self.error(
                ("early_terminate",),
                "early termination needs a `metric` to compare runs on",
                hint="add `metric: {name: val_loss, goal: minimize}`",
            )
        early = data.get("early_terminate")
        if isinstance(early, dict) and not any(
            p.path.startswith("early_terminate") and p.severity == "error" for p in self.problems
        ):
            from sweepctl.stopping.hyperband import bands

            if "min_iter" in early and "max_iter" in early:
                self.warning(
                    ("early_terminate", "min_iter"),
                    "both min_iter and max_iter are given: W&B uses max_iter (with s) and "
                    "ignores min_iter",
                    hint="keep one of the two forms",
                )
            try:
                bands({"eta": 3, "strict": True, **early})
            except (ValueError, TypeError, OverflowError) as exc:
                # Files W&B's schema accepts but its hyperband code then crashes on.
                self.error(("early_terminate",), str(exc))
        for key in ("job", "image_uri"):
            if key in data and isinstance(data[key], str):
                self.warning((key,), f"`{key}` is for W&B Launch; sweepctl ignores it")

    def check_options(self, data: dict) -> None:
        """The `sweepctl:` block's durations must be readable ones."""
        options = data.get("sweepctl")
        if not isinstance(options, dict):
            return
        from sweepctl.duration import parse_duration
        from sweepctl.errors import UsageError

        for key in ("timeout", "heartbeat_timeout"):
            value = options.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                try:
                    parse_duration(value, what=f"sweepctl.{key}")
                except UsageError as exc:
                    self.error(("sweepctl", key), exc.message, hint=exc.hint)

    def check_command(self, data: dict) -> None:
        command = data.get("command")
        if not isinstance(command, list):
            return
        uses_program = False
        for index, item in enumerate(command):
            token = str(item)
            path = ("command", index)
            if isinstance(item, (dict, list)):
                self.error(
                    path,
                    f"a command item must be a string, found {_describe(item)}",
                    hint='quote the item: `- "${env}"`',
                )
                continue
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
                    message = (
                        f"unknown macro {token}: W&B's agent silently drops it, as sweepctl does"
                    )
                known = ", ".join("${" + m + "}" for m in MACROS)
                self.warning(
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
                    self.warning(
                        path,
                        f"{token!r} is passed literally: W&B expands ${{{name}}} only "
                        "when it is a whole command item",
                        hint="put the macro on its own line",
                    )
                    break
        if uses_program and not isinstance(data.get("program"), str):
            self.error(
                ("command",),
                "the command uses ${program} but the file has no `program:`",
                hint="add `program: train.py` (the script to run)",
            )

    def check_templated(self, data: dict) -> None:
        if not any(p.severity == "error" for p in self.problems):
            return
        for path, value in _leaves(data, ()):
            if path[:1] == ("command",):
                continue
            if isinstance(value, str) and _TEMPLATE.search(value):
                self.error(
                    path,
                    f"{value!r} is a template placeholder, not a value",
                    hint="render the file first (Hydra/OmegaConf/Jinja), then validate the result",
                )
                return
        if "defaults" in data:
            self.error(
                ("defaults",),
                "`defaults:` is Hydra composition, not a sweep key",
                hint="compose the config first, then validate the result",
            )

    # -- parameters ------------------------------------------------------------------------
    def check_parameters(
        self, params: dict, path: KeyPath, *, top_level: bool, method: Any
    ) -> None:
        if not params:
            self.error(path, "`parameters` must not be empty", hint="add at least one parameter")
        for name, spec in params.items():
            p = (*path, name)
            if not isinstance(name, str):
                written = self.doc.odd_keys.get(p, str(name))
                self.error(
                    p,
                    f"parameter name {written!r} is read as {_describe(name)} (YAML 1.1)",
                    hint=f"quote it: '{written}':",
                )
            elif not _PARAM_NAME.match(name):
                self.error(
                    p,
                    f"parameter name {name!r} is not allowed: a name starts with a letter "
                    "or _ and holds only letters, digits, _ . -",
                )
            if not isinstance(spec, dict):
                shown = _inline(spec)
                self.error(
                    p,
                    f"parameter {name!r} must be a mapping, found {_describe(spec)}",
                    hint=f"write `{name}: {{value: {shown}}}` for a constant, or "
                    f"`{name}: {{values: [...]}}` to search over a list",
                )
                continue
            self.check_parameter(spec, p, top_level=top_level, method=method)

    def check_parameter(self, spec: dict, path: KeyPath, *, top_level: bool, method: Any) -> None:
        name = path[-1]
        shape = self.shape_of(spec, path, top_level)
        if shape is None:
            return
        if shape == "dict":
            extra = [k for k in spec if k != "parameters"]
            for key in extra:
                self.error(
                    (*path, key),
                    f"unknown key {key!r} next to `parameters:` in a nested block",
                    hint="a nested block holds only `parameters:`",
                )
            inner = spec["parameters"]
            if isinstance(inner, dict):
                self.check_parameters(inner, (*path, "parameters"), top_level=False, method=method)
            else:
                self.error(
                    (*path, "parameters"),
                    f"expected a mapping of parameters, found {_describe(inner)}",
                )
            return
        before = len(self.problems)
        filled = {**spec, "distribution": shape}
        for err in sorted(
            _validator(f"param_{shape}").iter_errors(filled), key=lambda e: str(e.absolute_path)
        ):
            rel = tuple(err.absolute_path)
            if err.validator == "additionalProperties":
                allowed = list(err.schema.get("properties", {}))
                for key in spec:
                    if key not in allowed:
                        self.parameter_extra_key(spec, (*path, key), key, shape, allowed)
            else:
                self.schema_error(err, (*path, *rel))
        if len(self.problems) > before:
            return
        self.parameter_rules(spec, path, shape, top_level)
        if method == "grid" and shape not in GRID_DISTRIBUTIONS:
            self.error(
                path,
                f"grid search cannot enumerate {name!r} (distribution {shape})",
                hint="give it `values: [...]`, or use int_uniform or q_uniform; or choose "
                "method random or bayes",
            )

    def shape_of(self, spec: dict, path: KeyPath, top_level: bool) -> str | None:
        """The distribution a parameter asks for, filled in as W&B fills it."""
        if "parameters" in spec:
            return "dict"
        known = [
            d.removeprefix("param_") for d in schema()["definitions"] if d.startswith("param_")
        ]
        known.remove("dict")
        if "distribution" in spec:
            dist = spec["distribution"]
            if dist not in known:
                self.error(
                    (*path, "distribution"),
                    f"unknown distribution {dist!r}",
                    hint=did_you_mean(dist, [k for k in known if k not in DEPRECATED])
                    or did_you_mean(dist, known)
                    or f"one of: {', '.join(known)}",
                )
                return None
            if dist in DEPRECATED:
                self.deprecation(spec, path, dist)
            return dist
        if "value" in spec:
            if "values" in spec:
                self.error(
                    path,
                    "a parameter has either `value` (a constant) or `values` (a list), not both",
                )
                return None
            return "constant"
        if "values" in spec:
            return "categorical_w_probabilities" if "probabilities" in spec else "categorical"
        if "min" in spec and "max" in spec:
            return self.infer_min_max(spec, path, top_level)
        if "min" in spec or "max" in spec:
            self.error(path, "a range needs both `min` and `max`")
            return None
        if any(k in spec for k in ("mu", "sigma", "a", "b", "q")):
            self.error(
                path,
                "this parameter needs a `distribution:`",
                hint="e.g. normal (mu, sigma), beta (a, b), q_uniform (min, max, q)",
            )
            return None
        keys = ", ".join(map(str, spec)) or "nothing"
        self.error(
            path,
            f"parameter {path[-1]!r} has {keys}, which describes no distribution",
            hint=did_you_mean(
                next(iter(spec), None), ["value", "values", "distribution", "parameters"]
            )
            or "give `value:`, `values: [...]`, `min:`/`max:`, or `parameters:` for a nested block",
        )
        return None

    def infer_min_max(self, spec: dict, path: KeyPath, top_level: bool) -> str | None:
        lo, hi = spec["min"], spec["max"]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi))
        if not numbers:
            bad = "min" if not isinstance(lo, (int, float)) or isinstance(lo, bool) else "max"
            self.error((*path, bad), f"expected a number, found {_describe(spec[bad])}")
            return None
        ints = [isinstance(v, int) for v in (lo, hi)]
        if all(ints):
            return "int_uniform"
        if any(ints) and top_level:
            name = path[-1]
            self.error(
                path,
                f"parameter {name!r} is ambiguous: min {lo!r} and max {hi!r} mix an "
                "integer and a float (W&B rejects this too)",
                hint="write both as floats (e.g. `1.0`) for uniform, both as integers for "
                "int_uniform, or name the `distribution:`",
            )
            return None
        return "uniform"

    def deprecation(self, spec: dict, path: KeyPath, dist: str) -> None:
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
        self.warning(
            (*path, "distribution"),
            f"{dist} is deprecated: min and max are exponents of e, the value is {sem}{detail}; "
            "W&B's own validator rejects it",
            hint=f"use `distribution: {newer}` with min/max as the values themselves",
        )

    def parameter_extra_key(
        self, spec: dict, path: KeyPath, key: Any, shape: str, allowed: list[str]
    ) -> None:
        value = spec[key]
        if isinstance(value, dict) and any(
            k in value for k in ("value", "values", "distribution", "min", "parameters")
        ):
            self.error(
                path,
                f"{key!r} looks like a parameter indented one level too deep, inside "
                f"{format_path(path[:-1])}",
                hint=f"move `{key}:` left so it lines up with `{path[-2]}:`",
            )
            return
        if key == "values" or (key in ("min", "max") and shape.startswith("categorical")):
            self.error(
                path,
                f"`{key}` does not go with distribution {shape}: a parameter is either "
                "a list of `values` or a distribution over a range",
                hint="keep `values` and drop `distribution`/`min`/`max`, or the reverse",
            )
            return
        self.error(
            path,
            f"unknown key {key!r} for distribution {shape}",
            hint=did_you_mean(key, allowed) or f"{shape} takes: {', '.join(a for a in allowed)}",
        )

    def parameter_rules(self, spec: dict, path: KeyPath, shape: str, top_level: bool) -> None:
        if "min" in spec and "max" in spec and not spec["min"] < spec["max"]:
            self.error((*path, "min"), f"min {spec['min']!r} must be less than max {spec['max']!r}")
        if shape == "categorical_w_probabilities":
            values, probs = spec["values"], spec["probabilities"]
            if len(values) != len(probs):
                self.error(
                    (*path, "probabilities"),
                    f"{len(probs)} probabilities for {len(values)} values: give one per value",
                )
            else:
                try:
                    total = math.fsum(float(p) for p in probs)
                except OverflowError:
                    total = math.inf
                if not math.isclose(total, 1.0, rel_tol=1e-6, abs_tol=1e-8):
                    self.error((*path, "probabilities"), f"probabilities sum to {total:g}, not 1")
        for key in ("sigma", "a", "b"):
            if spec.get(key) == 0 and shape.removeprefix("q_") in ("normal", "log_normal", "beta"):
                self.warning(
                    (*path, key),
                    f"{key} 0 makes every draw NaN (W&B samples NaN too)",
                    hint=f"give {key} a positive value",
                )
        if shape in ("q_uniform", "q_log_uniform_values") and "q" in spec and "min" in spec:
            span = spec["max"] - spec["min"]
            if isinstance(spec["q"], (int, float)) and spec["q"] > span > 0:
                self.warning(
                    (*path, "q"),
                    f"q {spec['q']!r} is larger than the range {span!r}: "
                    "every draw rounds to one or two values",
                )


def _missing_hint(name: str) -> str | None:
    return {
        "method": "add `method: grid`, `random` or `bayes`",
        "parameters": "add `parameters:` with at least one parameter, "
        "e.g. `lr: {values: [0.1, 0.01]}`",
        "name": "add `name: val_loss` (the key your program logs)",
        "type": "add `type: hyperband`",
    }.get(name)


def _find_sweep(value: Any, path: KeyPath, depth: int = 0) -> KeyPath | None:
    if not isinstance(value, dict) or depth > 3:
        return None
    if "method" in value and "parameters" in value:
        return path
    for key, inner in value.items():
        found = _find_sweep(inner, (*path, key), depth + 1)
        if found is not None:
            return found
    return None


def _inline(value: Any) -> str:
    """A short YAML-ish rendering of a value for a hint; never fails."""
    if isinstance(value, (dict, list)) and len(str(value)) > 60:
        return "..."
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return "..."


def _leaves(value: Any, path: KeyPath, seen: set[int] | None = None):
    """Every scalar with its path; a list or mapping shared through YAML aliases only once."""
    seen = set() if seen is None else seen
    if isinstance(value, (dict, list)):
        if id(value) in seen:
            return
        seen.add(id(value))
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, (*path, key), seen)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _leaves(inner, (*path, index), seen)
    else:
        yield path, value


def check_document(doc: Document) -> list[Problem]:
    """Every error and warning for a loaded sweep file, in line order."""
    return _Checker(doc).run()
