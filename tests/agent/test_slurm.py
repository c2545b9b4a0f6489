"""`agent --slurm` without a cluster: the batch script's quoting, sbatch's command line, the
checks made before anything is submitted, and what reaches sbatch (a stand-in `sbatch` on
PATH that records its arguments and environment). The real cluster is in tests/slurm/."""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from postgres_server import fresh_schema, schema_url

from sweepctl.agent import slurm
from sweepctl.errors import UsageError
from sweepctl.records import Sweep

SWEEP = Sweep(
    id="abc123",
    name="lr\nsearch",
    project=None,
    entity=None,
    method="grid",
    state="running",
    state_reason=None,
    config={},
    source=None,
    created_at=0.0,
    updated_at=0.0,
)
BIN = str(Path(sys.executable).parent)


def test_the_batch_script_quotes_every_value(tmp_path):
    """Run the script itself with bash: the folder and the arguments arrive byte for byte,
    and nothing in them is executed."""
    folder = tmp_path / "it's a $(touch pwned) `dir`"
    folder.mkdir()
    args = ["a b", "$(touch pwned)", "it's", "--x=${HOME}", ";", "\\"]
    argv = [
        sys.executable,
        "-c",
        "import os, sys, json; print(json.dumps([os.getcwd(), sys.argv[1:]]))",
        *args,
    ]
    script = slurm.batch_script(SWEEP, cwd=folder, argv=argv)
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [str(folder), args]
    assert not list(tmp_path.rglob("pwned"))
    assert "lr search (abc123)" in script  # a name's line break stays out of the comment


def test_sbatch_options_and_what_slurm_opt_may_replace(tmp_path):
    request = slurm.SlurmRequest(
        tasks=3,
        gpus_per_task=2,
        partition="gpu",
        time="4:00:00",
        mem="16G",
        cpus_per_task=4,
        options=("account=proj x", "exclusive", "signal=B:TERM@600"),
    )
    argv = slurm.sbatch_argv(
        SWEEP, request, output="/o/%A_%a.out", cwd=tmp_path, script=Path("/s.sh")
    )
    assert argv[:2] == ["sbatch", "--parsable"] and argv[-1] == "/s.sh"
    assert set(argv[2:-1]) == {
        "--job-name=sweepctl-abc123",
        "--array=0-2",
        "--output=/o/%A_%a.out",
        "--open-mode=append",
        f"--chdir={tmp_path}",
        "--export=ALL",
        "--requeue",
        "--signal=B:TERM@600",  # the user's, instead of sweepctl's 120 s
        "--partition=gpu",
        "--time=4:00:00",
        "--mem=16G",
        "--cpus-per-task=4",
        "--gres=gpu:2",
        "--account=proj x",  # one argument: no shell ever splits it
        "--exclusive",
    }


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("array=0-9", "use --array N"),
        ("output=/tmp/x.out", "goes to the store's folder"),
        ("export=NONE", "need the submitting environment"),
        ("bad key=1", "expected KEY=VALUE"),
        ("=1", "expected KEY=VALUE"),
        ("comment=a\nb", "cannot span lines"),
    ],
)
def test_slurm_opt_refusals(option, message):
    with pytest.raises(UsageError, match=message):
        slurm.option_flag(option)


def test_gpu_options_must_fit_the_tasks():
    class Store:
        is_sqlite = False
        url = "postgresql://x@h/db"

    with pytest.raises(UsageError, match="cannot be split into runs of --gpus-per-run 2"):
        slurm.check(Store(), slurm.SlurmRequest(gpus_per_task=3), slurm.TaskAgent(gpus_per_run=2))
    with pytest.raises(UsageError, match="ask SLURM for them with --gpus-per-task"):
        slurm.check(Store(), slurm.SlurmRequest(), slurm.TaskAgent(gpus="0,1"))
    with pytest.raises(UsageError, match="--gpus-per-run with --slurm splits a task's own"):
        slurm.check(Store(), slurm.SlurmRequest(), slurm.TaskAgent(gpus_per_run=2))
    with pytest.raises(UsageError, match="--array must be at least 1"):
        slurm.check(Store(), slurm.SlurmRequest(tasks=0), slurm.TaskAgent())


def test_task_identity_reads_slurms_variables():
    env = {"SLURM_ARRAY_JOB_ID": "77", "SLURM_JOB_ID": "80", "SLURM_ARRAY_TASK_ID": "3"}
    assert slurm.task_identity(env) == {"slurm_job": "77", "slurm_task": 3}
    assert slurm.task_identity({"SLURM_JOB_ID": "9"}) == {"slurm_job": "9", "slurm_task": None}
    assert slurm.task_identity({}) == {"slurm_job": None, "slurm_task": None}


# -- through the real CLI, with a stand-in sbatch ----------------------------------------------

FAKE_SBATCH = """#!/bin/sh
python3 - "$@" <<'PY'
import json, os, sys
record = {"argv": sys.argv[1:], "storage": os.environ.get("SWEEPCTL_STORAGE")}
record["script"] = open(sys.argv[-1]).read()
open(os.environ["FAKE_SBATCH_LOG"], "w").write(json.dumps(record))
PY
echo "sbatch: warning: a note SLURM printed first"
echo "4242"
"""


def _sweepctl(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sweepctl", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "sweep.yaml").write_text(
        "program: train.py\nmethod: grid\nparameters:\n  x: {values: [1, 2]}\n"
    )
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sbatch").write_text(FAKE_SBATCH)
    (fake / "sbatch").chmod(0o755)
    env = dict(os.environ, FAKE_SBATCH_LOG=str(tmp_path / "sbatch.json"))
    env["PATH"] = os.pathsep.join([str(fake), BIN, env.get("PATH", "")])
    env["SWEEPCTL_STORAGE"] = f"sqlite:///{tmp_path / 's' / 'sweepctl.db'}"
    return tmp_path, env


def test_slurm_options_without_slurm_and_sqlite_without_leave_are_refused(workspace):
    root, env = workspace
    sweep_id = _sweepctl(root, env, "create", "sweep.yaml", "-q").stdout.strip()
    alone = _sweepctl(root, env, "agent", sweep_id, "--array", "3")
    assert alone.returncode == 2 and "--array goes with --slurm" in alone.stderr
    sqlite = _sweepctl(root, env, "agent", sweep_id, "--slurm", "--dry-run")
    assert sqlite.returncode == 2
    assert "error: --slurm needs a PostgreSQL store; this sweep is in SQLite" in sqlite.stderr
    assert not (root / "sbatch.json").exists()


def test_dry_run_prints_the_script_and_submits_nothing(workspace):
    root, env = workspace
    sweep_id = _sweepctl(root, env, "create", "sweep.yaml", "-q").stdout.strip()
    shown = _sweepctl(
        root, env, "agent", sweep_id, "--slurm", "--slurm-allow-sqlite", "--array", "4",
        "--gpus-per-task", "2", "--count", "5", "--dry-run",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    first, *script = shown.stdout.splitlines()
    assert first.startswith("# would run: sbatch --parsable ")
    assert "--array=0-3" in shlex.split(first) and "--gres=gpu:2" in shlex.split(first)
    assert script[0] == "#!/bin/bash"
    assert shlex.split(script[-1])[-6:] == ["agent", sweep_id, "--count", "5", "--gpus", "all"]
    assert not (root / "sbatch.json").exists()
    assert not (root / "s" / "slurm").exists()


def test_submitting_hands_sbatch_the_store_in_the_environment_only(workspace):
    root, env = workspace
    with fresh_schema("sweepctl_fake_sbatch") as (base, schema):
        # The server trusts local connections, so any password works: it must never be written.
        user = base.split("//", 1)[1].split("@", 1)[0]
        url = schema_url(base.replace(f"//{user}@", f"//{user}:s3cret@"), schema)
        env = dict(env, SWEEPCTL_STORAGE=url)
        sweep_id = _sweepctl(root, env, "create", "sweep.yaml", "-q").stdout.strip()
        done = _sweepctl(root, env, "agent", sweep_id, "--slurm", "--array", "2", "--json")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["job_id"] == "4242" and result["tasks"] == 2
        seen = json.loads((root / "sbatch.json").read_text())
        # The tasks get the store, password included, through the environment only.
        assert f"{user}:s3cret@" in seen["storage"] and schema in seen["storage"]
        assert "s3cret" not in seen["script"] and "s3cret" not in " ".join(seen["argv"])
        assert "s3cret" not in done.stdout + done.stderr
        kept = root / ".sweepctl" / "slurm" / sweep_id / "4242.sh"
        assert kept.read_text() == seen["script"]
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert json.loads(_sweepctl(root, env, "ls", "--json").stdout)[0]["slurm_jobs"] == ["4242"]


def test_without_sbatch_it_says_so(workspace):
    root, env = workspace
    env = dict(env, PATH=BIN)
    sweep_id = _sweepctl(root, env, "create", "sweep.yaml", "-q").stdout.strip()
    missing = _sweepctl(root, env, "agent", sweep_id, "--slurm", "--slurm-allow-sqlite")
    assert missing.returncode == 2
    assert "sbatch not found" in missing.stderr and "Traceback" not in missing.stderr
    assert not list((root / "s" / "slurm" / sweep_id).glob("*.sh"))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("5:30", 330),
        ("12:00:00", 43200),
        ("2-3", 183600),
        ("1-2:30", 95400),
        ("1-0:0:5", 86405),
        ("UNLIMITED", None),
    ],
)
def test_slurm_time_forms(text, seconds):
    assert slurm.slurm_seconds(text) == seconds


def test_the_warning_comes_two_minutes_ahead_or_a_quarter_of_a_short_limit():
    assert slurm.signal_lead(slurm.SlurmRequest()) == 120
    assert slurm.signal_lead(slurm.SlurmRequest(time="4:00:00")) == 120
    assert slurm.signal_lead(slurm.SlurmRequest(time="2")) == 30
    assert slurm.signal_lead(slurm.SlurmRequest(options=("signal=B:TERM@600",))) == 600
    assert slurm.signal_lead(slurm.SlurmRequest(time="4:00:00", options=("time=4",))) == 60


def test_run_time_must_fit_the_time_limit():
    class Store:
        is_sqlite = False
        url = "postgresql://x@h/db"

    with pytest.raises(
        UsageError, match=r"--run-time 100s does not fit in the 120s time limit \(with the 30s"
    ):
        slurm.check(Store(), slurm.SlurmRequest(time="2"), slurm.TaskAgent(run_time=100))
    with pytest.raises(UsageError, match="not a SLURM time"):
        slurm.check(Store(), slurm.SlurmRequest(time="2h"), slurm.TaskAgent())
