"""``sweepctl.init()``: the run this process is, for code that does not use wandb.

Works wherever a sweep run starts: in a child of the CLI agent, in a worker process, and in a
function run of ``sweepctl.agent(function=...)``. It reads the run's config from the file
the agent wrote (``WANDB_SWEEP_PARAM_PATH``, W&B's format) and logs through
:func:`sweepctl.log`. Outside a sweep it gives the defaults passed to it and logs nothing,
so the same script runs alone too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from sweepctl import log


class Config(dict):  # type: ignore[type-arg]
    """A run's config: a dict whose keys also read as attributes (``config.lr``), as
    ``wandb.config``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no {name!r}") from None


class SweepRun:
    """One run of a sweep, as :func:`init` gives it; a context manager."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.id: str | None = os.environ.get("SWEEPCTL_RUN_ID")
        self.sweep_id: str | None = os.environ.get("SWEEPCTL_SWEEP_ID")
        self.config = Config(config)
        self.finished = False

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record one step of metrics (see :func:`sweepctl.log`)."""
        log(data, step=step)

    def finish(self) -> None:
        """Mark the run's code done; the agent records its end when the function returns
        or the process exits."""
        self.finished = True

    def __enter__(self) -> SweepRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def __repr__(self) -> str:
        return f"SweepRun(id={self.id!r}, sweep_id={self.sweep_id!r}, config={dict(self.config)!r})"


def sweep_config() -> dict[str, Any]:
    """The config the agent gave this run (empty outside a sweep)."""
    path = os.environ.get("WANDB_SWEEP_PARAM_PATH")
    if not path or not os.environ.get("SWEEPCTL_RUN_ID"):
        return {}
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        return {}
    return {
        key: entry["value"]
        for key, entry in data.items()
        if isinstance(entry, dict) and "value" in entry and key != "wandb_version"
    }


def init(config: Mapping[str, Any] | None = None, **_wandb_options: Any) -> SweepRun:
    """The run this process is: ``config`` as defaults, the sweep's values over them (as
    W&B's sweeps override ``wandb.init(config=...)``). Other keyword arguments of
    ``wandb.init`` (project, name, ...) are accepted and ignored."""
    return SweepRun({**(config or {}), **sweep_config()})
