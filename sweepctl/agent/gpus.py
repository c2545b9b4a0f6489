"""GPU fan-out: `--gpus 0,1,2,3 --gpus-per-run 2` -> one worker per group ("0,1", "2,3")."""

from __future__ import annotations

import contextlib

from sweepctl.agent.process import run_captured
from sweepctl.errors import UsageError


def discover() -> list[str]:
    """The GPUs this machine has, by index: NVML (the nvidia-ml-py package) where it answers,
    else ``nvidia-smi``, else none. Like both, it does not read ``CUDA_VISIBLE_DEVICES``."""
    found = _nvml_indices()
    return found if found is not None else _nvidia_smi_indices()


def _nvml_indices() -> list[str] | None:
    """GPU indices from NVML; None when NVML cannot answer (not installed, no driver)."""
    try:
        import pynvml  # the nvidia-ml-py package: the `gpu` extra
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return None
    try:
        return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError:
        return None
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()


def _nvidia_smi_indices() -> list[str]:
    """GPU indices from ``nvidia-smi``; none when it is missing, fails or hangs."""
    argv = ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"]
    try:
        code, out = run_captured(argv, timeout=20)
    except OSError:  # not on PATH, or TimeoutError (an OSError): a driver that hangs
        return []
    if code != 0:  # e.g. "NVIDIA-SMI has failed because it couldn't communicate with the driver"
        return []
    return [line.strip() for line in out.splitlines() if line.strip().isdigit()]


def gpu_groups(spec: str, per_run: int = 1) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` values, one per worker, from ``--gpus`` and ``--gpus-per-run``."""
    if per_run < 1:
        raise UsageError("--gpus-per-run must be at least 1")
    if spec.strip().lower() == "all":
        ids = discover()
        if not ids:
            raise UsageError(
                "--gpus all: no GPU found (NVML and nvidia-smi see none)",
                hint="list the GPUs explicitly, e.g. --gpus 0,1, or use --workers N without GPUs",
            )
    else:
        ids = [part.strip() for part in spec.split(",") if part.strip()]
        if not ids:
            raise UsageError(f"--gpus {spec!r} names no GPU", hint="e.g. --gpus 0,1,2,3")
        if len(set(ids)) != len(ids):
            raise UsageError(f"--gpus {spec!r} names a GPU twice")
    if len(ids) % per_run:
        raise UsageError(
            f"{len(ids)} GPUs cannot be split into groups of {per_run}",
            hint=f"give a multiple of {per_run} GPUs, or change --gpus-per-run",
        )
    return [",".join(ids[i : i + per_run]) for i in range(0, len(ids), per_run)]
