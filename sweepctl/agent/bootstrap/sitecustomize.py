"""sweepctl's bootstrap for a run's Python child: capture `wandb.log` into the metrics file.

The agent puts this directory first on the child's PYTHONPATH, so Python's `site` imports this
module at startup. It does two things and nothing else:

1. Unless `SWEEPCTL_CAPTURE_WANDB` is 0/false/no/off or `SWEEPCTL_METRICS_FILE` is unset, it
   installs an import hook. Only when the child imports wandb does the hook load the capture
   (`WandbCapture` in `../metrics.py`, by path) and patch `Run.log` (and the no-op run of
   `mode="disabled"`) so that every committed wandb step is also appended to the metrics file.
   wandb itself is never imported from here; until it is imported by the program, the hook
   costs one dict lookup per import.
2. It runs the `sitecustomize` that Python would have found without us (a later sys.path
   entry), as the module `sitecustomize`, so a user's or a distribution's one still works.

Every Python child pays for this file at its start, compiled from source wherever no bytecode
cache can be written (PYTHONDONTWRITEBYTECODE), so it stays this small: the capture code is
read only by children that import wandb.

`python -S` and `python -I` skip sitecustomize or PYTHONPATH, and so skip the capture.
This file runs under whatever Python the child uses: standard library only, nothing from
the sweepctl package except `../metrics.py`, which is loaded by path when wandb is imported.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# wandb module → the run classes in it whose `log` and `finish` we wrap (metrics.py's
# WANDB_RUN_CLASSES, copied so that no other import reads that file).
_TARGETS = {
    "wandb.sdk.wandb_run": ("Run",),
    "wandb.sdk.lib.noop_run": ("NoopRun",),
}
_MARK = "_sweepctl_capture"
_METRICS_MODULE = "_sweepctl_bootstrap_metrics"


def _capture_enabled():
    flag = os.environ.get("SWEEPCTL_CAPTURE_WANDB", "").strip().lower()
    return flag not in ("0", "false", "no", "off") and bool(os.environ.get("SWEEPCTL_METRICS_FILE"))


def _metrics():
    """../metrics.py, loaded by path (once: at the first wandb import), for its capture."""
    module = sys.modules.get(_METRICS_MODULE)
    if module is None:
        from importlib.util import module_from_spec, spec_from_file_location

        spec = spec_from_file_location(
            _METRICS_MODULE, os.path.join(os.path.dirname(_HERE), "metrics.py")
        )
        module = module_from_spec(spec)
        sys.modules[_METRICS_MODULE] = module
        spec.loader.exec_module(module)
    return module


class _WandbFinder:
    """A meta path finder that only ever acts on the wandb modules in `_TARGETS`."""

    _sweepctl_capture = True

    def __init__(self, path):
        self._path = path
        self._capture = None

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _TARGETS:
            return None
        try:
            return _metrics().patching_spec(self, fullname, path, target, self.patch)
        except Exception:
            return None

    def invalidate_caches(self):
        pass

    def patch(self, fullname, module):
        if self._capture is None:
            self._capture = _metrics().WandbCapture(self._path)
        self._capture.patch_module(module, _TARGETS[fullname])


def _install_capture():
    if any(getattr(finder, _MARK, False) for finder in sys.meta_path):
        return  # another copy of this bootstrap (a nested agent) is already capturing
    finder = _WandbFinder(os.path.abspath(os.environ["SWEEPCTL_METRICS_FILE"]))
    sys.meta_path.insert(0, finder)
    for fullname in _TARGETS:
        if fullname in sys.modules:  # imported by a .pth file before us
            finder.patch(fullname, sys.modules[fullname])


def _next_sitecustomize():
    """The spec of the `sitecustomize` on a sys.path entry after ours, or None."""
    from importlib.machinery import PathFinder

    def same_dir(entry):
        try:
            return os.path.samefile(entry or os.curdir, _HERE)
        except OSError:
            return False

    path = list(sys.path)
    ours = [i for i, entry in enumerate(path) if same_dir(entry)]
    later = [entry for entry in path[ours[0] + 1 if ours else 0 :] if not same_dir(entry)]
    spec = PathFinder.find_spec("sitecustomize", later)
    return spec if spec is not None and spec.loader is not None else None


def _run_as_sitecustomize(spec):
    from importlib.util import module_from_spec

    module = module_from_spec(spec)
    # The other module becomes `sitecustomize`; its errors reach `site`, which reports them
    # exactly as it would have without us.
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


try:
    if _capture_enabled():
        _install_capture()
    _next = _next_sitecustomize()
except Exception:
    _next = None
if _next is not None:
    _run_as_sitecustomize(_next)
