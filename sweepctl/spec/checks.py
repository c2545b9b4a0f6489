"""Every problem of a sweep file at once: the JSON schema, then the rules it cannot express.

This module walks the file as a whole (what it is, its method, metric, early termination, the
``sweepctl:`` block) and hands the ``parameters`` block to :mod:`sweepctl.spec.params` and the
``command`` list to :mod:`sweepctl.spec.command`; all of them report into one
:class:`~sweepctl.spec.findings.Findings`.
"""

from __future__ import annotations

import re
from typing import Any

from sweepctl.domain import METHODS
from sweepctl.duration import parse_duration
from sweepctl.errors import Problem, UsageError
from sweepctl.spec.command import MACROS, check_command
from sweepctl.spec.early_terminate import bands
from sweepctl.spec.findings import Findings
from sweepctl.spec.limits import limits, long_values_lists, raise_hint
from sweepctl.spec.loader import Document, KeyPath
from sweepctl.spec.params import DEPRECATED, GRID_DISTRIBUTIONS, check_parameters
from sweepctl.spec.schema import missing_hint, report_errors, schema
from sweepctl.spec.suggest import closest, did_you_mean

# Names other packages import from here; they live in the modules above.
__all__ = [
    "DEPRECATED",
    "GRID_DISTRIBUTIONS",
    "MACROS",
    "METHODS",
    "check_document",
    "closest",
    "did_you_mean",
    "schema",
]

_TEMPLATE = re.compile(r"\$\{(oc\.|now:|hydra:)|\{\{.*\}\}")
_LAUNCH_KEYS = ("job", "resource", "num_workers", "settings", "docker_image", "resource_args")


def check_document(doc: Document) -> list[Problem]:
    """Every error and warning for a loaded sweep file, in line order."""
    found = Findings(doc)
    data = doc.data
    if _not_a_sweep(found, data):
        return found.in_line_order()
    # A million values would take the schema and the checks minutes: refuse it first.
    most = limits().values
    too_long = long_values_lists(data.get("parameters"), ("parameters",), most)
    for path in too_long:
        found.error(
            path,
            f"{len(lookup_path(data, path))} values; a parameter lists at most {most}",
            hint=raise_hint("values"),
        )
    if too_long:
        return found.in_line_order()
    # Parameters get their own shape-by-shape check; skip the schema's anyOf noise there.
    params_checked = isinstance(data.get("parameters"), dict)
    report_errors(found, data, skip=("parameters",) if params_checked else None)
    params = data.get("parameters")
    if isinstance(params, dict):
        check_parameters(found, params, ("parameters",), top_level=True, method=data.get("method"))
    elif "parameters" not in data and not (
        isinstance(data.get("scheduler"), dict) and "search_space" in data["scheduler"]
    ):
        found.error((), "missing required key 'parameters'", hint=missing_hint("parameters"))
    _check_method(found, data)
    _check_early_terminate(found, data)
    _warn_launch_keys(found, data)
    check_command(found, data)
    _check_options(found, data)
    _check_templated(found, data)
    for key in LABELS:
        problem = label_problem(data.get(key))
        if problem:
            found.error((key,), f"{key} {problem}", hint=f"at most {LABEL_MAX} characters, no NUL")
    return found.in_line_order()


# The sweep's labels, stored in columns of this size.
LABELS = ("name", "project", "entity")
LABEL_MAX = 255


def lookup_path(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


def label_problem(value: Any) -> str | None:
    """What is wrong with a sweep's name, project or entity for the store, or None."""
    if not isinstance(value, str):
        return None  # the schema says what type it must be
    if len(value) > LABEL_MAX:
        return f"is {len(value)} characters long; at most {LABEL_MAX} are stored"
    if "\0" in value:
        return "contains a NUL character, which no store can hold"
    return None


def _not_a_sweep(found: Findings, data: dict) -> bool:
    """Wrapped configs and W&B Launch blocks: one clear message instead of a dozen."""
    if "method" not in data and "parameters" not in data:
        for key, value in data.items():
            inner = _find_sweep(value, (key,))
            if inner is not None:
                shown = ".".join(map(str, inner))
                found.error(
                    inner,
                    f"the sweep config sits under `{shown}:`, not at the top level",
                    hint=f"move the keys under `{shown}:` to the top level of their own file",
                )
                return True
    scheduler = data.get("scheduler")
    if isinstance(scheduler, dict) and (
        any(k in scheduler for k in _LAUNCH_KEYS) or "engine" not in scheduler
    ):
        found.error(
            ("scheduler",),
            "`scheduler:` here is a W&B Launch block, run by "
            "`wandb launch-sweep`; sweepctl runs the sweep itself",
            hint="remove the `scheduler:` block (and `job:`); start runs with "
            "`sweepctl agent ID --workers N`",
        )
        return True
    return False


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


def _check_method(found: Findings, data: dict) -> None:
    """Methods sweepctl runs, and the one metric that bayes search needs."""
    method = data.get("method")
    if method == "custom" or isinstance(data.get("scheduler"), dict):
        found.error(
            ("method",) if method == "custom" else ("scheduler",),
            "custom schedulers (`method: custom`, `scheduler:`) run on W&B Launch only",
            hint="use method grid, random or bayes",
        )
    if "metrics" in data:
        found.error(
            ("metrics",),
            "multi-objective `metrics:` works only with W&B's custom schedulers",
            hint="optimise one `metric:` with name and goal",
        )
    if method == "bayes" and not isinstance(data.get("metric"), dict):
        found.error(
            ("method",),
            "bayes search needs a `metric` to optimise",
            hint="add `metric: {name: val_loss, goal: minimize}`",
        )


def _check_early_terminate(found: Findings, data: dict) -> None:
    """A metric to compare runs on, and bands W&B's hyperband code can compute."""
    if "early_terminate" in data and not isinstance(data.get("metric"), dict):
        found.error(
            ("early_terminate",),
            "early termination needs a `metric` to compare runs on",
            hint="add `metric: {name: val_loss, goal: minimize}`",
        )
    early = data.get("early_terminate")
    if isinstance(early, dict) and not any(
        p.path.startswith("early_terminate") and p.severity == "error" for p in found.problems
    ):
        if "min_iter" in early and "max_iter" in early:
            found.warning(
                ("early_terminate", "min_iter"),
                "both min_iter and max_iter are given: W&B uses max_iter (with s) and "
                "ignores min_iter",
                hint="keep one of the two forms",
            )
        try:
            bands({"eta": 3, "strict": True, **early})
        except (ValueError, TypeError, OverflowError) as exc:
            # Files W&B's schema accepts but its hyperband code then crashes on.
            found.error(("early_terminate",), str(exc))


def _warn_launch_keys(found: Findings, data: dict) -> None:
    for key in ("job", "image_uri"):
        if key in data and isinstance(data[key], str):
            found.warning((key,), f"`{key}` is for W&B Launch; sweepctl ignores it")


MIN_HEARTBEAT_TIMEOUT = 2.0


def _check_options(found: Findings, data: dict) -> None:
    """The `sweepctl:` block's durations must be readable ones."""
    options = data.get("sweepctl")
    if not isinstance(options, dict):
        return
    for key in ("timeout", "heartbeat_timeout"):
        value = options.get(key)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            try:
                seconds = parse_duration(value, what=f"sweepctl.{key}")
            except UsageError as exc:
                found.error(("sweepctl", key), exc.message, hint=exc.hint)
                continue
            if key == "heartbeat_timeout" and seconds < MIN_HEARTBEAT_TIMEOUT:
                # Agents beat every third of it; shorter, a busy store or a slow machine makes
                # live runs look crashed, and their points run again.
                found.error(
                    ("sweepctl", key),
                    f"sweepctl.heartbeat_timeout must be at least {MIN_HEARTBEAT_TIMEOUT:g}s, "
                    f"found {value!r}",
                    hint="the default, 60s, suits most sweeps",
                )


def _check_templated(found: Findings, data: dict) -> None:
    """An invalid file that is an unrendered template gets told so, once."""
    if not any(p.severity == "error" for p in found.problems):
        return
    for path, value in _leaves(data, ()):
        if path[:1] == ("command",):
            continue
        if isinstance(value, str) and _TEMPLATE.search(value):
            found.error(
                path,
                f"{value!r} is a template placeholder, not a value",
                hint="render the file first (Hydra/OmegaConf/Jinja), then validate the result",
            )
            return
    if "defaults" in data:
        found.error(
            ("defaults",),
            "`defaults:` is Hydra composition, not a sweep key",
            hint="compose the config first, then validate the result",
        )


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
