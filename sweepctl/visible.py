"""User data made safe to show: control characters written as visible escapes.

Sweep names, config values, metric names and the children's output lines can hold anything,
including terminal escapes (``\\x1b]0;title\\a``, ``\\x1b[2J``) and line breaks that would
forge lines of sweepctl's own output. Every renderer passes user text through
:func:`visible` before it reaches a terminal, a pipe or a comment in a written file: each
control character (C0, DEL, C1) and each bidirectional-override character is shown as its
Python escape (``\\x1b``, ``\\n``, ``\\u202e``), and nothing else changes.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, and the Unicode bidi embeddings/overrides/isolates that can
# reorder what a terminal shows ("Trojan source").
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object) -> str:
    """``str(text)`` with every control character written as a visible escape."""
    s = text if isinstance(text, str) else str(text)
    return _CONTROL.sub(_escape, s)


def has_control(text: str) -> bool:
    """Whether :func:`visible` would change ``text``."""
    return _CONTROL.search(text) is not None
