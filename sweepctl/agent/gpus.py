"""GPU fan-out: `--gpus 0,1,2,3 --gpus-per-run 2` -> one worker per group ("0,1", "2,3").

An agent started with ``CUDA_VISIBLE_DEVICES`` already set (by SLURM, or by hand) keeps its
runs inside those GPUs: ``--gpus all`` means them, and ``--gpus 0,1`` counts within them as
CUDA does, so with ``CUDA_VISIBLE_DEVICES=4,5`` the runs get devices 4 and 5, never others.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping

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


def inherited(environ: Mapping[str, str]) -> list[str] | None:
    """The GPUs this process was given: ``CUDA_VISIBLE_DEVICES`` (ids or UUIDs, as set), else
    the ``SLURM_STEP_GPUS``/``SLURM_JOB_GPUS`` of a SLURM job; None when nothing limits it."""
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        value = environ.get(name)
        if value is not None:
            if value.strip() == "NoDevFiles":  # SLURM: GPUs allocated without device files
                return []
            return [part.strip() for part in value.split(",") if part.strip()]
    return None


def gpu_groups(spec: str, per_run: int = 1, environ: Mapping[str, str] | None = None) -> list[str]:
    """``CUDA_VISIBLE_DEVICES`` values, one per worker, from ``--gpus`` and ``--gpus-per-run``,
    within the GPUs the agent itself was given (see :func:`inherited`)."""
    if per_run < 1:
        raise UsageError("--gpus-per-run must be at least 1")
    given = inherited(os.environ if environ is None else environ)
    if spec.strip().lower() == "all":
        ids = discover() if given is None else given
        if not ids:
            raise UsageError(
                "--gpus all: no GPU found (NVML and nvidia-smi see none)"
                if given is None
                else "--gpus all: this agent was given no GPU (CUDA_VISIBLE_DEVICES is empty)",
                hint="list the GPUs explicitly, e.g. --gpus 0,1, or use --workers N without GPUs",
            )
    else:
        ids = [part.strip() for part in spec.split(",") if part.strip()]
        if not ids:
            raise UsageError(f"--gpus {spec!r} names no GPU", hint="e.g. --gpus 0,1,2,3")
        if len(set(ids)) != len(ids):
            raise UsageError(f"--gpus {spec!r} names a GPU twice")
        if given is not None:
            ids = [_within(gpu, given, spec) for gpu in ids]
    if len(ids) % per_run:
        raise UsageError(
            f"{len(ids)} GPUs cannot be split into groups of {per_run}",
            hint=f"give a multiple of {per_run} GPUs, or change --gpus-per-run",
        )
    return [",".join(ids[i : i + per_run]) for i in range(0, len(ids), per_run)]


def _within(gpu: str, given: list[str], spec: str) -> str:
    """GPU number ``gpu`` among the ``given`` ones (CUDA's numbering), as the device it is."""
    if gpu.isdigit() and int(gpu) < len(given):
        return given[int(gpu)]
    shown = ",".join(given)
    raise UsageError(
        f"--gpus {spec}: this agent was given {len(given)} GPU{'s' if len(given) != 1 else ''} "
        f"(CUDA_VISIBLE_DEVICES={shown}); GPU {gpu} is not among them",
        hint=f"--gpus counts within them, as CUDA does: 0 to {len(given) - 1}, or --gpus all"
        if given
        else "run it where GPUs are visible, or without --gpus",
    )
