"""Shared fixtures: where the shared corpus lives, and a helper to write sweep files."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"

sys.path.append(str(Path(__file__).parent))  # tests/ helper modules, e.g. wandb_fake
from wandb_fake import fake_wandb  # noqa: E402, F401  (fixture: a fake W&B server)


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "MANIFEST.tsv").exists():
        pytest.skip(f"the shared corpus is not beside the repo ({CORPUS} is missing)")
    return CORPUS


@pytest.fixture
def write_sweep(tmp_path: Path):
    """Write a sweep file from dedented YAML text and return its path."""

    def write(text: str, name: str = "sweep.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write


# Folders of tests that each take tens of seconds (a cut network link, a SLURM cluster):
# collected first, so that the parallel workers start on them and the quick tests fill in
# around them, instead of a few long tests running alone at the end.
LONG_FIRST = ("tests/faults/", "tests/slurm/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(LONG_FIRST))  # stable: order kept
