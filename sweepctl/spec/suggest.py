"""Did-you-mean: the choice a misspelled name most likely stands for.

Used beyond sweep files too (store and report commands suggest names with it).
"""

from __future__ import annotations

import difflib
from typing import Any


def closest(word: Any, choices: list[str] | tuple[str, ...]) -> str | None:
    """The choice ``word`` most likely misspells, or None."""
    if not isinstance(word, str) or not choices:
        return None
    lowered = word.lower()

    def score(choice: str) -> float:
        # Similarity, nudged towards choices that start the same way: people mistype the
        # end of a name (`log_uniformm`) more often than its start.
        prefix = next(
            (i for i, (a, b) in enumerate(zip(lowered, choice.lower(), strict=False)) if a != b),
            min(len(lowered), len(choice)),
        )
        ratio = difflib.SequenceMatcher(None, lowered, choice.lower()).ratio()
        return ratio + 0.15 * prefix / max(len(word), 1)

    best = max(choices, key=score)
    return best if score(best) >= 0.65 else None


def did_you_mean(word: Any, choices: list[str] | tuple[str, ...]) -> str | None:
    """``did you mean 'x'?`` for the closest choice, or None."""
    match = closest(word, choices)
    return f"did you mean '{match}'?" if match else None
