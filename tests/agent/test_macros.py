"""The child's argv and param file, checked against wandb 0.31.0's own agent code.

The oracle is W&B's real ``Agent._command_run`` (which calls ``create_sweep_command``,
``create_sweep_command_args`` and ``save_config_file_from_dict``) with only the process start
replaced, so the argv, the param file and the ``${args_json_file}`` file are W&B's own. The
hand-written cases restate reference/wandb-sweeps.md sections 7 and 8.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweepctl.agent.macros import (
    DEFAULT_COMMAND,
    args_json,
    needs_args_json_file,
    render_command,
    write_param_file,
)

wandb_agent = pytest.importorskip("wandb.wandb_agent")
config_util = pytest.importorskip("wandb.sdk.lib.config_util")

ALL_MACROS = [
    "${env}",
    "${interpreter}",
    "${program}",
    "${args}",
    "${args_no_hyphens}",
    "${args_no_equals}",
    "${args_no_boolean_flags}",
    "${args_append_hydra}",
    "${args_override_hydra}",
    "${args_json}",
    "${args_json_file}",
    "${args_dict}",
]

# The run config used in the reference's macro table, plus False and the empty string.
REFERENCE_CONFIG: dict[str, Any] = {
    "lr": 0.001,
    "flag": True,
    "off": False,
    "none": None,
    "lst": [1, 2],
    "name": "hello world",
    "empty": "",
    "opt": {"depth": 2, "lr": 0.1},
}

VALUES = [
    0.001,
    0.00001,
    1e20,
    2.0,
    -0.0,
    1.5e-300,
    float("nan"),
    float("inf"),
    0,
    5,
    -3,
    10**20,
    True,
    False,
    None,
    "hello world",
    "",
    "yes",
    "null",
    "3.0",
    "008",
    "1e-5",
    "é ü ☃",
    "a=b --c 'q' \"dq\"",
    "${args}",
    "x" * 90 + " y" * 40,  # PyYAML folds long plain strings over several lines
    "line1\nline2",
    [1, 2],
    [],
    ["a", 1.5, None, True],
    {"depth": 2, "lr": 0.1},
    {"name": "adam", "beta": 0.9, "inner": {"z": [1, {"k": "v"}], "a": None}},
]

COMMANDS = {
    "missing": None,
    "empty": [],
    "default": list(DEFAULT_COMMAND),
    "all-macros": ALL_MACROS,
    "unknown-macros": ["${env}", "python", "${project}", "${entity}", "${foo}", "${}", "${args}"],
    "embedded": ["python", "train.py", "--cfg=${args}", "x${program}", "${args}x", "${args"],
    "envvars": [
        "${envvar:SWEEPCTL_T_SET}",
        "${envvar:SWEEPCTL_T_UNSET}",
        "${envvar:sweepctl_t_lower}",
        "--home=${envvar:SWEEPCTL_T_SET}/x",
        "${envvar:SWEEPCTL_T_SET}${envvar:SWEEPCTL_T_UNSET}-${envvar:SWEEPCTL_T_SET}",
        "${envvar:}",
        "${envvar:SWEEPCTL_T_MACRO}",
        "${envvar:SWEEPCTL_T_EMPTY}",
    ],
    "non-strings": [5, 1.5, True, None, "${program}", "${args}"],
    "json-only": ["python", "train.py", "${args_json}"],
    "hydra": ["${env}", "${interpreter}", "${program}", "${args_override_hydra}"],
}


@dataclass
class WandbRun:
    argv: list[Any]
    param_file: Path
    json_file: Path
    environ: dict[str, str]  # the environment W&B substituted ${envvar:...} from


@pytest.fixture
def wandb_run(tmp_path, monkeypatch):
    """Run W&B's real Agent._command_run for one run and capture the argv it would start."""
    wandb_dir = tmp_path / "wandb_dir"
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_SWEEP_ID", "sweep1")
    # _command_run writes these into os.environ; setting them first lets monkeypatch undo it.
    monkeypatch.setenv("WANDB_RUN_ID", "before")
    monkeypatch.setenv("WANDB_SWEEP_PARAM_PATH", "before")
    monkeypatch.setenv("SWEEPCTL_T_SET", "/data")
    monkeypatch.setenv("SWEEPCTL_T_MACRO", "${args}")
    monkeypatch.setenv("SWEEPCTL_T_EMPTY", "")
    monkeypatch.setenv("sweepctl_t_lower", "lowercase-is-set")
    monkeypatch.delenv("SWEEPCTL_T_UNSET", raising=False)
    started: list[list[Any]] = []

    class CapturedProcess:
        def __init__(self, command=None, env=None, **kwargs):
            started.append(command)

    monkeypatch.setattr(wandb_agent, "AgentProcess", CapturedProcess)
    run_ids = itertools.count()

    def run(command, config, program="train.py") -> WandbRun:
        agent = wandb_agent.Agent(api=None, queue=None, sweep_id="sweep1")
        # Agent.run keeps only a non-empty list; W&B then edits it in place, so pass a copy.
        agent._sweep_command = list(command) if command else []
        run_id = f"run{next(run_ids)}"
        environ = dict(os.environ)
        agent._command_run(
            {
                "type": "run",
                "run_id": run_id,
                "program": program,
                "args": {name: {"value": value} for name, value in config.items()},
            }
        )
        sweep_dir = wandb_dir / "wandb" / "sweep-sweep1"
        return WandbRun(
            argv=started[-1],
            param_file=sweep_dir / f"config-{run_id}.yaml",
            json_file=sweep_dir / f"config-{run_id}.json",
            environ=environ,
        )

    return run


def assert_matches_wandb(wandb_run, tmp_path: Path, command, config, program="train.py"):
    theirs = wandb_run(command, config, program)
    ours = render_command(
        command,
        config,
        program=program,
        environ=theirs.environ,
        args_json_file=str(theirs.json_file),
    )
    assert ours == theirs.argv

    ours_file = tmp_path / "ours" / "config.yaml"
    write_param_file(ours_file, config)
    assert ours_file.read_bytes() == theirs.param_file.read_bytes()

    assert needs_args_json_file(command) == theirs.json_file.exists()
    if theirs.json_file.exists():
        assert args_json(config) == theirs.json_file.read_text()


# --- against W&B -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_value_type_matches_wandb(wandb_run, tmp_path, value):
    assert_matches_wandb(wandb_run, tmp_path, ALL_MACROS, {"x": value, "after": 1})


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_every_command_shape_matches_wandb(wandb_run, tmp_path, command):
    assert_matches_wandb(wandb_run, tmp_path, command, REFERENCE_CONFIG)


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_empty_config_matches_wandb(wandb_run, tmp_path, command):
    assert_matches_wandb(wandb_run, tmp_path, command, {})


def test_windows_drops_env_like_wandb(wandb_run, tmp_path, monkeypatch):
    monkeypatch.setattr(wandb_agent.platform, "system", lambda: "Windows")
    monkeypatch.setattr(sys, "platform", "win32")
    theirs = wandb_run(DEFAULT_COMMAND, {"a": 1})
    ours = render_command(DEFAULT_COMMAND, {"a": 1}, program="train.py", environ={})
    assert ours == theirs.argv == ["python", "train.py", "--a=1"]


_names = st.from_regex(r"[a-z_][a-z0-9_.-]{0,8}", fullmatch=True)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_names, inner, max_size=3),
    max_leaves=8,
)
_tokens = st.sampled_from(
    [*ALL_MACROS, "${foo}", "--cfg=${args}", "${envvar:SWEEPCTL_T_SET}", "${envvar:nope}", 7]
) | st.text(alphabet="ab=-${}:", max_size=8)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    config=st.dictionaries(_names, _values, max_size=5),
    command=st.lists(_tokens, max_size=8),
)
def test_random_configs_and_commands_match_wandb(wandb_run, tmp_path, config, command):
    # The fixture's state (environment, patched process start) is the same for every example.
    assert_matches_wandb(wandb_run, tmp_path, command, config)


def test_wandb_crashes_on_missing_program_and_we_render_none(wandb_run):
    # W&B puts None into the argv and fails on it (TypeError) before starting anything; a
    # string argv cannot hold None, so ours says "None". Callers refuse a missing program.
    with pytest.raises(TypeError):
        wandb_run(DEFAULT_COMMAND, {"a": 1}, program=None)
    ours = render_command(DEFAULT_COMMAND, {"a": 1}, program=None, environ={})
    assert ours == ["/usr/bin/env", "python", "None", "--a=1"]


def test_wandb_substitutes_envvars_once_per_agent(wandb_run, monkeypatch):
    # W&B edits its command list in place on the first run, so later runs keep the first
    # run's values: the caller must pass the same environ for every run of one agent.
    agent = wandb_agent.Agent(api=None, queue=None, sweep_id="sweep1")
    agent._sweep_command = ["echo", "${envvar:SWEEPCTL_T_SET}"]
    for run_id, value in (("r1", "first"), ("r2", "second")):
        monkeypatch.setenv("SWEEPCTL_T_SET", value)
        agent._command_run({"run_id": run_id, "program": "p", "args": {}})
    assert agent._sweep_command == ["echo", "first"]


def test_param_file_loads_back_with_wandbs_reader(tmp_path):
    # What an unmodified wandb.init() sees: its setup reads the file with this function.
    config = {f"v{i}": value for i, value in enumerate(VALUES)}
    path = tmp_path / "config.yaml"
    write_param_file(path, config)
    loaded = config_util.dict_from_config_file(str(path), must_exist=True)
    assert repr(loaded) == repr(config)  # repr: nan != nan, but it must come back as nan
    assert list(loaded) == list(config)


def test_empty_param_file_loads_back_with_wandbs_reader(tmp_path):
    path = tmp_path / "config.yaml"
    write_param_file(path, {})
    assert config_util.dict_from_config_file(str(path), must_exist=True) == {}


# --- the reference, by hand ------------------------------------------------------------------


def test_default_command_on_the_reference_config():
    argv = render_command(None, REFERENCE_CONFIG, program="train.py", environ={})
    assert argv == [
        "/usr/bin/env",
        "python",
        "train.py",
        "--lr=0.001",
        "--flag=True",
        "--off=False",
        "--none=None",
        "--lst=[1, 2]",
        "--name=hello world",  # one token: there is no shell and no quoting
        "--empty=",
        "--opt={'depth': 2, 'lr': 0.1}",
    ]


@pytest.mark.parametrize(
    ("value", "token"),
    [(0.00001, "--x=1e-05"), (1e20, "--x=1e+20"), (2.0, "--x=2.0"), (3, "--x=3")],
)
def test_values_are_python_str(value, token):
    assert render_command(["${args}"], {"x": value}, program="p", environ={}) == [token]


CONFIG = {"epochs": 3, "flag": True, "off": False, "opt": {"lr": 0.1}}


@pytest.mark.parametrize(
    ("macro", "tokens"),
    [
        ("${env}", ["/usr/bin/env"]),
        ("${interpreter}", ["python"]),
        ("${program}", ["train.py"]),
        ("${args}", ["--epochs=3", "--flag=True", "--off=False", "--opt={'lr': 0.1}"]),
        ("${args_no_hyphens}", ["epochs=3", "flag=True", "off=False", "opt={'lr': 0.1}"]),
        (
            "${args_no_equals}",
            ["--epochs", "3", "--flag", "True", "--off", "False", "--opt", "{'lr': 0.1}"],
        ),
        ("${args_no_boolean_flags}", ["--epochs=3", "--flag", "--opt={'lr': 0.1}"]),
        ("${args_append_hydra}", ["+epochs=3", "+flag=True", "+off=False", "+opt={'lr': 0.1}"]),
        (
            "${args_override_hydra}",
            ["++epochs=3", "++flag=True", "++off=False", "++opt={'lr': 0.1}"],
        ),
        ("${args_json}", ['{"epochs": 3, "flag": true, "off": false, "opt": {"lr": 0.1}}']),
        ("${args_json_file}", ["/runs/config-r1.json"]),
        ("${args_dict}", ["epochs", "flag", "off", "opt"]),  # W&B's accident: the names
        ("${project}", []),  # unknown macros vanish
        ("${entity}", []),
        ("--cfg=${args}", ["--cfg=${args}"]),  # embedded macros stay literal
    ],
)
def test_each_macro(macro, tokens):
    argv = render_command(
        [macro], CONFIG, program="train.py", environ={}, args_json_file="/runs/config-r1.json"
    )
    assert argv == tokens


def test_args_json_file_without_a_path_is_dropped():
    assert render_command(["a", "${args_json_file}"], CONFIG, program="p", environ={}) == ["a"]


def test_args_json_uses_json_literals():
    config = {"lr": 0.00001, "flag": True, "none": None, "lst": [1, 2]}
    assert args_json(config) == '{"lr": 1e-05, "flag": true, "none": null, "lst": [1, 2]}'


def test_envvar_macros():
    environ = {"DATA": "/data", "lower": "x"}
    command = [
        "--home=${envvar:DATA}/x",  # substituted anywhere inside a token
        "${envvar:UNSET_VAR}",  # unset: the name itself
        "${envvar:lower}",  # lowercase: not an envvar, so an unknown macro, dropped
        "${envvar:DATA}",
    ]
    argv = render_command(command, {}, program="p", environ=environ)
    assert argv == ["--home=/data/x", "UNSET_VAR", "/data"]


def test_needs_args_json_file():
    assert needs_args_json_file(["python", "${args_json_file}"])
    assert not needs_args_json_file(["python", "--f=${args_json_file}"])
    assert not needs_args_json_file(None)
    assert not needs_args_json_file([])
    assert needs_args_json_file(["${envvar:J}"], environ={"J": "${args_json_file}"})


def test_param_file_text_from_the_reference(tmp_path):
    path = tmp_path / "wandb" / "sweep-s" / "config-r.yaml"  # parent dirs are created
    write_param_file(path, {"lr": 0.00001, "opt": {"beta": 0.9, "name": "adam"}})
    assert path.read_text() == (
        "wandb_version: 1\n\nlr:\n  value: 1.0e-05\nopt:\n  value:\n    beta: 0.9\n    name: adam\n"
    )


def test_param_file_quoting_order_and_lists(tmp_path):
    path = tmp_path / "config.yaml"
    config = {
        "z": "yes",
        "a": "null",
        "f": "3.0",
        "o": "008",
        "e": "1e-5",
        "big": 1e20,
        "opt": {"name": "adam", "beta": 0.9},  # nested keys keep their order too
        "lst": [1, "two"],
    }
    write_param_file(path, config)
    assert path.read_text().splitlines()[2:] == [
        "z:",
        "  value: 'yes'",
        "a:",
        "  value: 'null'",
        "f:",
        "  value: '3.0'",
        "o:",
        "  value: 008",
        "e:",
        "  value: 1e-5",
        "big:",
        "  value: 1.0e+20",
        "opt:",
        "  value:",
        "    name: adam",
        "    beta: 0.9",
        "lst:",
        "  value:",
        "  - 1",
        "  - two",
    ]


def test_empty_param_file_is_just_the_version_line(tmp_path):
    path = tmp_path / "config.yaml"
    write_param_file(path, {})
    assert path.read_bytes() == b"wandb_version: 1"


def test_macros_module_does_not_import_wandb():
    code = "import sys, sweepctl.agent.macros; sys.exit('wandb' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
