"""A run's metrics on their way from its metrics file to the store."""

from __future__ import annotations

import contextlib
from typing import Any

from sweepctl.backends.local.controller import early_stops
from sweepctl.errors import SweepctlError
from sweepctl.run_metric import metric_history, metric_value, summarize
from sweepctl.spec.model import SweepSpec
from sweepctl.spec.suggest import closest
from sweepctl.store import Store


class Recorder:
    """Moves a run's new history rows into the store, keeping its summary and metric.

    With early termination, every batch of new metric values is followed by a look at the
    whole sweep, so a run is judged as soon as its data exists, whichever agent runs it.
    """

    def __init__(
        self, store: Store, sweep_id: str, run_id: str, spec: SweepSpec, observer: Any
    ) -> None:
        self.store = store
        self.observer = observer
        self.sweep_id = sweep_id
        self.run_id = run_id
        self.spec = spec
        self.metric = spec.metric
        self.steps = 0
        self.summary: dict[str, Any] = {}
        self.best: float | None = None
        self.history: list[float] = []
        self.pending: list[dict[str, Any]] = []
        self._name_checked = False

    def flush(self) -> None:
        """Write the rows not yet stored, with the summary and metric so far; raises
        :class:`SweepctlError` (keeping them) while the store is away."""
        if not self.pending:
            return
        self.store.record_metrics(
            self.run_id, self.steps, self.pending, self.summary, self.best, self.history
        )
        self.steps += len(self.pending)
        self.pending = []

    def logged_keys(self) -> list[str]:
        """The keys this run has logged (W&B's own ``_step``-style keys aside)."""
        return [k for k in self.summary if not k.startswith("_")]

    def missing_metric(self, *, ended: bool) -> str | None:
        """A warning when the sweep's metric looks misnamed: at the run's first logged step
        if a logged key is a near miss of it (``val_loss`` for ``val/loss``), and when the
        run ends having logged steps but never the metric; else None."""
        if self.metric is None or self.best is not None or not self.summary:
            return None
        logged = self.logged_keys()
        if not logged:
            return None
        guess = closest(self.metric.name, logged)
        if not ended:
            if self._name_checked:
                return None
            self._name_checked = True
            if guess is None:
                return None  # it may log the metric later (each epoch, say)
        shown = ", ".join(logged[:12]) + (", ..." if len(logged) > 12 else "")
        return (
            f"run {self.run_id} logged {shown} but not the sweep's metric "
            f"{self.metric.name!r}"
            + (f": did you mean {guess!r}?" if guess else "")
            + " (the sweep file's `metric.name` must match a key the program logs)"
        )

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Take new rows; write them with what is still pending (a store that was away)."""
        if not rows and not self.pending:
            return
        self.summary.update(summarize(rows))
        new_values: list[float] = []
        if self.metric is not None and rows:
            new_values = metric_history(rows, self.metric.name)
            self.history.extend(new_values)
            value = metric_value(rows, self.summary, self.metric.name, self.metric.goal)
            if value is not None:
                better = max if self.metric.maximize else min
                self.best = value if self.best is None else better(self.best, value)
        self.pending.extend(rows)
        self.observer.progress(self.run_id, self.summary, self.best)
        try:
            self.flush()
        except SweepctlError:
            return  # kept in memory; the next poll tries again, the child keeps running
        if new_values and self.spec.early_terminate is not None:
            with contextlib.suppress(SweepctlError):  # judged again with the next values
                early_stops(self.store, self.sweep_id, self.spec)
