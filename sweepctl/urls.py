"""Storage URLs as they may be shown: no password ever reaches a terminal, a log or JSON."""

from __future__ import annotations

import re


def redact(url: str) -> str:
    """A storage URL fit to print: any password replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
