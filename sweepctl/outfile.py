"""Writing the files a user names (`--out`, report folders): atomically, and only what was named.

Every result file sweepctl writes goes through :func:`write_output`:

- a regular file (or a new one) is written to a temporary file created with ``O_EXCL`` under a
  random name in the same folder (so a symlink planted at a predictable ``x.tmp`` is never
  followed), then renamed over the target: a crash never leaves half a file;
- a symlink is written through: its resolved target is replaced, the link stays a link;
- a device, FIFO or socket (``/dev/null``, ``/dev/stdout``, a named pipe) is opened and
  written directly, never replaced by a regular file;
- a folder, or a path ending in ``/``, is refused with a usage error.

A new file gets the mode a shell's ``>`` would give it (0666 less the umask); a file that is
replaced keeps its mode.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from sweepctl.errors import UsageError

_TEMP_TRIES = 100


def write_output(out: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to the file ``out`` names (see the module docstring for what it does with
    links, devices and folders)."""
    raw = os.fspath(out)
    payload = data.encode() if isinstance(data, str) else data
    if raw.endswith(os.sep) or raw.endswith("/"):
        raise UsageError(
            f"cannot write {raw}: the path ends in '/', so it names a folder",
            hint="name a file, e.g. results/best.json",
        )
    if "\0" in raw:
        raise UsageError(f"cannot write {raw!r}: the path contains a NUL character")
    # A symlink (or a chain of them) is written through to the file it ends at.
    target = Path(os.path.realpath(raw)) if os.path.islink(raw) else Path(raw)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise UsageError(f"cannot write {raw}: {exc.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise UsageError(
            f"cannot write {raw}: it is a folder", hint="name a file inside it, or another path"
        )
    try:
        if info is not None and not stat.S_ISREG(info.st_mode):
            _write_in_place(target, payload)
        else:
            _write_replacing(target, payload, info)
    except OSError as exc:
        raise UsageError(f"cannot write {raw}: {exc.strerror or exc}") from None


def _write_in_place(target: Path, payload: bytes) -> None:
    # A device or a pipe: what a shell's `>` does (a FIFO waits for its reader, as there).
    fd = os.open(target, os.O_WRONLY | os.O_NOCTTY)
    with os.fdopen(fd, "wb") as fh:
        fh.write(payload)


def _write_replacing(target: Path, payload: bytes, info: os.stat_result | None) -> None:
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(_TEMP_TRIES):
        tmp = folder / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, flags, mode)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 random 48-bit names all taken
        raise OSError(f"no free temporary name beside {target}")
    try:
        with os.fdopen(fd, "wb") as fh:
            if info is not None:
                os.fchmod(fh.fileno(), mode)  # an existing file keeps its mode, umask or not
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
