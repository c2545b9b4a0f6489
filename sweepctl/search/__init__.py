"""Search methods: pure functions of (spec, history, rng) that pick the next run's config.

Every method has the same signature::

    suggest(spec: SweepSpec, history: Sequence[RunRecord], rng: random.Random) -> dict | None

It returns the next run's config as a plain dict (``{name: value}``, nested dicts for nested
parameters, keys in W&B's order), or None when the method has nothing left to offer (an
exhausted grid). No I/O, no clock: everything a method needs is in its arguments.
"""

from __future__ import annotations

from sweepctl.search.contract import RunRecord, Suggest

__all__ = ["RunRecord", "Suggest"]
