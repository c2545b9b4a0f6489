"""`--gpus` and `--gpus-per-run` become one CUDA_VISIBLE_DEVICES value per worker; `--gpus all`
asks NVML, else nvidia-smi, else finds none."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sweepctl.agent import gpus
from sweepctl.errors import UsageError


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
