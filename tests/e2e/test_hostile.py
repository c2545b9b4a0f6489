"""Hostile input and shared machines, through the real CLI (issue 24): each test is one of the
issue's reproductions, and fails on the code before its fix."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from .conftest import BIN, Workspace

pytestmark = pytest.mark.slow

# A finished sweep whose name and values are hostile: a name that would end a YAML comment and
# start a live key, and a value that a shell would run.
NASTY_NAME = "exp\ncommand: [touch, INJECTED]\n#"
NASTY_VALUE = "$(touch PWNED) `touch PWNED2` ';touch PWNED3;' \\"
CONFIG = {"lr": 0.1, "tag": NASTY_VALUE}
FINISHED = f"""
name: {json.dumps(NASTY_NAME)}
program: prog.py
method: grid
metric: {{name: loss, goal: minimize}}
parameters:
  lr: {{values: [0.1]}}
  tag: {{value: {json.dumps(NASTY_VALUE)}}}
"""
# Two names that are one shell variable, and a value with a line break.
COLLIDING = """
program: prog.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  a.b: {value: 1}
  a_b: {value: 2}
"""
MULTILINE = """
program: prog.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  note: {value: "one\\nPATH=/nowhere"}
"""

PROG = """
import sweepctl
sweepctl.log({"loss": 1.0})
"""


def workspace(root: Path) -> Workspace:
    """A workspace on a real SQLite file under ``root``."""
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(root))
    for key in ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "SWEEPCTL_METRICS_FILE"):
        env.pop(key, None)
    url = f"sqlite:///{root / 'store' / 'sweepctl.db'}"
    env["SWEEPCTL_STORAGE"] = url
    return Workspace(root, env, url)


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> tuple[Workspace, dict[str, str]]:
    """A store with finished sweeps (one run each), shared by the tests that read results."""
    ws = workspace(tmp_path_factory.mktemp("done"))
    ws.file("prog.py", PROG)
    sweeps = {}
    for key, text in {"nasty": FINISHED, "colliding": COLLIDING, "multiline": MULTILINE}.items():
        ws.file(f"{key}.yaml", text)
        sweeps[key] = ws.create(f"{key}.yaml")
        ws.run("agent", sweeps[key])
    return ws, sweeps


@pytest.fixture
def out(done, tmp_path: Path) -> tuple[Workspace, str]:
    """The finished sweep's store, used from a fresh folder of this test's own."""
    ws, sweeps = done
    return Workspace(tmp_path, ws.env, ws.url), sweeps["nasty"]


# -- 1. --out writes only what was named ------------------------------------------------------


def test_out_never_follows_a_planted_temp_symlink(out):
    ws, sweep = out
    precious = ws.file("precious.txt", "keep\n")
    (ws.root / "victim.json.tmp").symlink_to(precious)
    ws.run("export-best", sweep, "--out", "victim.json")
    assert precious.read_text() == "keep\n"
    assert json.loads((ws.root / "victim.json").read_text()) == CONFIG


def test_out_writes_through_a_symlink_and_keeps_it(out):
    ws, sweep = out
    real = ws.file("real.json", "old\n")
    link = ws.root / "link.json"
    link.symlink_to("real.json")
    ws.run("export-best", sweep, "--out", "link.json")
    assert link.is_symlink()
    assert json.loads(real.read_text())["lr"] == 0.1


def test_out_to_a_device_writes_to_it_and_leaves_it_a_device(out):
    ws, sweep = out
    ws.run("export-best", sweep, "--out", os.devnull)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_out_to_a_fifo_writes_into_the_pipe(out):
    ws, sweep = out
    fifo = ws.root / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    ws.run("export-best", sweep, "--out", "pipe")
    reader.join(timeout=60)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert json.loads(got[0]) == CONFIG


@pytest.mark.parametrize("command", ["export-best", "export", "refine"])
def test_out_naming_a_folder_is_a_clear_error(out, command):
    ws, sweep = out
    (ws.root / "d").mkdir()
    target = "d/runs.csv" if command == "export" else "d"
    (ws.root / "d" / "runs.csv").mkdir()
    proc = ws.run(command, sweep, "--out", target, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "is a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in ws.root.iterdir()) == ["d"]  # no d.tmp left beside it
    assert sorted(p.name for p in (ws.root / "d").iterdir()) == ["runs.csv"]


def test_out_ending_in_a_slash_is_a_clear_error(out):
    ws, sweep = out
    proc = ws.run("export-best", sweep, "--out", "newdir/", check=False)
    assert proc.returncode == 2
    assert "ends in '/'" in proc.stderr
    assert not (ws.root / "newdir").exists()


def test_out_modes_new_files_as_a_shell_would_and_keeps_an_existing_mode(out):
    ws, sweep = out
    umask = os.umask(0)
    os.umask(umask)
    ws.run("export-best", sweep, "--out", "new.json")
    assert stat.S_IMODE(os.stat(ws.root / "new.json").st_mode) == 0o666 & ~umask
    kept = ws.file("kept.json", "{}")
    kept.chmod(0o600)
    ws.run("export-best", sweep, "--out", "kept.json")
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    assert json.loads(kept.read_text())["lr"] == 0.1


# -- 3 and 4. every file written by a serializer for its format --------------------------------


def test_refine_keeps_a_hostile_sweep_name_inside_its_comment(out):
    ws, sweep = out
    ws.run("refine", sweep, "--out", "refined.yaml")
    text = (ws.root / "refined.yaml").read_text()
    refined = yaml.safe_load(text)
    assert "command" not in refined  # the name did not become a live key
    assert refined["name"] == NASTY_NAME + "-refined"
    assert "\\ncommand: [touch, INJECTED]\\n#" in text.splitlines()[0]  # shown, escaped
    # The refined file is a valid sweep whose runs would not touch anything.
    assert ws.run("validate", "refined.yaml").returncode == 0


def test_env_export_sourced_by_a_shell_runs_nothing_and_reads_back(out):
    ws, sweep = out
    ws.run("export-best", sweep, "--out", "best.env")
    before = set(os.listdir(ws.root))
    shown = subprocess.run(
        ["sh", "-c", '. ./best.env && printf "%s\\0%s" "$lr" "$tag"'],
        cwd=ws.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(os.listdir(ws.root)) == before  # no PWNED file
    assert shown.split("\0") == ["0.1", NASTY_VALUE]


def test_args_export_read_by_a_shell_gives_the_values_back(out):
    ws, sweep = out
    ws.run("export-best", sweep, "--format", "args", "--out", "best.args")
    before = set(os.listdir(ws.root))
    shown = subprocess.run(
        ["sh", "-c", 'eval "set -- $(cat best.args)"; printf "%s\\0" "$@"'],
        cwd=ws.root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert set(os.listdir(ws.root)) == before
    assert shown.split("\0")[:-1] == ["--lr=0.1", f"--tag={NASTY_VALUE}"]


def test_env_export_refuses_names_that_collide(done, tmp_path):
    ws, sweeps = done
    proc = Workspace(tmp_path, ws.env, ws.url).run(
        "export-best", sweeps["colliding"], "--format", "env", check=False
    )
    assert proc.returncode == 2
    assert "'a.b' and 'a_b' would both be the variable a_b" in proc.stderr


def test_env_export_refuses_a_value_with_a_line_break(done, tmp_path):
    ws, sweeps = done
    proc = Workspace(tmp_path, ws.env, ws.url).run(
        "export-best", sweeps["multiline"], "--format", "env", check=False
    )
    assert proc.returncode == 2
    assert "line break" in proc.stderr and "--format json" in proc.stderr


# -- 6. an empty sweep reference is an error ---------------------------------------------------

EMPTY_REF_COMMANDS = [
    ("agent", "--count", "1"),
    ("runs",),
    ("best",),
    ("stop", "--cancel"),
    ("pause",),
    ("resume",),
    ("export-best",),
    ("export", "--out", "runs.csv"),
    ("refine", "--out", "r.yaml"),
    ("report", "--no-plots"),
    ("run-best", "--seeds", "1"),
    ("sync", "--dry-run"),
]


@pytest.mark.parametrize("ref", ["", "  "])
def test_an_empty_or_blank_reference_never_matches_the_only_sweep(tmp_path, ref):
    ws = workspace(tmp_path)
    ws.file("prog.py", PROG)
    ws.file("s.yaml", COLLIDING)
    sweep = ws.create("s.yaml")
    for command, *rest in EMPTY_REF_COMMANDS:
        proc = ws.run(command, ref, *rest, check=False)
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert "the sweep reference is" in proc.stderr, (command, proc.stderr)
    assert ws.json("runs", sweep) == []  # no agent ran it
    assert ws.json("ls")[0]["state"] == "running"  # nobody stopped or paused it


# -- 5. control characters in user data are shown, never obeyed --------------------------------

ESCAPE_NAME = "e\x1b]0;TITLE\x07\x1b[2Jx"
FORGED = "a\nsweepctl: run FAKE finished in 1s: loss=0 (best so far) [9/9 done]"
ESCAPES = f"""
name: {json.dumps(ESCAPE_NAME)}
program: prog.py
method: grid
metric: {{name: loss, goal: minimize}}
parameters:
  v: {{values: [{json.dumps(FORGED)}, {json.dumps("[red]b" + chr(27) + "[31m")}]}}
"""
FAILING = """
import sweepctl, sys
sweepctl.log({"loss": 1.0})
print("boom \\x1b]0;pwned\\x07\\x1b[2J")
sys.exit(1)
"""
HOSTILE_SEQUENCES = ("\x1b]0;", "\x07", "\x1b[2J", "\x1b[31m")
# On a terminal rich styles with SGR sequences of its own (red is \x1b[31m too).
HOSTILE_ON_TERMINAL = ("\x1b]0;", "\x07", "\x1b[2J")


@pytest.fixture(scope="module")
def escapes(tmp_path_factory) -> tuple[Workspace, str, subprocess.CompletedProcess]:
    ws = workspace(tmp_path_factory.mktemp("escapes"))
    ws.file("prog.py", FAILING)
    ws.file("s.yaml", ESCAPES)
    sweep = ws.create("s.yaml")
    return ws, sweep, ws.run("agent", sweep, check=False)


def test_agent_lines_in_a_pipe_show_escapes_and_cannot_be_forged(escapes):
    _, _, agent = escapes
    assert not any(s in agent.stderr for s in HOSTILE_SEQUENCES), agent.stderr
    lines = agent.stderr.splitlines()
    assert not any(line.startswith("sweepctl: run FAKE") for line in lines)
    assert any("v=a\\nsweepctl: run FAKE" in line for line in lines)
    # The reason quotes the child's last line, escapes shown.
    assert "exit code 1: boom \\x1b]0;pwned\\x07\\x1b[2J" in agent.stderr


@pytest.mark.parametrize("command", ["ls", "runs", "best"])
def test_reading_commands_in_a_pipe_show_escapes(escapes, command):
    ws, sweep, _ = escapes
    proc = ws.run(command, *([sweep] if command != "ls" else []), check=False)
    # Every run failed, so `best` has none to show (failed runs' values are partial): its
    # error names the sweep, on stderr, escapes shown there too.
    shown = proc.stderr if command == "best" else proc.stdout
    assert proc.returncode == (2 if command == "best" else 0), proc.stderr
    assert not any(s in shown for s in HOSTILE_SEQUENCES), shown
    assert "\\x1b" in shown or "a\\nsweepctl: run FAKE" in shown
    assert not any(line.startswith("sweepctl: run FAKE") for line in shown.splitlines())


@pytest.mark.skipif(not shutil.which("script"), reason="util-linux `script` (a pty) is missing")
@pytest.mark.parametrize("command", ["ls", "runs", "best", "agent"])
def test_reading_commands_on_a_terminal_show_escapes(escapes, command):
    ws, sweep, _ = escapes
    args = [command] + ([sweep] if command != "ls" else [])
    if command == "agent":  # a fresh run on the live view: the failed runs' output is quoted
        args = ["agent", ws.create("s.yaml")]
    line = shlex.join([sys.executable, "-m", "sweepctl", *args])
    proc = subprocess.run(
        ["script", "-qec", line, os.devnull],
        cwd=ws.root,
        env={**ws.env, "TERM": "xterm", "COLUMNS": "200"},
        capture_output=True,
        timeout=120,
    )
    shown = proc.stdout.decode(errors="replace")
    assert "\\x1b" in shown or "a\\nsweepctl: run FAKE" in shown
    assert not any(s in shown for s in HOSTILE_ON_TERMINAL), shown


# -- 13. passwords -----------------------------------------------------------------------------

ENV_PROGRAM = """
import json, os
import sweepctl
sweepctl.log({"loss": 1.0})
with open("child-env.json", "w") as fh:
    json.dump(dict(os.environ), fh)
"""


@pytest.mark.parametrize(
    "ws", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize(
    "userinfo", [":S3cretPW", "{user}:p@ssS3cretPW"], ids=["no-user", "at-in-password"]
)
def test_a_storage_password_is_never_shown_nor_given_to_children(ws, userinfo):
    base_user = ws.url.split("://", 1)[1].split("@", 1)[0]
    secret_url = ws.url.replace(f"{base_user}@", userinfo.format(user=base_user) + "@", 1)
    env = {**ws.env, "SWEEPCTL_STORAGE": secret_url}
    ws.file("prog.py", ENV_PROGRAM)
    ws.file("s.yaml", COLLIDING)
    created = ws.run("create", "s.yaml", "--storage", secret_url, env=env)
    shown = created.stdout + created.stderr
    assert "S3cretPW" not in shown and ":***@" in shown, shown
    sweep = created.stdout.split("created sweep ")[1].split()[0]
    agent = ws.run("agent", sweep, env=env)
    assert "S3cretPW" not in agent.stdout + agent.stderr
    child = json.loads((ws.root / "child-env.json").read_text())
    assert "SWEEPCTL_STORAGE" not in child
    assert not [k for k, v in child.items() if "S3cretPW" in v]
    assert [r["state"] for r in ws.json("runs", sweep)] == ["finished"]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://me@127.0.0.1:abc/test", "is not a number"),
        ("postgresql://me@127.0.0.1:5432/test?sslmod=disable", "did you mean 'sslmode'"),
        ("postgresql://me@127.0.0.1:5432/test?bogus=1", "option PostgreSQL does not know"),
    ],
)
def test_a_bad_storage_url_is_one_line_exit_2(tmp_path, url, said):
    proc = workspace(tmp_path).run("ls", "--storage", url, check=False)
    assert proc.returncode == 2, proc.stderr
    assert said in proc.stderr and "Traceback" not in proc.stderr


# -- 14. ${envvar:NAME} lands in argv ----------------------------------------------------------


def test_validate_warns_that_an_envvar_macro_lands_in_argv(tmp_path):
    ws = workspace(tmp_path)
    ws.file(
        "s.yaml",
        """
        program: prog.py
        method: grid
        command: [python, prog.py, "--token=${envvar:API_TOKEN}", "${args}"]
        parameters:
          x: {values: [1]}
        """,
    )
    proc = ws.run("validate", "s.yaml")
    assert "s.yaml:3: warning: command[2]: ${envvar:API_TOKEN} puts the value of" in proc.stderr
    assert "`ps`" in proc.stderr and "os.environ['API_TOKEN']" in proc.stderr
    assert ws.run("validate", "--strict", "s.yaml", check=False).returncode == 2


# -- 12. one-line errors, not crashes -----------------------------------------------------------


def _no_crash(proc: subprocess.CompletedProcess, said: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert said in proc.stderr, proc.stderr
    assert "unexpectedly" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("content", [os.urandom(4096), b"hello, this is text\n" * 50])
def test_a_store_file_that_is_not_a_database_is_one_line(tmp_path, content):
    ws = workspace(tmp_path)
    (tmp_path / "junk.db").write_bytes(content)
    _no_crash(ws.run("ls", "--storage", "junk.db", check=False), "is not a sweepctl store")


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("update sweepctl_meta set value = 'two'", "schema version 'two', which is not a number"),
        ("update sweepctl_sweeps set spec = '{not json'", "is not JSON"),
        ("update sweepctl_sweeps set spec = '[1, 2]'", "is not a JSON dict"),
        ("update sweepctl_runs set config = 'nope'", "the config of run"),
    ],
)
def test_a_damaged_store_is_one_line(done, tmp_path, damage, said):
    import sqlite3

    ws, sweeps = done
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(ws.url.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.execute(damage)
    target.commit()
    target.close()
    local = Workspace(tmp_path, {**ws.env, "SWEEPCTL_STORAGE": str(copy)}, f"sqlite:///{copy}")
    command = ["runs", sweeps["nasty"]] if "runs" in damage else ["ls"]
    _no_crash(local.run(*command, check=False), said)


@pytest.mark.parametrize(
    "ws", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_names_too_long_or_with_nul_are_refused_before_storing(ws):
    ws.file("s.yaml", COLLIDING)
    ws.file("prog.py", "pass\n")
    _no_crash(ws.run("create", "s.yaml", "--name", "n" * 300, check=False), "--name is 300")
    _no_crash(ws.run("create", "s.yaml", "--project", "p" * 256, check=False), "at most 255")
    ws.file("nul.yaml", 'name: "a\\0b"\n' + COLLIDING)
    _no_crash(ws.run("create", "nul.yaml", check=False), "name contains a NUL character")
    ws.run("create", "s.yaml", "--name", "n" * 255, "--project", "p" * 255)
    assert [s["name"] for s in ws.json("ls")] == ["n" * 255]  # only the one that fits


@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
@pytest.mark.parametrize("command", ["validate", "create"])
def test_a_sweep_file_that_is_a_device_or_a_fifo_is_refused_at_once(tmp_path, kind, command):
    ws = workspace(tmp_path)
    path = tmp_path / "s.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    _no_crash(ws.run(command, "s.yaml", check=False, timeout=60), "not a regular file")


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--workers", "100000000"], "--workers is at most 1024"),
        (["--timeout", "nan"], "must be a finite duration"),
        (["--timeout", "1e400"], "must be a finite duration"),
        (["--idle-exit", "inf"], "must be a finite duration"),
    ],
)
def test_absurd_agent_options_are_one_line(done, tmp_path, option, said):
    ws, sweeps = done
    local = Workspace(tmp_path, ws.env, ws.url)
    _no_crash(local.run("agent", sweeps["nasty"], *option, check=False, timeout=60), said)


# -- 11. limits on what one file may ask for ---------------------------------------------------


def _alias_bomb(depth: int) -> str:
    lines = ["program: prog.py", "method: grid", "parameters:", "  x:", "    values:"]
    lines.append("      - &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]")
    lines += [f"      - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def _values(count: int) -> str:
    listed = ", ".join(str(i) for i in range(count))
    return f"program: prog.py\nmethod: random\nparameters:\n  x:\n    values: [{listed}]\n"


LIMITED = {
    "alias-bomb": (_alias_bomb(7), "holds over 50000 values, keys and lists", "SWEEPCTL_MAX_NODES"),
    "int-axis": (
        "program: prog.py\nmethod: grid\nparameters:\n"
        "  x: {distribution: int_uniform, min: 0, max: 1000000000000}\n",
        "would enumerate 1000000000001 values of 'x'",
        "SWEEPCTL_MAX_GRID",
    ),
    "q-axis": (
        "program: prog.py\nmethod: grid\nparameters:\n"
        "  x: {distribution: q_uniform, min: 0.0, max: 1.0, q: 1.0e-12}\n",
        "would enumerate",
        "SWEEPCTL_MAX_GRID",
    ),
    "product": (
        "program: prog.py\nmethod: grid\nparameters:\n"
        + "".join(f"  p{i}: {{distribution: int_uniform, min: 1, max: 100}}\n" for i in range(4)),
        "the grid has over 1000000 points (at 'p3')",
        "SWEEPCTL_MAX_GRID",
    ),
    "values": (
        _values(20_000),
        "20000 values; a parameter lists at most 10000",
        "SWEEPCTL_MAX_VALUES",
    ),
}


@pytest.mark.parametrize("case", sorted(LIMITED))
def test_a_file_over_a_limit_is_refused_with_how_to_raise_it(tmp_path, case):
    text, said, variable = LIMITED[case]
    ws = workspace(tmp_path)
    ws.file("s.yaml", text)
    for command in ("validate", "create"):
        proc = ws.run(command, "s.yaml", check=False, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert said in proc.stderr and variable in proc.stderr, proc.stderr
    assert not (tmp_path / "store" / "sweepctl.db").exists()  # nothing was stored


def test_a_limit_raised_from_the_environment_lets_the_file_through(tmp_path):
    ws = workspace(tmp_path)
    ws.file("s.yaml", _values(20_000))
    raised = {**ws.env, "SWEEPCTL_MAX_VALUES": "20000"}
    assert ws.run("validate", "s.yaml", env=raised).returncode == 0


# -- 16. smaller ones ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("block", "said"),
    [
        ("parameters:\n  x: {min: -.inf, max: .inf}\n", "x.min: min must be a finite number"),
        ("parameters:\n  x: {distribution: normal, mu: 0, sigma: .nan}\n", "finite number"),
        (
            f"parameters:\n  x: {{distribution: int_uniform, min: 0, max: {'9' * 350}}}\n",
            "max is too large for a number (350 digits)",
        ),
        (
            "sweepctl: {heartbeat_timeout: 0.001}\nparameters:\n  x: {values: [1]}\n",
            "heartbeat_timeout must be at least 2s",
        ),
    ],
)
def test_absurd_numbers_are_refused_by_validate(tmp_path, block, said):
    ws = workspace(tmp_path)
    ws.file("s.yaml", "program: prog.py\nmethod: random\n" + block)
    proc = ws.run("validate", "s.yaml", check=False)
    assert proc.returncode == 2 and said in proc.stderr, proc.stderr


SLOW = """
import sys, time
import sweepctl
print("started", flush=True)
for i in range(60):
    sweepctl.log({"loss": 1.0})
    time.sleep(0.5)
"""


def test_deleting_the_store_under_an_agent_fails_it_with_one_line(tmp_path):
    ws = workspace(tmp_path)
    ws.file("prog.py", SLOW)
    ws.file(
        "s.yaml",
        """
        program: prog.py
        method: grid
        metric: {name: loss, goal: minimize}
        parameters:
          x: {values: [1, 2, 3]}
        """,
    )
    sweep = ws.create("s.yaml")
    agent = ws.popen("agent", sweep)
    assert agent.stdout.readline().strip() == "started"  # the first run's child is running
    for path in (tmp_path / "store").glob("sweepctl.db*"):
        path.unlink()
    _, err = agent.communicate(timeout=120)
    assert agent.returncode == 1, err
    assert "error: the store" in err and "was deleted or replaced" in err
    assert "Traceback" not in err
    assert err.count(" started: ") == 1  # no second run was started into nowhere


# -- 9. the metrics file is the child's: read without trusting it --------------------------------

SWAPS_METRICS = """
import os, sys, time
import sweepctl
sweepctl.log({"loss": 1.0})
path = os.environ["SWEEPCTL_METRICS_FILE"]
time.sleep(0.5)  # the agent has read the first line
os.remove(path)
kind = sys.argv[1].split("=", 1)[1]
if kind == "fifo":
    os.mkfifo(path)
elif kind == "zero":
    os.symlink("/dev/zero", path)
else:
    with open(path, "wb") as fh:  # one line of 8 MB, no newline, then a good line
        fh.write(b"x" * 8_000_000 + b"\\n" + b'{"loss": 0.5}\\n')
time.sleep(1.5)
"""


def test_a_metrics_file_swapped_for_a_fifo_a_device_or_a_huge_line_never_hangs(tmp_path):
    ws = workspace(tmp_path)
    ws.file("prog.py", SWAPS_METRICS)
    ws.file(
        "s.yaml",
        """
        program: prog.py
        method: grid
        metric: {name: loss, goal: minimize}
        parameters:
          kind: {values: [fifo, zero, long]}
        """,
    )
    sweep = ws.create("s.yaml")
    ws.run("agent", sweep, "--workers", "3", timeout=120)
    runs = {r["config"]["kind"]: r for r in ws.json("runs", sweep)}
    assert {k: r["state"] for k, r in runs.items()} == dict.fromkeys(
        ("fifo", "zero", "long"), "finished"
    )
    assert runs["fifo"]["metric"] == 1.0 and runs["zero"]["metric"] == 1.0
    assert runs["long"]["metric"] == 0.5  # the line after the overlong one still counts


# -- 7. a worker's failure ends its run and the agent, in one line ------------------------------


def test_a_file_where_the_runs_folder_goes_fails_the_run_and_the_agent(tmp_path):
    ws = workspace(tmp_path)
    ws.file("prog.py", PROG)
    ws.file("s.yaml", COLLIDING)
    sweep = ws.create("s.yaml")
    (tmp_path / "store" / "runs").write_text("not a folder")
    proc = ws.run("agent", sweep, check=False, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: run ")
    (run,) = ws.json("runs", sweep)
    assert run["state"] == "failed"  # not left "running"
    assert "sweepctl could not run it: NotADirectoryError" in run["reason"]


NUL_LINE = """
import sys
print("before")
print("last \\x00 line")
sys.exit(3)
"""


def test_a_nul_in_a_value_or_in_the_last_output_line_fails_only_that_run(ws):
    ws.file("prog.py", NUL_LINE)
    ws.file(
        "s.yaml",
        """
        program: prog.py
        method: grid
        parameters:
          x: {values: ["a\\0b", "ok"]}
        """,
    )
    sweep = ws.create("s.yaml")
    proc = ws.run("agent", sweep, check=False, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    runs = {r["config"]["x"]: r for r in ws.json("runs", sweep)}
    assert runs["a\0b"]["state"] == "failed"
    assert "could not start" in runs["a\0b"]["reason"]
    assert runs["ok"]["state"] == "failed" and runs["ok"]["exit_code"] == 3
    assert runs["ok"]["reason"] == "exit code 3: last \\x00 line"


# -- 10. output without newlines is copied in linear time -----------------------------------------

PROGRESS_BAR = """
import sys
for i in range(100_000):
    sys.stdout.write(f"step {i:6d}\\r")
sys.stdout.flush()
"""


def test_output_without_newlines_from_two_workers_is_cut_into_bounded_lines(tmp_path):
    ws = workspace(tmp_path)
    ws.file("prog.py", PROGRESS_BAR)
    ws.file("s.yaml", "program: prog.py\nmethod: grid\nparameters:\n  x: {values: [1, 2]}\n")
    sweep = ws.create("s.yaml")
    proc = subprocess.run(  # bytes: text mode would read each \r as a line break
        [sys.executable, "-m", "sweepctl", "agent", sweep, "--workers", "2"],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    lines = proc.stdout.split(b"\n")
    # The unfinished line is written out every 64 KiB or so, not kept (and copied) whole.
    assert len(lines) > 10
    assert max(len(line) for line in lines) <= 2 * 64 * 1024 + 64
    # Nothing lost: each run's 100000 steps, once each.
    assert proc.stdout.count(b"\r") == 2 * 100_000


def test_a_claim_that_fails_fails_the_agent_with_one_line(tmp_path):
    import sqlite3

    ws = workspace(tmp_path)
    ws.file("prog.py", PROG)
    ws.file(
        "s.yaml",
        "program: prog.py\nmethod: random\nparameters:\n"
        "  x: {distribution: int_uniform, min: 0, max: 10}\n",
    )
    sweep = ws.create("s.yaml")
    # What validate now refuses (a 351-digit max), put into the store behind its back.
    db = sqlite3.connect(ws.url.removeprefix("sqlite:///"))
    spec = json.loads(db.execute("select spec from sweepctl_sweeps").fetchone()[0])
    spec["parameters"]["x"]["max"] = 10**350
    db.execute("update sweepctl_sweeps set spec = ?", (json.dumps(spec),))
    db.commit()
    db.close()
    proc = ws.run("agent", sweep, "--count", "1", check=False, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: could not claim a run:")
