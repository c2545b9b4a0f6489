"""The one place that decides where a sweep lives: parse a reference, pick its backend.

A reference shaped ``entity/project/id`` (optionally ``wandb:``-prefixed) names a sweep on
W&B; anything else (an id, a unique prefix, a name) names a sweep in the local store. No
other module asks which kind a reference is.

The backends are imported when one is opened: the local one pulls in SQLAlchemy, and
``sweepctl --help`` and ``sweepctl validate`` must stay free of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sweepctl.backends.base import Backend
from sweepctl.backends.wandb.client import SweepPath, parse_path
from sweepctl.errors import UsageError

Controller = Literal["local", "wandb"]
CONTROLLERS: tuple[str, ...] = ("local", "wandb")


@dataclass(frozen=True)
class SweepRef:
    """A sweep reference as the user typed it, parsed once."""

    text: str
    wandb_path: SweepPath | None = None

    @property
    def controller(self) -> Controller:
        return "wandb" if self.wandb_path is not None else "local"

    def __str__(self) -> str:
        return str(self.wandb_path) if self.wandb_path is not None else self.text


def parse_ref(text: str) -> SweepRef:
    """Parse ``text`` into a :class:`SweepRef`; W&B paths are recognised here only.

    An empty or blank reference is an error: as a prefix it would match every sweep, so an
    ``agent "$id"`` after a failed ``create`` would run another sweep.
    """
    if not text.strip():
        raise UsageError(
            f"the sweep reference is {'empty' if not text else 'blank'}",
            hint="give a sweep id, its unique prefix or its name (`sweepctl ls` lists them)",
        )
    return SweepRef(text=text, wandb_path=parse_path(text))


def is_wandb(ref: str | SweepRef) -> bool:
    """Whether ``ref`` names a sweep on W&B."""
    parsed = ref if isinstance(ref, SweepRef) else parse_ref(ref)
    return parsed.controller == "wandb"


def open_local(storage: str | None = None, *, create: bool = False):
    """The local backend over the store named by ``storage`` (or found from here)."""
    from sweepctl.backends.local.backend import LocalBackend

    return LocalBackend(storage, create=create)


def open_wandb(*, entity: str | None = None, project: str | None = None):
    """The W&B backend (it connects when first used)."""
    from sweepctl.backends.wandb.backend import WandbBackend

    return WandbBackend(entity=entity, project=project)


def for_controller(
    controller: str,
    *,
    storage: str | None = None,
    create: bool = False,
    entity: str | None = None,
    project: str | None = None,
) -> Backend:
    """The backend that ``--controller`` names, for creating a sweep."""
    if controller not in CONTROLLERS:
        raise UsageError(f"unknown controller {controller!r}", hint="local or wandb")
    if controller == "wandb":
        return open_wandb(entity=entity, project=project)
    return open_local(storage, create=create)


def open_backend(ref: str | SweepRef, storage: str | None = None) -> Backend:
    """The backend that holds the sweep ``ref`` names."""
    parsed = ref if isinstance(ref, SweepRef) else parse_ref(ref)
    if is_wandb(parsed):
        return open_wandb()
    return open_local(storage)


def open_sweep(ref: str | SweepRef, storage: str | None = None):
    """The backend and the sweep that ``ref`` names."""
    backend = open_backend(ref, storage)
    return backend, backend.get_sweep(str(ref))


def require_local(ref: str | SweepRef, why: str) -> None:
    """Refuse a W&B reference for something only local sweeps can do (``why`` says what)."""
    if is_wandb(ref):
        raise UsageError(f"{ref} is on W&B already", hint=why)
