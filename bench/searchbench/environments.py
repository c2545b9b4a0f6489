"""The virtualenvs the benchmark needs, made on first use.

* W&B's engine: ``sweeps`` 0.3.0 pins numpy<2, which sweepctl's venv does not have, so it
  lives in bench/.venvs/wandb-sweeps and is reached through wandb_driver.py.
* HEBO (``hebo`` 0.3.6: numpy<1.25, GPy, pymoo 0.6.0) and Ax (``ax-platform`` with BoTorch)
  live in bench/.venvs/hebo and bench/.venvs/ax, reached through hebo_driver.py and
  ax_driver.py; both get torch 2.13.0 (the local CPU wheel) and nothing else: pins/*.txt are
  their pip constraints, torch==2.13.0 first.
* Optuna (TPE, GP with torch), matplotlib and scikit-learn are bench tools, not sweepctl
  dependencies. When the running interpreter lacks one, bench/.venvs/bench is made with them
  and sweepctl (editable) and the benchmark re-runs itself there. torch is installed only
  under the project's constraints (torch==2.13.0, a local CPU wheel): any other version would
  download gigabytes.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent
WANDB_VENV = BENCH / ".venvs" / "wandb-sweeps"
BENCH_VENV = BENCH / ".venvs" / "bench"
HEBO_VENV = BENCH / ".venvs" / "hebo"
AX_VENV = BENCH / ".venvs" / "ax"
PINS = Path(__file__).resolve().parent / "pins"
CONSTRAINTS = REPO / "constraints.txt"
NEEDED = ("optuna", "torch", "matplotlib", "sklearn", "yaml", "sweepctl")


def _works(python: Path, code: str) -> bool:
    if not python.exists():
        return False
    done = subprocess.run([str(python), "-c", code], capture_output=True, check=False)
    return done.returncode == 0


def _python311() -> str:
    """An interpreter to make a venv from (W&B's sweeps 0.3.0 supports up to 3.11 well)."""
    found = shutil.which("python3.11") or shutil.which("python3")
    if not found:
        raise SystemExit("no python3.11 or python3 on PATH to make a virtualenv with")
    return found


def ensure_wandb_venv() -> Path:
    """bench/.venvs/wandb-sweeps with sweeps==0.3.0; its python."""
    python = WANDB_VENV / "bin" / "python"
    if _works(python, "import sweeps; assert sweeps.__version__ == '0.3.0'"):
        return python
    print(f"making {WANDB_VENV.relative_to(REPO)} (sweeps==0.3.0) ...", flush=True)
    subprocess.run([_python311(), "-m", "venv", str(WANDB_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "sweeps==0.3.0"], check=True)
    return python


def ensure_peer_venv(venv: Path, packages: list[str], check: str) -> Path:
    """A peer engine's venv (HEBO, Ax) with torch==2.13.0 and ``packages``; its python."""
    python = venv / "bin" / "python"
    if _works(python, check):
        return python
    pins = PINS / f"{venv.name}.txt"
    print(f"making {venv.relative_to(REPO)} ({', '.join(packages)}) ...", flush=True)
    subprocess.run([_python311(), "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(pins)]
    subprocess.run([*pip, "torch==2.13.0", *packages], check=True)
    return python


def ensure_hebo_venv() -> Path:
    return ensure_peer_venv(HEBO_VENV, ["hebo==0.3.6"], "import hebo.optimizers.hebo, torch")


def ensure_ax_venv() -> Path:
    return ensure_peer_venv(AX_VENV, ["ax-platform"], "import ax, botorch, torch")


def missing_here() -> list[str]:
    """The benchmark's modules that this interpreter cannot import."""
    return [m for m in NEEDED if importlib.util.find_spec(m) is None]


def ensure_bench_python(argv: list[str]) -> None:
    """Return if this interpreter has everything; else re-run ``argv`` in bench/.venvs/bench."""
    missing = missing_here()
    if not missing:
        return
    python = BENCH_VENV / "bin" / "python"
    if Path(sys.executable).resolve() == python.resolve():
        raise SystemExit(f"{BENCH_VENV} still lacks {missing}: remove it and run again")
    if not _works(python, "import " + ", ".join(NEEDED)):
        print(f"this python lacks {missing}: making {BENCH_VENV.relative_to(REPO)} ...")
        subprocess.run([_python311(), "-m", "venv", str(BENCH_VENV)], check=True)
        packages = ["optuna", "torch", "matplotlib", "scikit-learn", "pyyaml"]
        pip = [str(python), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS)]
        subprocess.run([*pip, "-e", str(REPO), *packages], check=True)
    os.execv(str(python), [str(python), *argv])
