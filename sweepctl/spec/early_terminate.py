"""What an ``early_terminate`` block means: hyperband's bands, with W&B's arithmetic.

Here, below ``sweepctl.stopping``, so that the file checks (which reject the blocks W&B's
controller would crash on) and the hyperband rule (which stops runs at these bands) share one
definition, and the sweep file layer imports nothing above it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# W&B's min_iter form always lists this many bands, however large they grow.
MIN_ITER_BANDS = 100


def bands(early_terminate: Mapping[str, Any]) -> list[int]:
    """The iterations at which hyperband compares runs, ascending, with W&B's arithmetic.

    ``max_iter``/``s`` form: divide ``max_iter`` by ``eta`` up to ``s`` times, stop below 1,
    truncate each with ``int()``. ``min_iter`` form: ``min_iter`` multiplied by ``eta`` again
    and again, truncated, 100 bands (``max_iter`` wins when both are given, as in W&B).

    Raises ``ValueError`` where W&B's controller fails: no band at all (``s`` < 1 or
    ``max_iter`` < ``eta``), ``max_iter`` without ``s``, ``s`` not a whole number (W&B calls
    ``range(s)``), ``eta`` not above 1. One deliberate difference: with a float ``eta`` so
    large that the min_iter bands overflow a float, W&B raises ``OverflowError``; here the
    list ends at the last finite band (no run logs 1e308 values).
    """
    eta = early_terminate.get("eta", 3)
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not eta > 1:
        raise ValueError(f"hyperband `eta` must be a number above 1, not {eta!r}")
    found: list[int] = []
    if "max_iter" in early_terminate:
        if "s" not in early_terminate:
            raise ValueError(
                "hyperband `max_iter` needs `s` (W&B reads `max_iter` first and then fails);"
                " add `s`, or drop `max_iter` to use `min_iter`"
            )
        s = early_terminate["s"]
        if isinstance(s, bool) or not isinstance(s, int):
            raise ValueError(f"hyperband `s` must be a whole number like 2, not {s!r}")
        band = early_terminate["max_iter"]
        for _ in range(s):
            band /= eta
            if band < 1:
                break
            found.append(int(band))
        found.sort()
        if not found:
            raise ValueError(
                f"hyperband with max_iter {early_terminate['max_iter']}, s {s} and eta {eta:g}"
                " has no band to stop runs at (max_iter / eta is below 1 or s is below 1);"
                " raise max_iter or s, or lower eta"
            )
    elif "min_iter" in early_terminate:
        band = early_terminate["min_iter"]
        for _ in range(MIN_ITER_BANDS):
            if isinstance(band, float) and math.isinf(band):
                break
            found.append(int(band))
            band *= eta
    else:
        raise ValueError("hyperband needs `min_iter`, or `max_iter` together with `s`")
    return found
