"""Property tests for the file writers (issue 24, items 3 and 4): any string in a name or a
value comes back unchanged through YAML, env, args and CSV, and sourcing or evaluating the
written text in a real shell runs nothing."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sweepctl.errors import UsageError
from sweepctl.results.export import _env_name, csv_text, format_best
from sweepctl.results.report.markdown import Section, Table, markdown

# Fragments that mean something to a shell, YAML, CSV or a terminal, mixed with any text.
NASTY = [
    "$(touch made)",
    "`touch made`",
    "'",
    '"',
    "\\",
    ";touch made;",
    "$HOME",
    "${IFS}",
    "\x1b[2J",
    " ",
    "=",
    "#",
    ": ",
    "- ",
    "!!python/object:os.system",
    "&a",
    "*a",
    ",",
    "\t",
    "\u202e",
    "%",
    "{",
    "[",
    "|",
    ">",
    "~",
]
LINE_BREAKS = ["\n", "\r", "\r\n", "\0"]
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
nasty = st.lists(st.sampled_from(NASTY) | text, max_size=6).map("".join)
any_string = st.lists(st.sampled_from(NASTY + LINE_BREAKS) | text, max_size=6).map("".join)
configs = st.dictionaries(any_string, any_string, min_size=1, max_size=5)
# An env file holds one line per variable: its values are tested without line breaks and NUL
# (refused, tested below).
one_line = nasty.map(lambda s: s.translate({10: None, 13: None, 0: None}))
SHELL_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _found(config: dict, name: str = "sweep") -> dict:
    best = {
        "sweep_id": "abc",
        "run_id": "r1",
        "metric": {"name": "loss", "goal": "minimize", "value": 1.0},
        "config": config,
    }
    return {name: best}


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        entry.unlink()


@given(config=configs, name=any_string)
@example(config={"exp\ncommand: [touch, X]\n#": "\n- a"}, name="a\n#: b")
def test_yaml_round_trips_any_name_and_value(config, name):
    text = format_best(_found(config, name), "yaml", single=True)
    assert yaml.safe_load(text)[name]["config"] == config


@given(rows=st.lists(st.dictionaries(any_string, any_string, max_size=4), max_size=4))
def test_csv_round_trips_any_name_and_value(rows):
    text = csv_text(rows)
    read = list(csv.reader(io.StringIO(text, newline="")))
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    if not columns:
        return
    assert read[0] == columns
    assert [dict(zip(columns, r, strict=True)) for r in read[1:]] == [
        {c: row.get(c, "") for c in columns} for row in rows
    ]


@pytest.fixture(scope="module")
def shell_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shell")


def _shell(folder: Path, script: str, written: str) -> list[str]:
    """Run ``script`` in an empty folder holding only ``written`` (as ./f); the NUL-separated
    words it prints. Asserts the shell created no other file."""
    _empty(folder)
    (folder / "f").write_text(written)
    proc = subprocess.run(
        ["sh", "-c", script], cwd=folder, capture_output=True, check=True, env={"PATH": os.defpath}
    )
    assert sorted(os.listdir(folder)) == ["f"], "the shell ran something"
    return proc.stdout.decode().split("\0")[:-1]


@SHELL_SETTINGS
@given(config=st.dictionaries(nasty, one_line, min_size=1, max_size=5))
@example(config={"a": "$(touch made)", "b": "'; touch made; '", "1x": "`touch made`"})
def test_env_sourced_by_sh_runs_nothing_and_reads_back(shell_dir, config):
    names = [_env_name(k) for k in config]
    if len(set(names)) < len(names):
        with pytest.raises(UsageError, match="would both be the variable"):
            format_best(_found(config), "env", single=True)
        return
    written = format_best(_found(config), "env", single=True)
    script = ". ./f && printf '%s\\0' " + " ".join(f'"${n}"' for n in names)
    assert _shell(shell_dir, script, written) == [str(v) for v in config.values()]


@given(value=any_string.filter(lambda v: any(c in v for c in "\n\r\0")))
def test_env_refuses_a_value_with_a_line_break_or_nul(value):
    with pytest.raises(UsageError, match="line break or NUL"):
        format_best(_found({"x": value}), "env", single=True)


@SHELL_SETTINGS
@given(config=st.dictionaries(any_string, any_string, min_size=1, max_size=5))
@example(config={"x": "$(touch made)\nPATH=/nowhere", "y=$(touch made)": "a b\tc"})
def test_args_read_by_sh_runs_nothing_and_reads_back(shell_dir, config):
    if any("\0" in k or "\0" in v for k, v in config.items()):
        with pytest.raises(UsageError, match="NUL"):
            format_best(_found(config), "args", single=True)
        return
    written = format_best(_found(config), "args", single=True)
    script = 'eval "set -- $(cat f)"; printf \'%s\\0\' "$@"'
    assert _shell(shell_dir, script, written) == [f"--{k}={v}" for k, v in config.items()]


@given(name=any_string, cells=st.lists(any_string, min_size=1, max_size=3))
@example(name="x\n# Forged heading\n[click](http://evil)", cells=["a|b", "c\n| d | e |"])
def test_markdown_keeps_any_name_on_its_own_line_and_cell(name, cells):
    table = Table(headers=["h"] * len(cells), rows=[cells])
    text = markdown(name, [Section("s", name, [name, table])])
    lines = text.split("\n")
    assert [line for line in lines if line.startswith("#")] == [lines[0], lines[2]]
    rows = [line for line in lines if line.startswith("|")]
    assert len(rows) == 3  # header, rule, one row: no cell forged a row
    assert all(line.count("|") - line.count("\\|") == len(cells) + 1 for line in rows)
    assert "](" not in text.replace("\\](", "")  # no live link
