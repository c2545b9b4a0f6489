"""`sweepctl refine`: a narrower bayes sweep around the best runs of a finished one.

The explore-then-refine workflow: a wide random sweep finds the region, a bayes sweep
searches it closely. For each searched parameter of the old sweep, the top K runs' values
decide the new range:

- log-scale distributions: from the smallest top value / factor to the largest x factor;
- other ranges: the top values, widened by the old width / (2 x factor) on each side;
- both are clipped to the old range; integer ranges stay integral;
- categorical values: only those the top K runs used, in the old order.

Constants, the metric, the program, the command and early termination are kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sweepctl import ranking
from sweepctl.errors import UsageError
from sweepctl.records import Run, Sweep
from sweepctl.results.export import yaml_text
from sweepctl.search.space import MISSING, lookup
from sweepctl.spec.model import Param
from sweepctl.visible import visible

LOG_SCALE = {
    "log_uniform_values",
    "q_log_uniform_values",
    "inv_log_uniform_values",
    "log_uniform",
    "q_log_uniform",
    "inv_log_uniform",
}


def _values_range(param: Param) -> tuple[float, float] | None:
    """The old range in value space (deprecated log forms hold exponents of e)."""
    spec = param.spec
    if "min" not in spec or "max" not in spec:
        return None
    lo, hi = spec["min"], spec["max"]
    if param.distribution in ("log_uniform", "q_log_uniform"):
        return math.exp(lo), math.exp(hi)
    if param.distribution == "inv_log_uniform":
        return math.exp(-hi), math.exp(-lo)
    return lo, hi


def refine_param(param: Param, top: list[Any], factor: float) -> dict[str, Any]:
    """The new parameter block for ``param`` given the top runs' values."""
    spec = param.spec
    if param.distribution == "constant":
        return {"value": spec["value"]}
    if param.distribution.startswith("categorical"):
        seen = [v for v in spec["values"] if any(v == t and type(v) is type(t) for t in top)]
        return {"values": seen or list(spec["values"])}
    numbers = [t for t in top if isinstance(t, (int, float)) and not isinstance(t, bool)]
    old = _values_range(param)
    if old is None or not numbers:  # normal/beta families: keep them as they were
        return {"distribution": param.distribution, **spec}
    lo, hi = min(numbers), max(numbers)
    if param.distribution in LOG_SCALE and lo > 0:
        new_lo, new_hi = lo / factor, hi * factor
        out: dict[str, Any] = {"distribution": "log_uniform_values"}
        if "q" in spec and param.distribution.startswith("q_"):
            out = {"distribution": "q_log_uniform_values", "q": spec["q"]}
    else:
        half = (old[1] - old[0]) / (2 * factor)
        new_lo, new_hi = lo - half, hi + half
        out = {"distribution": param.distribution}
        if param.distribution == "q_uniform":
            out["q"] = spec["q"]
    new_lo, new_hi = max(old[0], new_lo), min(old[1], new_hi)
    if param.distribution == "int_uniform":
        new_lo, new_hi = math.floor(new_lo), math.ceil(new_hi)
        if new_lo >= new_hi:  # a single integer: widen by one where the old range allows
            if new_hi < old[1]:
                new_hi += 1
            else:
                new_lo -= 1
    else:
        # Six significant digits read better in a file than 0.00174519189142514.
        new_lo, new_hi = float(f"{new_lo:.6g}"), float(f"{new_hi:.6g}")
        new_lo, new_hi = max(old[0], new_lo), min(old[1], new_hi)
        if new_lo >= new_hi:  # every top run at one value: keep a small range around it
            span = (old[1] - old[0]) / (4 * factor)
            new_lo, new_hi = max(old[0], new_lo - span), min(old[1], new_hi + span)
    out["min"], out["max"] = new_lo, new_hi
    return out


def _nest(blocks: dict[tuple[str, ...], dict[str, Any]]) -> dict[str, Any]:
    """``{("opt", "lr"): {...}}`` -> ``{"opt": {"parameters": {"lr": {...}}}}``."""
    out: dict[str, Any] = {}
    for path, block in blocks.items():
        level = out
        for key in path[:-1]:
            level = level.setdefault(key, {"parameters": {}})["parameters"]
        level[path[-1]] = block
    return out


def refine(sweep: Sweep, runs: list[Run], *, factor: float = 2.0, top: int = 5) -> str:
    """The text of the refined sweep file, with a header saying where it came from."""
    if factor <= 1:
        raise UsageError("--factor must be above 1 (it divides and multiplies the range)")
    if top < 1:
        raise UsageError("--top must be at least 1")
    spec = sweep.spec
    if spec.metric is None:
        raise UsageError(f"sweep {sweep.shown} has no metric: there is no best to refine around")
    ranked = ranking.rank(spec.metric, runs).top(top)
    if not ranked:
        raise UsageError(
            f"no run of sweep {sweep.shown} has a value for {spec.metric.name!r} yet",
            hint="run some runs first: `sweepctl agent ID`",
        )
    blocks = {
        p.path: refine_param(p, [lookup(r.config, p.path) for r in ranked], factor)
        for p in spec.params
    }
    config: dict[str, Any] = {}
    name = f"{sweep.name or sweep.id}-refined"
    config["name"] = name
    for key in ("description", "project", "entity", "program"):
        if spec.config.get(key) is not None:
            config[key] = spec.config[key]
    config["method"] = "bayes"
    config["metric"] = spec.config["metric"]
    config["parameters"] = _nest(blocks)
    for key in ("early_terminate", "command", "run_cap", "sweepctl"):
        if spec.config.get(key) is not None:
            config[key] = spec.config[key]
    best = ranked[0]
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    # User text in a comment goes through visible(): a line break there would end the comment
    # and start a live key of the file.
    metric = visible(spec.metric.name)
    header = (
        f"# Refined by `sweepctl refine` on {stamp} from sweep {visible(sweep.id)}"
        f" ({visible(sweep.name or 'unnamed')}, {sweep.method}, {len(runs)} runs).\n"
        f"# Ranges narrowed around the top {len(ranked)} runs by "
        f"{metric} ({spec.metric.goal}), factor {factor:g};\n"
        f"# best run {best.id}: {metric} = {best.metric:.6g}.\n"
    )
    body = yaml_text(config)
    return header + body


def seeded_config(sweep: Sweep, run: Run, seeds: Sequence[int], seed_param: str) -> dict[str, Any]:
    """A grid sweep that runs ``run``'s config once per seed (``run-best --seeds``)."""
    spec = sweep.spec
    blocks: dict[tuple[str, ...], dict[str, Any]] = {}
    for param in spec.params:
        value = lookup(run.config, param.path)
        blocks[param.path] = {"value": None if value is MISSING else value}
    blocks[(seed_param,)] = {"values": list(seeds)}
    config = {
        key: spec.config[key]
        for key in ("program", "command", "project", "entity", "metric")
        if spec.config.get(key) is not None
    }
    config.update(
        name=f"{sweep.name or sweep.id.replace('/', '-')}-best-seeds",
        description=f"best run {run.id} of sweep {sweep.id}, once per seed",
        method="grid",
        parameters=_nest(blocks),
    )
    if spec.options:
        config["sweepctl"] = dict(spec.options)
    return config
