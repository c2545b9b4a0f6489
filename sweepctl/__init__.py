"""sweepctl: run W&B sweep files and dicts locally, on PostgreSQL, or on W&B.

From Python, as with wandb::

    import sweepctl

    sweep_id = sweepctl.sweep({"method": "random", "metric": {...}, "parameters": {...}})
    sweepctl.agent(sweep_id, function=train, count=10)
    print(sweepctl.best(sweep_id).config)

Everything but :func:`log` is loaded on first use, so ``import sweepctl`` stays light.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sweepctl.agent.function import RunStopped
    from sweepctl.api_types import Best, Controlled, RunList
    from sweepctl.backends.base import AgentReport
    from sweepctl.errors import SweepctlError, UsageError
    from sweepctl.library import (
        Api,
        SweepctlWarning,
        agent,
        best,
        cancel,
        export_best,
        pause,
        refine,
        resume,
        runs,
        stop,
        sweep,
    )
    from sweepctl.session import SweepRun, init

# public name -> the module that defines it, imported when the name is first used
_LAZY = {
    "sweep": "sweepctl.library",
    "best": "sweepctl.library",
    "runs": "sweepctl.library",
    "export_best": "sweepctl.library",
    "refine": "sweepctl.library",
    "stop": "sweepctl.library",
    "cancel": "sweepctl.library",
    "pause": "sweepctl.library",
    "resume": "sweepctl.library",
    "Api": "sweepctl.library",
    "SweepctlWarning": "sweepctl.library",
    "init": "sweepctl.session",
    "SweepRun": "sweepctl.session",
    "RunStopped": "sweepctl.agent.function",
    "SweepctlError": "sweepctl.errors",
    "UsageError": "sweepctl.errors",
    "AgentReport": "sweepctl.backends.base",
    "Best": "sweepctl.api_types",
    "RunList": "sweepctl.api_types",
    "Controlled": "sweepctl.api_types",
}

__all__ = [
    "AgentReport",
    "Api",
    "Best",
    "Controlled",
    "RunList",
    "RunStopped",
    "SweepRun",
    "SweepctlError",
    "SweepctlWarning",
    "UsageError",
    "__version__",
    "agent",
    "best",
    "cancel",
    "export_best",
    "init",
    "log",
    "pause",
    "refine",
    "resume",
    "runs",
    "stop",
    "sweep",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sweepctl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package's module type. ``sweepctl.agent`` is the public function, as
    ``wandb.agent`` is, while ``sweepctl/agent/`` is also a subpackage: when the import system
    binds the subpackage to the attribute ``agent``, it is kept aside, and the name keeps
    meaning the function (``from sweepctl.agent.loop import ...`` goes through sys.modules
    and is unaffected)."""

    @property
    def agent(self) -> Any:
        from sweepctl.library import agent

        return agent

    @agent.setter
    def agent(self, value: Any) -> None:
        self.__dict__["_agent_package"] = value


sys.modules[__name__].__class__ = _Package


def log(data: Mapping[str, object], step: int | None = None) -> None:
    """Record one step of metrics for the sweep run this process belongs to.

    Appends to the file named by `SWEEPCTL_METRICS_FILE`; does nothing outside a sweep.
    """
    path = os.environ.get("SWEEPCTL_METRICS_FILE")
    if not path:
        return
    from sweepctl.agent import metrics  # lazy: `import sweepctl` stays light

    if step is not None:
        data = {**data, "_step": step}
    metrics.append(path, data)
    function_runs = sys.modules.get("sweepctl.agent.function")
    if function_runs is not None:  # in a function run: it may have to end at this step
        function_runs.check_stop()
