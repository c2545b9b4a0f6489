"""sweepctl's bootstrap for a run's Python child: capture `wandb.log` into the metrics file.

The agent puts this directory first on the child's PYTHONPATH, so Python's `site` imports this
module at startup. It does two things and nothing else:

1. Unless `SWEEPCTL_CAPTURE_WANDB` is 0/false/no/off or `SWEEPCTL_METRICS_FILE` is unset, it
   installs an import hook. Only when the child imports wandb does the hook patch
   `Run.log` (and the no-op run of `mode="disabled"`) so that every committed wandb step is
   also appended to the metrics file. wandb itself is never imported from here; until it is
   imported by the program, the hook costs one dict lookup per import.
2. It runs the `sitecustomize` that Python would have found without us (a later sys.path
   entry), as the module `sitecustomize`, so a user's or a distribution's one still works.

`python -S` and `python -I` skip sitecustomize or PYTHONPATH, and so skip the capture.
This file runs under whatever Python the child uses: standard library only, nothing from
the sweepctl package except `../metrics.py`, which is loaded by path when wandb is imported.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_METRICS_PY = os.path.join(os.path.dirname(_HERE), "metrics.py")
# wandb module → the run classes in it whose `log` and `finish` we wrap.
_TARGETS = {
    "wandb.sdk.wandb_run": ("Run",),
    "wandb.sdk.lib.noop_run": ("NoopRun",),
}
_MARK = "_sweepctl_capture"


def _capture_enabled():
    flag = os.environ.get("SWEEPCTL_CAPTURE_WANDB", "").strip().lower()
    return flag not in ("0", "false", "no", "off") and bool(os.environ.get("SWEEPCTL_METRICS_FILE"))


class _Capture:
    """Turns wandb's log calls into metrics-file steps, following wandb's step rules.

    Per run: values accumulate for the current step; a call with `commit` true (the default
    when no `step` is given) writes the step and moves to the next one; `step=` larger than
    the current step writes what was pending and jumps there; a smaller one is dropped, as
    wandb drops it. Whatever is pending is written at `finish()` or at interpreter exit.
    """

    def __init__(self, path):
        import atexit
        import contextlib
        import functools
        import importlib.util
        import threading
        import weakref

        self._path = path
        self._wraps = functools.wraps
        self._suppress = contextlib.suppress
        self._lock = threading.RLock()
        self._local = threading.local()
        self._runs = weakref.WeakKeyDictionary()  # run → [step, pending values]
        spec = importlib.util.spec_from_file_location("_sweepctl_bootstrap_metrics", _METRICS_PY)
        self._metrics = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = self._metrics
        spec.loader.exec_module(self._metrics)
        atexit.register(self._flush_all)

    def patch_module(self, module, class_names):
        for class_name in class_names:
            cls = getattr(module, class_name, None)
            if cls is None:
                continue
            for method, wrap in (("log", self._wrap_log), ("finish", self._wrap_finish)):
                original = cls.__dict__.get(method)
                if callable(original) and not getattr(original, _MARK, False):
                    setattr(cls, method, wrap(original))

    def _wrap_log(self, original):
        capture = self

        @self._wraps(original)
        def log(run, *args, **kwargs):
            local = capture._local
            outer = not getattr(local, "active", False)
            local.active = True
            try:
                result = original(run, *args, **kwargs)
            finally:
                if outer:
                    local.active = False
            # Only a call that wandb accepted is recorded, and only the outermost one.
            if outer:
                with capture._suppress(Exception):
                    capture._on_log(run, args, kwargs)
            return result

        setattr(log, _MARK, True)
        return log

    def _wrap_finish(self, original):
        capture = self

        @self._wraps(original)
        def finish(run, *args, **kwargs):
            with capture._suppress(Exception):
                capture._flush_run(run)
            return original(run, *args, **kwargs)

        setattr(finish, _MARK, True)
        return finish

    def _on_log(self, run, args, kwargs):
        data = args[0] if args else kwargs.get("data")
        step = args[1] if len(args) > 1 else kwargs.get("step")
        commit = args[2] if len(args) > 2 else kwargs.get("commit")
        if not hasattr(data, "items"):
            return
        with self._lock:
            state = self._runs.get(run)
            if state is None:
                try:
                    first = int(getattr(run, "_starting_step", 0) or 0)
                except Exception:
                    first = 0
                state = self._runs[run] = [first, {}]
            if step is not None:
                step = int(step)
                if step < state[0]:
                    return
                if step > state[0]:
                    self._write(state)
                    state[0] = step
            for key, value in data.items():
                state[1][str(key)] = self._metrics.jsonable(value)
            if (step is None) if commit is None else commit:
                self._write(state)
                state[0] += 1

    def _write(self, state):
        step, pending = state
        if pending:
            state[1] = {}
            pending["_step"] = step
            self._metrics.append(self._path, pending)

    def _flush_run(self, run):
        with self._lock:
            state = self._runs.pop(run, None)
            if state is not None:
                self._write(state)

    def _flush_all(self):
        try:
            with self._lock:
                states = list(self._runs.values())
                self._runs.clear()
                for state in states:
                    self._write(state)
        except Exception:
            pass


class _PatchingLoader:
    """Runs the real loader, then hands the loaded module to the capture."""

    def __init__(self, loader, on_loaded):
        self._loader = loader
        self._on_loaded = on_loaded

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            module.__loader__ = self._loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self._loader
            self._on_loaded(module)
        except Exception:
            pass


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
            return self._wrapped_spec(fullname, path, target)
        except Exception:
            return None

    def invalidate_caches(self):
        pass

    def _wrapped_spec(self, fullname, path, target):
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _PatchingLoader(spec.loader, lambda module: self.patch(fullname, module))
        return spec

    def patch(self, fullname, module):
        if self._capture is None:
            self._capture = _Capture(self._path)
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
