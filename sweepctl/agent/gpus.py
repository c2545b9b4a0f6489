"""GPU fan-out: `--gpus 0,1,2,3 --gpus-per-run 2` -> one worker per group ("0,1", "2,3")."""

from __future__ import annotations

import shutil
import subprocess

from sweepctl.errors import UsageError


def discover() -> list[str]:
    """The GPUs this machine has, by index: NVML where present, else `nvidia-smi -L`."""
    try:
        import pynvml  # the nvidia-ml-py package

        pynvml.nvmlInit()
        try:
            return [str(i) for i in range(pynvml.nvmlDeviceGetCount())]
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # not installed, no driver, no GPU: try the command line tool
        pass
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return []
        return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
    return []


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
