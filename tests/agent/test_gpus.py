"""`--gpus` and `--gpus-per-run` become one CUDA_VISIBLE_DEVICES value per worker; `--gpus all`
asks NVML, else nvidia-smi, else finds none."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sweepctl.agent import gpus
from sweepctl.errors import UsageError


@pytest.fixture(autouse=True)
def no_inherited_gpus(monkeypatch):
    """These tests say which GPUs the agent was given; the machine's own setting is not one."""
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        monkeypatch.delenv(name, raising=False)


def test_groups_from_a_list():
    assert gpus.gpu_groups("0,1,2,3") == ["0", "1", "2", "3"]
    assert gpus.gpu_groups("0,1,2,3", per_run=2) == ["0,1", "2,3"]
    assert gpus.gpu_groups(" 3 , 5 ") == ["3", "5"]


@pytest.mark.parametrize(
    ("spec", "per_run", "message"),
    [
        ("0,1,2", 2, "3 GPUs cannot be split into groups of 2"),
        ("0,0", 1, "names a GPU twice"),
        (",", 1, "names no GPU"),
        ("0", 0, "--gpus-per-run must be at least 1"),
    ],
)
def test_bad_gpu_lists_are_usage_errors(spec, per_run, message):
    with pytest.raises(UsageError, match=message):
        gpus.gpu_groups(spec, per_run)


def test_all_uses_what_the_machine_has(monkeypatch):
    monkeypatch.setattr(gpus, "discover", lambda: ["0", "1"])
    assert gpus.gpu_groups("all") == ["0", "1"]
    monkeypatch.setattr(gpus, "discover", lambda: [])
    with pytest.raises(UsageError, match="no GPU found"):
        gpus.gpu_groups("all")


# -- an agent given GPUs (by SLURM, or CUDA_VISIBLE_DEVICES by hand) stays inside them -------


def test_an_inherited_allocation_is_what_all_and_indices_mean(monkeypatch):
    monkeypatch.setattr(gpus, "discover", lambda: ["0", "1", "2", "3", "4", "5", "6", "7"])
    given = {"CUDA_VISIBLE_DEVICES": "4,5"}
    assert gpus.gpu_groups("all", environ=given) == ["4", "5"]
    assert gpus.gpu_groups("0,1", environ=given) == ["4", "5"]
    assert gpus.gpu_groups("1", environ=given) == ["5"]
    assert gpus.gpu_groups("all", per_run=2, environ=given) == ["4,5"]
    uuids = {"CUDA_VISIBLE_DEVICES": "GPU-aa,GPU-bb"}
    assert gpus.gpu_groups("1,0", environ=uuids) == ["GPU-bb", "GPU-aa"]
    # SLURM's own variables where CUDA_VISIBLE_DEVICES is not set
    assert gpus.gpu_groups("all", environ={"SLURM_JOB_GPUS": "2,3"}) == ["2", "3"]


@pytest.mark.parametrize(
    ("spec", "environ", "message"),
    [
        ("4", {"CUDA_VISIBLE_DEVICES": "4,5"}, r"given 2 GPUs \(CUDA_VISIBLE_DEVICES=4,5\); GPU 4"),
        ("0,2", {"CUDA_VISIBLE_DEVICES": "4,5"}, "GPU 2 is not among them"),
        ("all", {"CUDA_VISIBLE_DEVICES": ""}, "this agent was given no GPU"),
        ("0", {"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, "given 0 GPUs"),
    ],
)
def test_a_gpu_outside_the_inherited_allocation_is_refused(spec, environ, message):
    with pytest.raises(UsageError, match=message):
        gpus.gpu_groups(spec, environ=environ)


def test_runs_of_an_agent_given_gpus_4_and_5_see_only_those(tmp_path):
    """The real CLI: with CUDA_VISIBLE_DEVICES=4,5 inherited, --gpus all and --gpus 0,1 give
    the runs devices 4 and 5; --gpus 2 is refused before anything runs."""
    import json
    import os
    import subprocess

    (tmp_path / "show.py").write_text(
        "import json, os, sys\n"
        "open(os.environ['SWEEPCTL_RUN_ID'] + '.gpu', 'w').write("
        "os.environ.get('CUDA_VISIBLE_DEVICES', '-'))\n"
    )
    (tmp_path / "sweep.yaml").write_text(
        "program: show.py\nmethod: grid\nparameters:\n  x: {values: [1, 2, 3, 4]}\n"
    )
    env = dict(os.environ, SWEEPCTL_STORAGE=f"sqlite:///{tmp_path / 's' / 'db.db'}")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]

    def sweepctl(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sweepctl", *args],
            cwd=tmp_path,
            env=dict(env, **extra),
            capture_output=True,
            text=True,
            timeout=120,
        )

    seen = []
    for spec in ("all", "0,1"):
        sweep_id = sweepctl("create", "sweep.yaml", "-q").stdout.strip()
        done = sweepctl("agent", sweep_id, "--gpus", spec, CUDA_VISIBLE_DEVICES="4,5")
        assert done.returncode == 0, done.stderr
        runs = json.loads(sweepctl("runs", sweep_id, "--json").stdout)
        assert len(runs) == 4
        # Two workers (one per GPU), each claiming its next run as soon as one ends.
        seen.append({(tmp_path / f"{r['run_id']}.gpu").read_text() for r in runs})
    assert seen == [{"4", "5"}, {"4", "5"}]
    refused = sweepctl("agent", sweep_id, "--gpus", "2", CUDA_VISIBLE_DEVICES="4,5")
    assert refused.returncode == 2
    assert "GPU 2 is not among them" in refused.stderr
    assert "Traceback" not in refused.stderr


# -- discovery: NVML where it answers, else nvidia-smi (a real program on PATH), else none ---


def fake_nvidia_smi(folder: Path, body: str) -> Path:
    """An executable named nvidia-smi in ``folder``, a shell script with ``body``."""
    folder.mkdir(exist_ok=True)
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return folder


@pytest.fixture
def nvml_fails(monkeypatch):
    """NVML installed but without a driver to talk to (as on this machine)."""
    pynvml = pytest.importorskip("pynvml")  # the gpu extra, in dev

    def no_driver():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)


@pytest.fixture
def nvml_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` raises ImportError


@pytest.mark.parametrize("nvml", ["nvml_fails", "nvml_absent"])
def test_without_nvml_nvidia_smi_lists_the_gpus(nvml, request, monkeypatch, tmp_path):
    request.getfixturevalue(nvml)
    # What `nvidia-smi --query-gpu=index --format=csv,noheader` prints on a two-GPU machine.
    bin_dir = fake_nvidia_smi(
        tmp_path / "bin",
        'test "$*" = "--query-gpu=index --format=csv,noheader" || exit 2\nprintf "0\\n1\\n"',
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    assert gpus.discover() == ["0", "1"]
    assert gpus.gpu_groups("all", per_run=2) == ["0,1"]


@pytest.mark.parametrize("nvml", ["nvml_fails", "nvml_absent"])
def test_without_nvml_or_nvidia_smi_there_are_no_gpus(nvml, request, monkeypatch):
    request.getfixturevalue(nvml)
    monkeypatch.setenv("PATH", "")
    assert gpus.discover() == []
    with pytest.raises(UsageError, match="no GPU found"):
        gpus.gpu_groups("all")


def test_a_failing_nvidia_smi_means_no_gpus(nvml_fails, monkeypatch, tmp_path):
    bin_dir = fake_nvidia_smi(
        tmp_path / "bin",
        'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."\n'
        "exit 9",
    )
    monkeypatch.setenv("PATH", str(bin_dir))
    assert gpus.discover() == []


def test_nvml_answers_without_nvidia_smi(monkeypatch):
    """Where NVML works it alone decides (here its answer is simulated: no GPU on this machine)."""
    pynvml = pytest.importorskip("pynvml")
    calls: list[str] = []
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: calls.append("init"))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: 3)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: calls.append("shutdown"))
    monkeypatch.setenv("PATH", "")
    assert gpus.discover() == ["0", "1", "2"]
    assert calls == ["init", "shutdown"]


def test_the_real_nvml_never_crashes_discovery():
    """The installed NVML on whatever machine runs this: no driver gives no GPUs, not an error."""
    pytest.importorskip("pynvml")
    found = gpus.discover()
    assert all(index.isdigit() for index in found)
