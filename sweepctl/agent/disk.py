"""Whether the file system under a run's files has room left for them."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from sweepctl.errors import DiskFull

MIN_FREE = 1 << 20  # bytes: less than this left, and no new run is started
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def free_bytes(folder: Path) -> int | None:
    """Bytes this process may still write under ``folder`` (None if it cannot be told)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    # root may use the blocks a file system keeps back for it; others may not.
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize


def is_full(folder: Path) -> bool:
    """Whether the file system of ``folder`` has less than ``MIN_FREE`` left."""
    free = free_bytes(folder)
    return free is not None and free < MIN_FREE


def check_room(folder: Path) -> None:
    """Raise :class:`DiskFull` when there is no room for another run's files under ``folder``."""
    free = free_bytes(folder)
    if free is not None and free < MIN_FREE:
        raise disk_full(folder, f"{free // 1024} KiB left")


def disk_full(folder: Path, why: str) -> DiskFull:
    """The error for a full disk under ``folder``."""
    return DiskFull(
        f"the disk holding {folder} is full ({why}): no new run is started",
        hint="free space on that disk, then start the agent again; runs not recorded "
        "are offered again",
    )
