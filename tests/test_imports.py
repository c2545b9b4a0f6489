"""`sweepctl --help` and `sweepctl validate` stay light: no ML, database or W&B import.

Each command runs in a fresh interpreter, which then writes the names of every module it
imported. A heavy import here costs every user seconds on every command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("wandb", "torch", "transformers", "sqlalchemy", "optuna", "numpy", "scipy", "sklearn",
         "psycopg")  # fmt: skip

SCRIPT = """
import json, sys
from sweepctl.cli import main
out, args = sys.argv[1], sys.argv[2:]
try:
    main(args)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(out, "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""

VALID = """\
method: bayes
metric: {name: val_loss, goal: minimize}
program: train.py
command: [python, train.py]
early_terminate: {type: hyperband, min_iter: 3}
parameters:
  lr: {distribution: log_uniform_values, min: 1.0e-5, max: 0.1}
  batch_size: {values: [16, 32, 64]}
  optimizer:
    parameters:
      name: {values: [adam, sgd]}
"""


def imported_by(args: list[str], tmp_path: Path) -> tuple[int, set[str]]:
    """Exit code and top-level packages imported by ``sweepctl ARGS`` in a new interpreter."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(out), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), done.stderr
    result = json.loads(out.read_text())
    return result["code"], {name.split(".")[0] for name in result["modules"]}


@pytest.mark.parametrize("command", ["help", "validate", "validate --json --strict"])
def test_light_commands_import_no_heavy_package(command: str, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(VALID)
    if command == "help":
        args = ["--help"]
    else:
        args = [*command.split(), str(sweep)]
    code, packages = imported_by(args, tmp_path)
    assert code in (0, None)
    assert sorted(packages.intersection(HEAVY)) == []
