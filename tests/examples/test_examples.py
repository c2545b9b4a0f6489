"""The examples in examples/ run as a user runs them: the scripts as programs, the notebook in a
real Jupyter kernel (nbclient + ipykernel)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sweepctl

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str, cwd: Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPCTL_", "WANDB_"))}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true")
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_the_hugging_face_trainer_example_captures_eval_loss(tmp_path: Path) -> None:
    store = str(tmp_path / "hf.db")
    out = run_example("hf_trainer_sweep.py", "--count", "2", "--storage", store, cwd=tmp_path)
    assert "best eval/loss" in out
    (sweep,) = sweepctl.Api(storage=store).sweeps()
    runs = sweep.runs
    assert [r.state for r in runs] == ["finished", "finished"]
    for run in runs:
        evals = [row["eval/loss"] for row in run.history() if "eval/loss" in row]
        assert len(evals) == 2  # one per epoch, logged by the Trainer's own W&B callback
        assert run.record.metric == pytest.approx(min(evals))
        assert "train/loss" in run.summary


def test_the_stt_orchestrator_example_writes_the_optimal_config(tmp_path: Path) -> None:
    store = str(tmp_path / "stt.db")
    out = run_example(
        "stt_orchestrator.py", "--random", "8", "--bayes", "6", "--storage", store, cwd=tmp_path
    )
    api = sweepctl.Api(storage=store)
    first, second = api.sweeps()
    assert (first.config["method"], len(first.runs)) == ("random", 8)
    assert (second.config["method"], len(second.runs)) == ("bayes", 6)
    refined = (tmp_path / "stt-refined.yaml").read_text()
    assert "method: bayes" in refined
    written = json.loads((tmp_path / "optimal_hyperparameters.json").read_text())
    winner = min((r for s in (first, second) for r in s.runs), key=lambda r: r.record.metric)
    assert written == winner.config
    assert "wrote optimal_hyperparameters.json" in out


@pytest.mark.slow
def test_the_notebook_runs_a_sweep_in_a_real_kernel(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="the dev extra installs nbformat")
    nbclient = pytest.importorskip("nbclient", reason="the dev extra installs nbclient")
    notebook = nbformat.read(EXAMPLES / "sweep_notebook.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError, with the traceback, if a cell fails
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "12 runs, exit code 0" in text
    results = [o for o in outputs if o.output_type == "execute_result"]
    shown_config = results[-1]["data"]["text/plain"]
    best = sweepctl.best("notebook", storage=str(tmp_path / "notebook-sweeps.db"))
    assert shown_config == repr(best.config)
    images = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    png = base64.b64decode(images[0])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a drawn plot, not an empty frame
    (tmp_path / "plot.png").write_bytes(png)
