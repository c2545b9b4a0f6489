"""Properties of `sweepctl validate` on any input: exit 0 or 2, every problem at file:line.

The CLI runs in-process (``sweepctl.cli.main`` with ``SystemExit`` caught). Inputs are valid
sweep files broken structurally (keys deleted, renamed with typos, values of the wrong type,
unknown keys, random nesting), dumped as YAML or JSON, and random text and bytes built from
YAML's sharp edges (tags, anchors, merge keys, deep nesting, huge numbers, control characters).
Each ``@example`` is an input sweepctl once mishandled: a crash (exit 3), or a valid file rejected.
"""

from __future__ import annotations

import atexit
import copy
import functools
import io
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sweepctl.cli import main


def examples(count: int) -> settings:
    """Hypothesis settings: ``count`` examples, no deadline (a CLI run varies in time)."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- valid sweep files to start from ---------------------------------------------------------

BASES: list[dict[str, Any]] = [
    {
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {
            "lr": {"values": [0.1, 0.01, 0.001]},
            "batch_size": {"values": [16, 32]},
            "epochs": {"value": 10},
            "layers": {"min": 1, "max": 4},
            "frac": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25},
        },
    },
    {
        "method": "random",
        "program": "train.py",
        "run_cap": 20,
        "parameters": {
            "optimizer": {
                "parameters": {
                    "name": {"values": ["adam", "sgd"]},
                    "lr": {"distribution": "log_uniform_values", "min": 1.0e-5, "max": 0.1},
                    "betas": {"parameters": {"b1": {"value": 0.9}, "b2": {"value": 0.999}}},
                }
            },
            "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
            "noise": {"distribution": "normal", "mu": 0.0, "sigma": 1.0},
            "act": {"values": ["relu", "gelu"], "probabilities": [0.25, 0.75]},
        },
        "sweepctl": {"seed": 1},
    },
    {
        "method": "bayes",
        "name": "bayes-hyperband",
        "description": "bayes search with hyperband",
        "project": "p",
        "entity": "e",
        "program": "train.py",
        "metric": {"name": "acc", "goal": "maximize", "target": 0.99},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2},
        "command": ["${env}", "${interpreter}", "${program}", "--epochs", "3", "${args}"],
        "parameters": {
            "lr": {"distribution": "q_log_uniform_values", "min": 0.0001, "max": 0.1, "q": 0.0001},
            "mix": {"distribution": "beta", "a": 2, "b": 3},
            "width": {"distribution": "int_uniform", "min": 32, "max": 512},
        },
    },
    {
        # Valid with a warning (deprecated distribution), so --strict turns it invalid.
        "method": "random",
        "metric": {"name": "loss"},
        "early_terminate": {"type": "hyperband", "max_iter": 27, "s": 2},
        "command": ["${env}", "python3", "train.py", "${args_no_hyphens}", "${envvar:HOME}"],
        "parameters": {
            "wd": {"distribution": "log_uniform", "min": -9.2, "max": -2.3},
            "model.depth": {"values": [2, 4, 8]},
            "scale": {"distribution": "log_normal", "mu": 0, "sigma": 0.5},
        },
    },
]

# Keys sweep files use, so that renames and additions hit the checks' interesting paths.
KNOWN_KEYS = [
    "method", "metric", "parameters", "program", "command", "early_terminate", "run_cap",
    "name", "description", "project", "entity", "controller", "scheduler", "sweepctl",
    "metrics", "job", "defaults", "count", "seed", "value", "values", "distribution", "min",
    "max", "q", "mu", "sigma", "a", "b", "probabilities", "goal", "target", "impute", "type",
    "min_iter", "max_iter", "s", "eta", "strict", "engine", "search_space", "<<",
]  # fmt: skip
TRICKY_STRINGS = [
    "1e-5", "5E-4", "-1e3", ".5e-3", "1.0e5", "1_000e5", "._e5", "${env}", "${program}",
    "${args}", "${envvar:HOME}", "${envvar:home}", "${oops}", "--lr=${lr}", "grid", "random",
    "bayes", "custom", "hyperband", "uniform", "log_uniform", "int_uniform", "categorical",
    "q_uniform", "normal", "beta", "minimize", "maximise", "yes", "no", "on", "off", "~",
    "null", "", " ", "[0.1]", "[red]bold[/red]", "{{ lr }}", "${oc.env:X}", "${now:%H}",
    "2001-12-14", "0x1f", "0o17", "1:30", "nan", ".inf", "\t", "a\nb", "\x7f", "\x85",
    "\u2028", "\ufeff", "é", "😀",
]  # fmt: skip

keys = st.one_of(
    st.sampled_from(KNOWN_KEYS),
    st.text(max_size=12),
    st.integers(-5, 5),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, 1, -1, 2**63, 2**1100, -(10**30), 10**400]),
    st.floats(),  # nan and infinities included
    st.text(max_size=20),
    st.sampled_from(TRICKY_STRINGS),
)
# Values YAML can write but JSON cannot; for JSON files they are written as strings.
yaml_only = st.one_of(
    st.dates(),
    st.datetimes(),
    st.binary(max_size=6),
    st.frozensets(st.integers(0, 3), max_size=2).map(set),
)
values = st.recursive(
    st.one_of(scalars, yaml_only),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _locations(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in a loaded document, outermost first."""
    found: list[tuple[Any, Any]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            items = list(current.items())
        elif isinstance(current, list):
            items = list(enumerate(current))
        else:
            continue
        for key, value in items:
            found.append((current, key))
            stack.append(value)
    return found


@st.composite
def typo(draw: st.DrawFn, word: str) -> str:
    """``word`` as a person mistypes it."""
    if not word:
        return draw(st.text(min_size=1, max_size=4))
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "swap", "double", "case", "replace", "insert"]))
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "double":
        return word[: i + 1] + word[i:]
    if kind == "case":
        return word.swapcase()
    char = draw(st.sampled_from("_-. abcdefghijklmnopqrstuvwxyz0123456789"))
    if kind == "replace":
        return word[:i] + char + word[i + 1 :]
    return word[:i] + char + word[i:]


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid sweep dict broken by one to four structural edits."""
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 4))):
        spots = _locations(data)
        op = draw(st.sampled_from(["delete", "replace", "rename", "add", "nest", "typo_value"]))
        if not spots:
            data[draw(keys)] = draw(values)
            continue
        parent, key = draw(st.sampled_from(spots))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "rename" and isinstance(parent, dict):
            new = draw(typo(key)) if isinstance(key, str) else draw(keys)
            parent[new] = parent.pop(key)
        elif op == "add":
            if isinstance(parent, dict):
                parent[draw(keys)] = draw(values)
            else:
                parent.insert(draw(st.integers(0, len(parent))), draw(values))
        elif op == "nest":
            wrap = draw(st.sampled_from(["list", "parameters", "values", "value", "key"]))
            inner = parent[key]
            if wrap == "list":
                parent[key] = [inner]
            elif wrap == "key":
                parent[key] = {draw(keys): inner}
            else:
                parent[key] = {wrap: inner}
        elif op == "typo_value" and isinstance(parent[key], str):
            parent[key] = draw(typo(parent[key]))
        else:
            parent[key] = draw(values)
    return data


@st.composite
def sweep_file(draw: st.DrawFn, data: Any) -> tuple[str, bytes]:
    """``data`` written as YAML (in any of PyYAML's styles) or JSON: (suffix, bytes)."""
    if draw(st.integers(0, 3)) == 0:
        text = json.dumps(
            data,
            default=str,
            ensure_ascii=draw(st.booleans()),
            indent=draw(st.sampled_from([None, 2])),
        )
        return ".json", text.encode()
    text = yaml.safe_dump(
        data,
        sort_keys=False,
        default_flow_style=draw(st.sampled_from([False, None, True])),
        allow_unicode=draw(st.booleans()),
        width=draw(st.sampled_from([80, 10**6])),
    )
    return draw(st.sampled_from([".yaml", ".yml"])), text.encode()


# -- running the CLI in-process and checking what it said ------------------------------------

_CRASH_LOG = re.compile(r"The traceback is in (\S+?);")
_LINE_BREAKS = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")
_WORKDIR = Path(tempfile.mkdtemp(prefix="sweepctl-properties-"))
atexit.register(shutil.rmtree, _WORKDIR, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _build_the_cli_once() -> Iterator[None]:
    """Build typer's click command once, not on every in-process run (most of their time)."""
    import typer.main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.main, "get_command", functools.cache(typer.main.get_command))
        yield


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """``sweepctl ARGS`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:
            code = 0
    stderr = err.getvalue()
    crash = _CRASH_LOG.search(stderr)
    if crash and os.path.exists(crash.group(1)):
        # Show the traceback in the failure report and leave no log behind.
        log = Path(crash.group(1))
        trace = log.read_text().splitlines()
        if len(trace) > 60:  # a RecursionError's traceback runs to thousands of lines
            trace = [*trace[:40], "  ...", *trace[-15:]]
        stderr += "\n" + "\n".join(trace)
        log.unlink()
    return code, out.getvalue(), stderr


def run_cli_process(args: list[str]) -> tuple[int, str, str]:
    """``sweepctl ARGS`` in a new interpreter, for limits a test process does not share.

    Hypothesis raises the recursion limit while a test runs, so nesting depth is tried here.
    """
    script = "import sys; from sweepctl.cli import main; main(sys.argv[1:])"
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120
    )
    stderr = done.stderr
    crash = _CRASH_LOG.search(stderr)
    if crash and os.path.exists(crash.group(1)):
        log = Path(crash.group(1))
        stderr += "\n" + "\n".join(log.read_text().splitlines()[-15:])
        log.unlink()
    return done.returncode, done.stdout, stderr


def write(content: bytes, suffix: str, name: str = "sweep") -> Path:
    path = _WORKDIR / f"{name}{suffix}"
    path.write_bytes(content)
    return path


def _max_line(content: bytes) -> int:
    """The last line an error could name: one past the last line break, by any counting."""
    text = content.decode("utf-8", errors="replace")
    return max(len(_LINE_BREAKS.split(text)), content.count(b"\n") + 1) + 1


def _check_problem(item: Any, last_line: int) -> None:
    assert isinstance(item, dict)
    assert set(item) == {"line", "path", "message", "hint"}, item
    line = item["line"]
    assert line is None or (type(line) is int and 1 <= line <= last_line), item
    assert isinstance(item["path"], str), item
    assert isinstance(item["message"], str) and item["message"].strip(), item
    assert item["hint"] is None or isinstance(item["hint"], str), item


def check_validate(
    files: list[tuple[Path, bytes]],
    strict: bool,
    *,
    lines_required: bool = False,
    in_process: bool = True,
) -> list[dict[str, Any]]:
    """Run ``validate`` (JSON and text) on ``files``; assert the documented contract.

    ``lines_required``: every error must name a line (for files PyYAML itself reads).
    ``in_process=False``: one JSON run in a new interpreter instead.
    """
    args = [str(path) for path, _ in files] + (["--strict"] if strict else [])

    code, out, err = (run_cli if in_process else run_cli_process)(["validate", "--json", *args])
    assert code in (0, 2), f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    reports = json.loads(out)
    assert isinstance(reports, list) and len(reports) == len(files)
    for report, (path, content) in zip(reports, files, strict=True):
        assert set(report) == {"file", "valid", "errors", "warnings"}, report
        assert report["file"] == str(path)
        assert isinstance(report["valid"], bool)
        assert isinstance(report["errors"], list) and isinstance(report["warnings"], list)
        for item in report["errors"] + report["warnings"]:
            _check_problem(item, _max_line(content))
        assert report["valid"] == (not report["errors"] and not (strict and report["warnings"]))
        if lines_required:
            assert all(e["line"] is not None for e in report["errors"]), report["errors"]
    assert code == (0 if all(r["valid"] for r in reports) else 2), reports
    if not in_process:
        return reports

    text_code, text_out, text_err = run_cli(["validate", *args])
    assert text_code == code, f"exit {text_code} (JSON: {code})\n{text_out}\n{text_err}"
    err_lines = text_err.splitlines()
    for report in reports:
        verdict = ("valid " if report["valid"] else "invalid ") + report["file"]
        assert any(ln.startswith(verdict) for ln in text_out.splitlines()), (verdict, text_out)
        for item in report["errors"]:
            where = f"{report['file']}:{item['line']}" if item["line"] else report["file"]
            prefix = f"{where}: error: "
            assert any(ln.startswith(prefix) for ln in err_lines), (prefix, text_err)
        if not report["valid"]:
            problems = report["errors"] + (report["warnings"] if strict else [])
            assert problems, report
            named = [ln for ln in err_lines if ln.startswith(report["file"])]
            assert named, text_err
    return reports


# -- (a) valid files, structurally broken ----------------------------------------------------


def test_base_files_are_valid() -> None:
    for index, base in enumerate(BASES):
        for suffix, content in (
            (".yaml", yaml.safe_dump(base, sort_keys=False).encode()),
            (".json", json.dumps(base).encode()),
        ):
            path = write(content, suffix, f"base{index}")
            reports = check_validate([(path, content)], strict=False, lines_required=True)
            assert reports[0]["valid"], reports


@examples(100)
@given(
    file=mutated().flatmap(sweep_file),
    strict=st.booleans(),
    with_valid=st.booleans(),
)
@example(  # a parameter whose value is a list holding a date
    file=(".yaml", b"method: random\nparameters:\n  x:\n  - 2001-01-01\n"),
    strict=False,
    with_valid=False,
)
def test_broken_sweep_files_exit_0_or_2_with_file_line(
    file: tuple[str, bytes], strict: bool, with_valid: bool
) -> None:
    suffix, content = file
    files = [(write(content, suffix), content)]
    if with_valid:
        other = yaml.safe_dump(BASES[0]).encode()
        files.append((write(other, ".yaml", "other"), other))
    check_validate(files, strict, lines_required=True)


@examples(60)
@given(base=st.sampled_from(BASES), spot=st.integers(0, 10**6), value=values)
@example(base=BASES[0], spot=3, value=[{1, 2}])  # parameters.lr: [!!set {1: null, 2: null}]
def test_any_value_anywhere_exits_0_or_2(base: dict[str, Any], spot: int, value: Any) -> None:
    """Any YAML value at any place of a valid file (the file may stay valid or not)."""
    value_yaml = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    value_yaml = value_yaml.removesuffix("\n...")
    broken = copy.deepcopy(base)
    parent, key = _locations(broken)[spot % len(_locations(broken))]
    marker = "__MARKER_7f3a__"
    parent[key] = marker
    text = yaml.safe_dump(broken, sort_keys=False, default_flow_style=True, width=10**6)
    content = text.replace(marker, value_yaml).encode()
    path = write(content, ".yaml")
    check_validate([(path, content)], strict=False)


@examples(30)
@given(
    base=st.sampled_from(BASES),
    field=st.sampled_from(["name", "description", "project", "entity", "program"]),
    text=st.one_of(st.text(max_size=20), st.sampled_from(TRICKY_STRINGS)),
)
@example(base=BASES[0], field="name", text="1e5")
@example(base=BASES[0], field="description", text="._e5")
@example(base=BASES[0], field="name", text="\x00")
def test_any_string_in_a_text_field_keeps_a_file_valid(
    base: dict[str, Any], field: str, text: str
) -> None:
    """W&B reads a string the YAML dumper wrote as that string; so must sweepctl. The one
    exception is by design: a NUL in a label (name, project, entity), which no store can hold,
    is refused at the label's line."""
    data = {**copy.deepcopy(base), field: text}
    if field == "program" and "command" not in data:
        data["command"] = ["${env}", "${interpreter}", "${program}"]
    content = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    reports = check_validate([(write(content, ".yaml"), content)], strict=False)
    if field in ("name", "project", "entity") and "\0" in text:
        assert not reports[0]["valid"]
        assert [e["path"] for e in reports[0]["errors"]] == [field], reports[0]["errors"]
        assert "NUL" in reports[0]["errors"][0]["message"]
        return
    assert reports[0]["valid"], reports[0]["errors"]


# -- (b) random text and bytes ---------------------------------------------------------------

FRAGMENTS = [
    "method: grid\n", "method: random\n", "method: bayes\n", "parameters:\n", "  lr:\n",
    "    values: [0.1, 0.01]\n", "    value: 1\n", "    min: 1e-5\n", "    max: 1\n",
    "    distribution: log_uniform\n", "metric: {name: loss}\n",
    "early_terminate: {type: hyperband, min_iter: 3}\n",
    "command: [${env}, ${program}]\n", "command:\n  - ${env}\n  - ${args}\n",
    "\t", "  ", "    ", "\n", "- ", ": ", "? ", ", ", "&a ", "&b ", "*a", "*b", "*nope",
    "<<: *a\n", "<<: [*a, *b]\n", "<<: 1\n", "base: &a {x: 1}\n", "list: &b [1, 2]\n",
    "!!python/object:os.system ", "!!python/object/apply:os.system [ls]\n",
    "!!python/name:os.system ", "!!python/tuple [1, 2]", "!!binary aGVsbG8=", "!!binary ",
    "!!set ", "!!omap ", "!!pairs ", "!!timestamp ", "!!bool ", "!!int ", "!!float ",
    "!!str ", "!!null ", "!!map ", "!!seq ", "!!merge ", "!custom ", "!<tag:x,2000:y> ",
    "2001-12-14t21:59:43.10-05:00", "2002-12-14", "2001-12-14 21:59:43.10 +25:00",
    "0000-00-00", "1e-5", ".5e-3", "._e5", "99999999999999999999999999999999",
    "1" * 400, "0x" + "f" * 60, "0b1010", "0o17", "0b_", "190:20:30", "1:", ".inf", "-.inf",
    ".nan", "~", "null", "yes", "off", "{", "}", "[", "]", "'", '"', "#", "|\n", ">-\n",
    "%YAML 1.1\n", "%YAML 9.9\n", "%TAG ! tag:x,2000:\n", "---\n", "...\n", "\ufeff",
    "\r\n", "\r", "\x85", "\u2028", "\x7f", "\x1b[31m", "\x00", "\ufffe", "é", "😀",
]  # fmt: skip

yaml_ish_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=30
).map("".join)


@st.composite
def deep_text(draw: st.DrawFn) -> str:
    """A valid file whose one value is nested ``depth`` levels deep."""
    # PyYAML's composer gives up near depth 490 and json near 990 (both then raise
    # RecursionError); the boundaries are where a crash would hide.
    depth = draw(st.one_of(st.integers(1, 1200), st.sampled_from([480, 490, 600, 995, 5000])))
    style = draw(st.sampled_from(["flow_list", "flow_map", "json", "block"]))
    if style == "flow_list":
        depth = min(depth, 700)  # PyYAML scans deeper flow lists in quadratic time
        value = "[" * depth + "]" * depth
    elif style == "flow_map":
        value = "{a: " * depth + "1" + "}" * depth
    elif style == "json":
        inner = "[" * depth + "]" * depth
        return '{"method": "grid", "parameters": {"a": {"value": ' + inner + "}}}"
    else:
        value = "\n" + "".join(" " * (6 + 2 * i) + "- \n" for i in range(min(depth, 200)))
    return f"method: grid\nparameters:\n  a:\n    value: {value}\n"


@st.composite
def garbled_sweep(draw: st.DrawFn) -> str:
    """A valid file with fragments of YAML syntax dropped in at random places."""
    text = yaml.safe_dump(draw(st.sampled_from(BASES)), sort_keys=False)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(FRAGMENTS)) + text[at:]
    return text


@examples(300)
@given(
    text=st.one_of(yaml_ish_text, garbled_sweep(), st.text()),
    suffix=st.sampled_from([".yaml", ".json", ".txt"]),
)
@example(text="method: grid\x7f\nparameters: {a: {value: 1}}\n", suffix=".yaml")
@example(text='{"method": "grid\x7f", "parameters": {"a": {"value": 1}}}', suffix=".json")
@example(text="method: !!bool abc\nparameters: {a: {value: 1}}\n", suffix=".yaml")
@example(text="method: !!timestamp abc\nparameters: {a: {value: 1}}\n", suffix=".yaml")
@example(text='method: !!int ""\nparameters: {a: {value: 1}}\n', suffix=".yaml")
@example(text='method: !!float ""\nparameters: {a: {value: 1}}\n', suffix=".yaml")
@example(text="method: grid\nparameters: {a: [2001-01-01]}\n", suffix=".yaml")
@example(text="method: grid\nparameters: {a: [!!binary aGk=]}\n", suffix=".yaml")
@example(text="method: 0x" + "f" * 4000 + "\nparameters: {a: {value: 1}}\n", suffix=".yaml")
@example(text="method: grid\ncommand: [0x" + "f" * 4000 + "]\nparameters: {a: {value: 1}}\n",
         suffix=".yaml")  # fmt: skip
@example(
    text="method: random\nparameters:\n  x:\n    values: [1]\n    probabilities: [1"
    + "0" * 400
    + "]\n",
    suffix=".yaml",
)
@example(text='{"method": ' + "1" * 5000 + "}", suffix=".json")
@example(text="[" * 100_000 + "]" * 100_000, suffix=".json")
def test_any_text_exits_0_or_2(text: str, suffix: str) -> None:
    content = text.encode("utf-8", errors="surrogatepass")
    check_validate([(write(content, suffix), content)], strict=False)


@examples(6)
@given(text=deep_text())
@example(text='{"method": "grid", "parameters": {"a": {"value": ' + "[" * 700 + "]" * 700 + "}}}")
def test_deeply_nested_files_exit_0_or_2(text: str) -> None:
    suffix = ".json" if text.startswith("{") else ".yaml"
    content = text.encode()
    check_validate([(write(content, suffix), content)], strict=False, in_process=False)


@examples(80)
@given(
    content=st.one_of(
        st.binary(max_size=200),
        # Text a sweep could hold, with bytes that break it: NULs, invalid UTF-8, a BOM.
        st.tuples(garbled_sweep(), st.binary(min_size=1, max_size=4), st.integers(0, 10**4)).map(
            lambda t: t[0].encode()[: t[2]] + t[1] + t[0].encode()[t[2] :]
        ),
        garbled_sweep().map(lambda t: t.encode("utf-16")),
        garbled_sweep().map(lambda t: b"\xef\xbb\xbf" + t.encode()),
    ),
    suffix=st.sampled_from([".yaml", ".json"]),
)
@example(content=b"method: grid\x17\nparameters: {a: {value: 1}}\n", suffix=".yaml")
def test_any_bytes_exit_0_or_2(content: bytes, suffix: str) -> None:
    check_validate([(write(content, suffix), content)], strict=False)


def test_unreadable_paths_exit_2() -> None:
    """Missing files, directories and over-long names are usage errors, not crashes."""
    for path in (
        _WORKDIR / "missing.yaml",
        _WORKDIR,
        _WORKDIR / ("a" * 5000 + ".yaml"),  # ENAMETOOLONG from the file system
    ):
        code, out, err = run_cli(["validate", str(path)])
        assert code == 2, f"exit {code}\n{out}\n{err}"
        assert f"{path}: error: " in err, err


def test_alias_bomb_exits_0_or_2_in_bounded_memory() -> None:
    """Ten lines of anchors and aliases (10**7 leaves if expanded) in 512 MiB of memory.

    ``yaml.safe_load`` reads this in milliseconds: aliases share one object. A checker that
    walks every alias again needs gigabytes.
    """
    lines = [
        "method: grid",
        "parameters:",
        "  a:",
        "    value:",
        "      l0: &a0 [" + ", ".join("x" * 10) + "]",
    ]
    for level in range(1, 7):
        lines.append(f"      l{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    path = write(("\n".join(lines) + "\n").encode(), ".yaml", "aliases")
    script = "import sys; from sweepctl.cli import main; main(sys.argv[1:])"

    def cap_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))

    done = subprocess.run(
        [sys.executable, "-c", script, "validate", str(path)],
        preexec_fn=cap_memory,
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, not a measurement
    )
    crash = _CRASH_LOG.search(done.stderr)
    if crash and os.path.exists(crash.group(1)):
        os.unlink(crash.group(1))
    assert done.returncode in (0, 2), done.stderr


@pytest.mark.parametrize(
    "argv",
    [["validate"], ["validate", "--no-such-option", "x.yaml"], ["no-such-command"]],
    ids=["no-file", "unknown-option", "unknown-command"],
)
def test_usage_errors_exit_2_with_a_message(argv: list[str]) -> None:
    """A mistyped command line is a usage error (exit 2), as click reports it."""
    code, out, err = run_cli(argv)
    assert code == 2, f"exit {code}\n{out}\n{err}"
    assert "Usage:" in out + err and "Traceback" not in out + err
