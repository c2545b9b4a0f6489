"""sweepctl: run W&B sweep files locally, on PostgreSQL, or on W&B."""

from __future__ import annotations

import os
from collections.abc import Mapping

__version__ = "0.1.0"


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
