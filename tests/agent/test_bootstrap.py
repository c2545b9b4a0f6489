"""The child bootstrap, run the way the agent runs it: real Python children with the bootstrap
directory first on PYTHONPATH, importing the real wandb (offline or disabled, no network).

The wandb step rules checked here (commit=False accumulates, an explicit step collects every
call at that step, an earlier step is dropped, pending values are written at finish or exit)
were compared with the history records wandb 0.31.0 itself wrote to an offline run's file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sweepctl.agent.metrics import MetricsTail

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "sweepctl" / "agent" / "bootstrap"
WANDB_TIMEOUT = 300  # wandb starts its service process; slow machines need the room

CAPTURE_INSTALLED = (
    "import sys; print('capture', "
    "sum(bool(getattr(f, '_sweepctl_capture', False)) for f in sys.meta_path))"
)


def child_env(tmp_path: Path, *pythonpath: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SWEEPCTL_", "WANDB_")) and k not in ("PYTHONPATH", "PYTHONSTARTUP")
    }
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (BOOTSTRAP, *pythonpath))
    env.update(
        SWEEPCTL_METRICS_FILE=str(tmp_path / "metrics.jsonl"),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DIR=str(tmp_path),
        WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"),
        WANDB_CACHE_DIR=str(tmp_path / "wandb-cache"),
        WANDB_DATA_DIR=str(tmp_path / "wandb-data"),
    )
    env.update(extra)
    return env


def run_child(
    tmp_path: Path, code: str, env: dict[str, str], *, timeout: float = 60, module: bool = False
) -> subprocess.CompletedProcess[str]:
    """Write `code` to a file in tmp_path and run it as a script (or with `python -m`)."""
    (tmp_path / "child.py").write_text(textwrap.dedent(code))
    argv = [sys.executable, "-m", "child"] if module else [sys.executable, "child.py"]
    return subprocess.run(
        [*argv, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def steps(tmp_path: Path) -> list[dict]:
    """The metrics file's rows without their timestamps."""
    rows = MetricsTail(tmp_path / "metrics.jsonl").read_new()
    for row in rows:
        assert isinstance(row.pop("_timestamp"), float)
    return rows


BRIEF_CHILD = """
    import sys
    import wandb

    try:
        wandb.log({"before": 1})
    except wandb.Error:
        print("log before init raised")
    run = wandb.init(mode="offline", dir=sys.argv[1])
    wandb.log({"loss": 0.5})
    run.log({"loss": 0.25, "acc": 0.9})
    wandb.log({"x": 1}, commit=False)
    wandb.log({"y": 2})
    print("summary loss", run.summary["loss"])
    run.finish()
"""


@pytest.mark.slow
def test_wandb_log_calls_are_written_as_steps(tmp_path: Path) -> None:
    done = run_child(tmp_path, BRIEF_CHILD, child_env(tmp_path), timeout=WANDB_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert steps(tmp_path) == [
        {"loss": 0.5, "_step": 0},
        {"loss": 0.25, "acc": 0.9, "_step": 1},
        {"x": 1, "y": 2, "_step": 2},
    ]
    # wandb's own log still ran, and its own errors still reach the program.
    assert "summary loss 0.25" in done.stdout
    assert "log before init raised" in done.stdout


@pytest.mark.slow
def test_explicit_steps_follow_wandb_and_pending_values_are_written_at_exit(
    tmp_path: Path,
) -> None:
    code = """
        import sys
        import wandb

        run = wandb.init(dir=sys.argv[1])
        wandb.log({"loss": 1.0})
        wandb.log({"a": 1}, step=5)
        run.log({"b": 2}, step=5)
        wandb.log({"c": 3}, step=4)
        wandb.log({"d": 4}, 7)
        # No run.finish(): wandb writes the open step when the interpreter exits; so do we.
    """
    done = run_child(tmp_path, code, child_env(tmp_path), timeout=WANDB_TIMEOUT, module=True)
    assert done.returncode == 0, done.stderr
    assert steps(tmp_path) == [
        {"loss": 1.0, "_step": 0},
        {"a": 1, "b": 2, "_step": 5},
        {"d": 4, "_step": 7},
    ]


@pytest.mark.slow
def test_disabled_wandb_runs_are_captured_too(tmp_path: Path) -> None:
    code = """
        import wandb

        run = wandb.init()
        assert type(run).__name__ == "NoopRun", type(run)
        wandb.log({"loss": 0.5, "nested": {"acc": 0.75}})
        run.log({"loss": 0.25})
        run.finish()
    """
    env = child_env(tmp_path, WANDB_MODE="disabled")
    done = run_child(tmp_path, code, env, timeout=WANDB_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert steps(tmp_path) == [
        {"loss": 0.5, "nested": {"acc": 0.75}, "_step": 0},
        {"loss": 0.25, "_step": 1},
    ]


@pytest.mark.slow
def test_capture_can_be_turned_off(tmp_path: Path) -> None:
    env = child_env(tmp_path, SWEEPCTL_CAPTURE_WANDB="0")
    done = run_child(tmp_path, BRIEF_CHILD, env, timeout=WANDB_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "summary loss 0.25" in done.stdout
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.slow
def test_a_metrics_file_that_cannot_be_written_does_not_break_the_program(
    tmp_path: Path,
) -> None:
    env = child_env(tmp_path, SWEEPCTL_METRICS_FILE=str(tmp_path / "missing" / "m.jsonl"))
    done = run_child(tmp_path, BRIEF_CHILD, env, timeout=WANDB_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "summary loss 0.25" in done.stdout
    assert "Traceback" not in done.stderr


def test_a_child_that_never_imports_wandb_is_unaffected(tmp_path: Path) -> None:
    code = f"""
        import sys
        {CAPTURE_INSTALLED}
        print("loaded", "wandb" in sys.modules, "_sweepctl_bootstrap_metrics" in sys.modules)
        print("args", sys.argv[1:])
        sys.stderr.write("to stderr\\n")
        sys.exit(3)
    """
    done = run_child(tmp_path, code, child_env(tmp_path))
    assert done.returncode == 3
    assert done.stdout.splitlines() == [
        "capture 1",
        "loaded False False",
        f"args [{str(tmp_path)!r}]",
    ]
    assert done.stderr == "to stderr\n"
    assert not (tmp_path / "metrics.jsonl").exists()


def test_nothing_is_installed_outside_a_sweep(tmp_path: Path) -> None:
    env = child_env(tmp_path)
    del env["SWEEPCTL_METRICS_FILE"]
    done = run_child(tmp_path, CAPTURE_INSTALLED, env)
    assert (done.returncode, done.stdout, done.stderr) == (0, "capture 0\n", "")


def write_user_sitecustomize(directory: Path, body: str) -> Path:
    directory.mkdir()
    (directory / "sitecustomize.py").write_text(textwrap.dedent(body))
    return directory


USER_SITECUSTOMIZE = """
    import os

    with open(os.environ["MARKER"], "a") as f:
        f.write(__name__ + "\\n")
    USER_VALUE = 42
"""


def test_a_users_sitecustomize_still_runs(tmp_path: Path) -> None:
    user = write_user_sitecustomize(tmp_path / "user", USER_SITECUSTOMIZE)
    marker = tmp_path / "marker"
    code = f"""
        import sitecustomize
        print(sitecustomize.__file__, sitecustomize.USER_VALUE)
        {CAPTURE_INSTALLED}
    """
    done = run_child(tmp_path, code, child_env(tmp_path, user, MARKER=str(marker)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{user / 'sitecustomize.py'} 42", "capture 1"]
    assert marker.read_text() == "sitecustomize\n"


def test_a_second_bootstrap_on_the_path_chains_once_and_captures_once(tmp_path: Path) -> None:
    # A nested agent, or a second sweepctl install, puts its own bootstrap on the path too.
    other = tmp_path / "other-bootstrap"
    other.mkdir()
    (other / "sitecustomize.py").write_bytes((BOOTSTRAP / "sitecustomize.py").read_bytes())
    user = write_user_sitecustomize(tmp_path / "user", USER_SITECUSTOMIZE)
    marker = tmp_path / "marker"
    env = child_env(tmp_path, BOOTSTRAP, other, user, MARKER=str(marker))
    done = run_child(tmp_path, CAPTURE_INSTALLED, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "capture 1\n"
    assert marker.read_text() == "sitecustomize\n"


def test_an_error_in_a_users_sitecustomize_is_reported_as_python_reports_it(
    tmp_path: Path,
) -> None:
    user = write_user_sitecustomize(tmp_path / "user", "raise RuntimeError('boom')\n")
    code = "print('program ran')"
    with_us = run_child(tmp_path, code, child_env(tmp_path, user))
    env = child_env(tmp_path)
    env["PYTHONPATH"] = str(user)
    without_us = run_child(tmp_path, code, env)
    assert "Error in sitecustomize" in without_us.stderr
    assert (with_us.returncode, with_us.stdout, with_us.stderr) == (
        without_us.returncode,
        without_us.stdout,
        without_us.stderr,
    )


def test_sweepctl_log_in_a_child_writes_steps(tmp_path: Path) -> None:
    code = """
        import sweepctl

        sweepctl.log({"loss": 0.5})
        sweepctl.log({"loss": 0.25, "acc": 0.9}, step=3)
        sweepctl.log({"loss": 0.125})
    """
    done = run_child(tmp_path, code, child_env(tmp_path, REPO))
    assert done.returncode == 0, done.stderr
    assert steps(tmp_path) == [
        {"loss": 0.5, "_step": 0},
        {"loss": 0.25, "acc": 0.9, "_step": 3},
        {"loss": 0.125, "_step": 4},
    ]
