"""Durations as people write them: ``90s``, ``5m``, ``2h``, ``1h30m``, ``1.5h``, or seconds."""

from __future__ import annotations

import math
import re

from sweepctl.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)", re.IGNORECASE)
# Beyond this a wait overflows the platform's timer (and nobody means it).
MAX_SECONDS = 1e9
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float | int, *, what: str = "duration") -> float:
    """Seconds in ``text``; a bare number is seconds. Raises :class:`UsageError` if unreadable."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        cleaned = str(text).strip().replace(" ", "")
        try:
            seconds = float(cleaned)
        except ValueError:
            parts = _PART.findall(cleaned)
            if not parts or "".join(n + u for n, u in parts).lower() != cleaned.lower():
                raise UsageError(
                    f"cannot read the {what} {text!r}",
                    hint="write e.g. 90s, 5m, 2h, 1h30m, or a number of seconds",
                ) from None
            seconds = sum(float(n) * _SECONDS[u.lower()] for n, u in parts)
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise UsageError(
            f"the {what} must be a finite duration of at most {MAX_SECONDS:.0e} seconds "
            f"(about 30 years), found {text!r}"
        )
    if seconds <= 0:
        raise UsageError(f"the {what} must be positive, found {text!r}")
    return seconds


def format_duration(seconds: float | None) -> str:
    """``3725`` -> ``1h02m``; ``75`` -> ``1m15s``; ``4.2`` -> ``4.2s``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
