"""Modules loaded on first use, for the command line's start-up."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """The module ``name``, executed when one of its attributes is first used.

    The library (the API, the sweep-file checks, the backends, the views) is tens of
    milliseconds of imports that `sweepctl --help` and a mistyped option should not wait
    for. tests/test_structure.py counts each call as a module-level import of ``name``.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
