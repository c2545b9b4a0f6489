"""The sweep model: a validated sweep file as frozen dataclasses, with W&B's defaults filled."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

# W&B flattens nested parameters with this delimiter before sorting names; the same key gives
# the same order here (nested blocks sort by their flattened names).
NEST_DELIMITER = ".wbnest[599c28ca25da]."

_DEFAULTS = {
    "q": 1.0,
    "mu": 0.0,
    "sigma": 1.0,
    "a": 1.0,
    "b": 1.0,
}
_USES = {
    "q_uniform": ("q",),
    "q_log_uniform": ("q",),
    "q_log_uniform_values": ("q",),
    "normal": ("mu", "sigma"),
    "log_normal": ("mu", "sigma"),
    "q_normal": ("mu", "sigma", "q"),
    "q_log_normal": ("mu", "sigma", "q"),
    "beta": ("a", "b"),
    "q_beta": ("a", "b", "q"),
}


@dataclass(frozen=True)
class Param:
    """One searchable (or constant) leaf parameter."""

    path: tuple[str, ...]  # ("optimizer", "lr") for a nested parameter
    distribution: str
    spec: dict[str, Any]  # the file's keys with defaults filled (min, max, q, values, ...)

    @property
    def name(self) -> str:
        """Dotted name for display: ``optimizer.lr``."""
        return ".".join(self.path)

    @property
    def sort_key(self) -> str:
        return NEST_DELIMITER.join(self.path)

    @property
    def values(self) -> list[Any]:
        return self.spec.get("values", [])


@dataclass(frozen=True)
class Metric:
    name: str
    goal: str = "minimize"
    target: float | None = None
    impute: str = "worst"

    @property
    def maximize(self) -> bool:
        return self.goal == "maximize"


@dataclass(frozen=True)
class SweepSpec:
    """A valid sweep file. ``config`` is the normalised W&B config (distributions filled)."""

    method: str
    params: tuple[Param, ...]
    config: dict[str, Any]
    metric: Metric | None = None
    program: str | None = None
    command: tuple[str, ...] | None = None
    early_terminate: dict[str, Any] | None = None
    run_cap: int | None = None
    name: str | None = None
    description: str | None = None
    project: str | None = None
    entity: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the `sweepctl:` block
    source: str | None = None

    @property
    def searched(self) -> tuple[Param, ...]:
        """Parameters that vary (everything but constants)."""
        return tuple(p for p in self.params if p.distribution != "constant")


def _fill(spec: dict[str, Any]) -> dict[str, Any]:
    """A parameter's dict with `distribution` and its defaults filled as W&B fills them."""
    out = dict(spec)
    if "distribution" not in out:
        if "value" in out:
            out["distribution"] = "constant"
        elif "values" in out:
            out["distribution"] = (
                "categorical_w_probabilities" if "probabilities" in out else "categorical"
            )
        elif isinstance(out.get("min"), int) and isinstance(out.get("max"), int):
            out["distribution"] = "int_uniform"
        else:
            out["distribution"] = "uniform"
    for key in _USES.get(out["distribution"], ()):
        out.setdefault(key, _DEFAULTS[key])
    return out


def _flatten(params: dict[str, Any], prefix: tuple[str, ...], out: list[Param]) -> dict[str, Any]:
    normalised: dict[str, Any] = {}
    for name, spec in params.items():
        path = (*prefix, name)
        if "parameters" in spec:
            inner = _flatten(spec["parameters"], path, out)
            normalised[name] = {"parameters": inner}
        else:
            filled = _fill(spec)
            normalised[name] = filled
            rest = {k: v for k, v in filled.items() if k != "distribution"}
            out.append(Param(path=path, distribution=filled["distribution"], spec=rest))
    return normalised


def build_spec(data: dict[str, Any], source: str | None = None) -> SweepSpec:
    """Turn a *valid* sweep dict into a :class:`SweepSpec`."""
    config = copy.deepcopy(data)
    params: list[Param] = []
    config["parameters"] = _flatten(config.get("parameters") or {}, (), params)
    # W&B sorts names level by level (the order it draws and enumerates parameters in).
    params.sort(key=lambda p: p.path)
    metric = None
    if isinstance(config.get("metric"), dict):
        m = config["metric"]
        metric = Metric(
            name=m["name"],
            goal=m.get("goal", "minimize"),
            target=m.get("target"),
            impute=m.get("impute", "worst"),
        )
    early = config.get("early_terminate")
    if early is not None:
        early = {"eta": 3, "strict": True, **early}
    command = config.get("command")
    return SweepSpec(
        method=config["method"],
        params=tuple(params),
        config=config,
        metric=metric,
        program=config.get("program"),
        command=tuple(str(t) for t in command) if command is not None else None,
        early_terminate=early,
        run_cap=config.get("run_cap"),
        name=config.get("name"),
        description=config.get("description"),
        project=config.get("project"),
        entity=config.get("entity"),
        options=dict(config.get("sweepctl") or {}),
        source=source,
    )
