"""Function runs in worker processes: ``python -m sweepctl.agent.call module:function``.

With ``workers`` or ``gpus``, a function agent runs each call in a child process of its own,
as the CLI agent runs a program (one GPU group per worker, in ``CUDA_VISIBLE_DEVICES``). A
child cannot be handed a function object, only its name: a function importable as
``module:function``. The child reads its config as any run does (``wandb.init()``,
``sweepctl.init()``), and the bootstrap captures its ``wandb.log``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from sweepctl.errors import UsageError

MODULE = "sweepctl.agent.call"


def target_name(function: Callable[[], Any] | str) -> str:
    """``module:function`` for a function that a worker process can import by name."""
    if isinstance(function, str):
        resolve(function)  # said here, not by every worker
        return function
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    shown = qualname or repr(function)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        where = "in a notebook or the main script" if module == "__main__" else "inside a function"
        raise UsageError(
            f"function {shown!r} cannot be sent to worker processes: it is defined {where}, "
            "and a worker can only import a function by name",
            hint="move it into a module and pass its name, e.g. function='train_lib:train'; "
            "or run it in this process with workers=1 and no gpus",
        )
    name = f"{module}:{qualname}"
    resolve(name)
    return name


def resolve(target: str) -> Callable[[], Any]:
    """The function that ``module:function`` names (``module:Class.method`` works too)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(
            f"function {target!r} is not of the form 'module:function'",
            hint="e.g. 'train_lib:train' for def train() in train_lib.py",
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does for the worker
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(
            f"cannot import module {module_name!r} for function {target!r}: {exc}",
            hint="run from the folder that holds the module, or install it",
        ) from None
    for part in attr.split("."):
        if not hasattr(found, part):
            raise UsageError(f"module {module_name!r} has no {attr!r}", hint=f"check {target!r}")
        found = getattr(found, part)
    if not callable(found):
        raise UsageError(f"{target!r} is not a function")
    return found


def command(target: str) -> tuple[str, ...]:
    """The argv that runs ``target`` once, as a run's program."""
    return (sys.executable, "-m", MODULE, target)


def import_root(target: str) -> str | None:
    """The folder a worker must have on its path to import ``target``'s module."""
    module = sys.modules.get(target.partition(":")[0].split(".")[0])
    file = getattr(module, "__file__", None)
    if not file:
        return None
    folder = os.path.dirname(os.path.abspath(file))
    return os.path.dirname(folder) if os.path.basename(file) == "__init__.py" else folder


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write(f"usage: python -m {MODULE} module:function\n")
        return 2
    try:
        function = resolve(argv[0])
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    function()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
