"""The project's vocabulary, each word defined once: run states, control actions, search methods,
early-termination rules, and what makes two configs the same.

Everything else (the store, the controllers, the search methods, the views) imports these;
nothing here imports any other sweepctl module, so every layer may use it.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any


class RunState(str, Enum):
    """The states a run can be in. ``str`` values, so they compare equal to stored text."""

    PENDING = "pending"  # W&B sweeps only: handed out by W&B's server, not started yet
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"  # the program exited non-zero
    CRASHED = "crashed"  # its agent stopped heartbeating
    PREEMPTED = "preempted"  # its agent got SIGTERM (a scheduler taking the machine back)
    STOPPED = "stopped"  # early termination, or `stop` on one run
    KILLED = "killed"  # Ctrl-C on the agent, or `stop --cancel`
    TIMEOUT = "timeout"  # ran past `--timeout`
    REQUEUED = "requeued"  # ended otherwise, then offered again by `sweepctl requeue`

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        """Whether a run in this state has ended for good (as far as this attempt goes)."""
        return self not in (RunState.PENDING, RunState.RUNNING)


RUN_STATES: tuple[str, ...] = tuple(s.value for s in RunState)
# Runs that ended through no fault of their config: offered again up to `sweepctl.retries`.
REQUEUED_STATES: tuple[str, ...] = (RunState.CRASHED.value, RunState.PREEMPTED.value)
# The runs a "best" is chosen from (sweepctl/ranking.py): those whose value is a whole
# measurement. A finished run ran to its end; a stopped one (hyperband, or `stop` on the run)
# ended where the sweep chose to end it, so its value is real at a smaller budget, as W&B
# counts it. Killed, failed, crashed, preempted and timed-out runs ended before the program
# meant to: their last value is partial, and a view lists them apart, saying so.
BEST_STATES: tuple[str, ...] = (RunState.FINISHED.value, RunState.STOPPED.value)
# The order states are listed and stacked in (tables, reports); others come after these.
DISPLAY_ORDER: tuple[str, ...] = (
    "finished",
    "running",
    "stopped",
    "failed",
    "crashed",
    "preempted",
    "killed",
    "timeout",
    "requeued",
)
# What `sweepctl requeue` may offer again (by default the first three).
REQUEUE_FROM: tuple[str, ...] = ("killed", "failed", "crashed", "preempted", "timeout", "stopped")
REQUEUE_DEFAULT: tuple[str, ...] = ("killed", "failed", "crashed")


# -- control actions -------------------------------------------------------------------------

# What each control action asks for, and from which states a local sweep may take it.
CONTROL_TARGETS: dict[str, str] = {
    "stop": "stopped",
    "cancel": "canceled",
    "pause": "paused",
    "resume": "running",
}
CONTROL_FROM: dict[str, tuple[str, ...]] = {
    "stop": ("running", "paused"),
    "cancel": ("running", "paused", "stopped", "finished"),
    "pause": ("running",),
    "resume": ("paused", "stopped", "canceled"),
}

# -- registries ------------------------------------------------------------------------------

# The `method` values sweepctl implements; `search.method(name)` gives each one's suggest.
METHODS: tuple[str, ...] = ("grid", "random", "bayes")
# The `early_terminate.type` values sweepctl implements; `stopping.rule(name)` gives each.
RULES: tuple[str, ...] = ("hyperband",)
# Distributions a grid can enumerate (W&B's rule).
GRID_DISTRIBUTIONS: tuple[str, ...] = ("constant", "categorical", "int_uniform", "q_uniform")

# -- config identity -------------------------------------------------------------------------


def config_key(config: dict[str, Any]) -> str:
    """A canonical text for a run config: two configs are the same run iff their keys match."""
    return json.dumps(config, sort_keys=True, default=str)


def config_hash(config: dict[str, Any]) -> str:
    """A short, stable digest of :func:`config_key` (for file names and fingerprints)."""
    import hashlib  # OpenSSL's bindings: a few ms that only `launch` needs

    return hashlib.sha256(config_key(config).encode()).hexdigest()
