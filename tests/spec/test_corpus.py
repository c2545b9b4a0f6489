"""Every real sweep file in the shared corpus is judged as the corpus README says."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sweepctl.spec import inspect_file

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def _manifest() -> list[dict[str, str]]:
    path = CORPUS / "MANIFEST.tsv"
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = _manifest()
ACCEPTED = {"ok", "sci_notation_string", "deprecated_log_uniform"}


@pytest.mark.skipif(not ROWS, reason=f"the shared corpus is not beside the repo ({CORPUS})")
@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_corpus_file_is_judged_as_documented(row: dict[str, str]) -> None:
    report = inspect_file(CORPUS / "files" / row["file"])
    reason = row["reason"]
    if reason in ACCEPTED:
        assert report.valid, [str(p) for p in report.errors]
    else:
        assert not report.valid, f"{row['file']} ({reason}) was accepted"
        for problem in report.errors:
            assert problem.line is not None, f"error without a line: {problem}"

    if reason == "sci_notation_string":
        lines = {int(n) for n in row["sci_notation"].removeprefix("lines:").split(",")}
        warned = {p.line for p in report.warnings if "W&B reads this as the string" in p.message}
        assert warned == lines
    if reason == "deprecated_log_uniform":
        assert any(
            "exponents of e" in p.message and "log_uniform_values" in (p.hint or "")
            for p in report.warnings
        )
    if reason == "launch_scheduler":
        assert any("W&B Launch" in p.message for p in report.errors)
    if reason == "unknown_key":
        assert any(
            "unknown key" in p.message or "indented one level too deep" in p.message
            for p in report.errors
        )


@pytest.mark.skipif(not ROWS, reason=f"the shared corpus is not beside the repo ({CORPUS})")
def test_corpus_counts() -> None:
    """The whole corpus at once: how many files are accepted, with what."""
    verdicts = {"accepted": 0, "rejected": 0}
    for row in ROWS:
        report = inspect_file(CORPUS / "files" / row["file"])
        verdicts["accepted" if report.valid else "rejected"] += 1
    expected_accepted = sum(r["reason"] in ACCEPTED for r in ROWS)
    assert verdicts == {"accepted": expected_accepted, "rejected": len(ROWS) - expected_accepted}
