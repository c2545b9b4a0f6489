"""What ``sweepctl update`` may change in a sweep that has runs (W&B's ``sweep --update``).

A sweep's runs were chosen and judged under its method and metric, so those stay: a new
method or metric is a new sweep. Everything else may change and applies to the runs handed
out from then on: ``parameters`` (a grid then runs the points of the new grid that no run has
had yet; random and bayes draw from the new space, bayes learning from every run so far),
``early_terminate``, ``run_cap``, ``command``, ``program`` and the ``sweepctl:`` options.
"""

from __future__ import annotations

from sweepctl.errors import Problem
from sweepctl.spec.loader import KeyPath
from sweepctl.spec.model import SweepSpec

KEPT = ("method", "metric")  # what an update may not change


def update_problems(
    old: SweepSpec, new: SweepSpec, lines: dict[KeyPath, int] | None = None
) -> list[Problem]:
    """An error per key an update may not change, at its line in the new file."""
    lines = lines or {}
    problems = []
    if new.method != old.method:
        problems.append(
            Problem(
                "error",
                f"the sweep's method is {old.method}; an update keeps it (found {new.method})",
                path="method",
                line=lines.get(("method",)),
                hint="create a new sweep for another method (`sweepctl refine` writes a bayes "
                "file around the best runs)",
            )
        )
    old_metric = (old.metric.name, old.metric.goal) if old.metric else None
    new_metric = (new.metric.name, new.metric.goal) if new.metric else None
    if new_metric != old_metric:
        problems.append(
            Problem(
                "error",
                f"the sweep's metric is {_metric(old_metric)}; an update keeps it "
                f"(found {_metric(new_metric)}): its runs were judged by it",
                path="metric",
                line=lines.get(("metric",)),
                hint="create a new sweep to optimise another metric",
            )
        )
    return problems


def changed_keys(old: SweepSpec, new: SweepSpec) -> list[str]:
    """The top-level keys whose value the update changes, in the new file's order."""
    keys = dict.fromkeys([*new.config, *old.config])
    return [k for k in keys if old.config.get(k) != new.config.get(k)]


def _metric(metric: tuple[str, str] | None) -> str:
    return "none" if metric is None else f"{metric[0]} ({metric[1]})"
