"""The CLI in-process: stdout carries results only, errors are one line, README matches --help."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from sweepctl.cli import app, main

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "s.db"
    monkeypatch.setenv("SWEEPCTL_STORAGE", f"sqlite:///{path}")
    return path


def test_create_quiet_prints_only_the_id_and_warnings_go_to_stderr(capsys, store, write_sweep):
    sweep = write_sweep("method: grid\nparameters:\n  lr: {values: [1e-3, 1e-2]}\n")
    code, out, err = run_cli(capsys, "create", str(sweep), "--quiet")
    assert code == 0
    assert re.fullmatch(r"[a-z0-9]{8}\n", out)
    assert "W&B reads this as the string '1e-3'" in err
    code, out, _ = run_cli(capsys, "ls", "--json")
    (listed,) = json.loads(out)
    assert listed["method"] == "grid" and listed["runs"] == 0


def test_create_json_and_dry_run(capsys, store, write_sweep):
    sweep = write_sweep(
        "name: g\nmethod: grid\nparameters:\n  a: {min: 1, max: 3}\n  b: {value: x}\n"
    )
    code, out, _ = run_cli(capsys, "create", str(sweep), "--dry-run", "--json")
    data = json.loads(out)
    assert code == 0 and not store.exists()  # a dry run stores nothing
    assert data["method"] == "grid" and data["grid_points"] == 3
    assert data["first_configs"] == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}, {"a": 3, "b": "x"}]
    assert data["parameters"]["a"]["distribution"] == "int_uniform"
    code, out, _ = run_cli(capsys, "create", str(sweep), "--json")
    created = json.loads(out)
    assert created["name"] == "g" and created["grid_points"] == 3
    assert created["agent_command"] == f"sweepctl agent {created['sweep_id']}"


def test_invalid_file_exits_2_with_file_line(capsys, store, write_sweep):
    sweep = write_sweep("method: grid\nparameters:\n  a: {min: 3, max: 1}\n")
    code, out, err = run_cli(capsys, "create", str(sweep))
    assert code == 2 and out == ""
    assert f"{sweep}:3: error: parameters.a.min: min 3 must be less than max 1" in err
    assert not store.exists()


def test_unknown_id_suggests_the_closest(capsys, store, write_sweep):
    sweep = write_sweep("method: grid\nparameters:\n  a: {values: [1]}\n")
    _, out, _ = run_cli(capsys, "create", str(sweep), "-q")
    sweep_id = out.strip()
    typo = sweep_id[:-1] + ("x" if sweep_id[-1] != "x" else "y")
    code, out, err = run_cli(capsys, "runs", typo)
    assert code == 2 and out == ""
    assert err.startswith(f"error: no sweep {typo!r} in this store")
    assert f"did you mean {sweep_id}?" in err
    code, out, _ = run_cli(capsys, "runs", sweep_id[:4], "--json")  # a unique prefix works
    assert code == 0 and json.loads(out) == []


def test_best_without_runs_is_a_clear_error(capsys, store, write_sweep):
    sweep = write_sweep("method: grid\nmetric: {name: loss}\nparameters:\n  a: {values: [1]}\n")
    _, out, _ = run_cli(capsys, "create", str(sweep), "-q")
    code, _, err = run_cli(capsys, "best", out.strip())
    assert code == 2 and "has a value of 'loss' yet" in err


def test_control_state_changes(capsys, store, write_sweep):
    sweep = write_sweep("method: grid\nparameters:\n  a: {values: [1]}\n")
    _, out, _ = run_cli(capsys, "create", str(sweep), "-q")
    sweep_id = out.strip()
    assert run_cli(capsys, "pause", sweep_id)[1] == f"sweep {sweep_id} is now paused\n"
    code, _, err = run_cli(capsys, "pause", sweep_id)
    assert code == 2 and "is paused; it cannot be paused" in err
    assert run_cli(capsys, "resume", sweep_id)[0] == 0
    assert "0 running runs will be killed" in run_cli(capsys, "stop", sweep_id, "--cancel")[1]


@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").exists(), reason="the shared corpus is absent")
def test_dry_run_grid_points_match_the_corpus_manifest(capsys):
    with (CORPUS / "MANIFEST.tsv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["grid_points"]]
    assert rows
    for row in rows:
        if row["reason"] not in ("ok", "sci_notation_string"):
            continue
        # Their programs are in their authors' repositories, not here.
        code, out, _ = run_cli(
            capsys,
            "create",
            str(CORPUS / "files" / row["file"]),
            "--dry-run",
            "--json",
            "--no-check-program",
        )
        assert code == 0, row["file"]
        assert json.loads(out)["grid_points"] == int(row["grid_points"]), row["file"]


def _options(command) -> set[str]:
    found = set()
    for param in command.params:
        found.update(o for o in getattr(param, "opts", []) if o.startswith("--"))
    return found - {"--help"}


def test_readme_documents_every_command_and_option():
    import typer

    readme = (REPO / "README.md").read_text()
    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        assert f"sweepctl {name}" in readme, f"`sweepctl {name}` is not in the README"
        for option in _options(command):
            if option == "--storage":
                assert "--storage URL" in readme
                continue
            assert option in readme, f"`sweepctl {name} {option}` is not in the README"


def test_a_mistyped_command_gets_one_suggestion(capsys):
    code, out, err = run_cli(capsys, "agen")
    assert code == 2 and out == ""
    assert err.count("Did you mean 'agent'?") == 1, err


def test_create_checks_the_program_it_will_run(capsys, store, tmp_path, monkeypatch):
    """A misspelled `program:` is caught at create, not at agent: exit 2, nothing stored."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("pass\n")
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nprogram: trian.py\nparameters:\n  lr: {values: [0.1]}\n"
    )
    code, _, err = run_cli(capsys, "create", "sweep.yaml")
    assert code == 2
    assert f"sweep.yaml:2: error: program: 'trian.py' not found in {tmp_path}" in err
    assert "did you mean 'train.py'?" in err and "nothing was stored" in err
    assert not store.exists()  # not even an empty store
    code, _, err = run_cli(capsys, "create", "sweep.yaml", "--no-check-program", "-q")
    assert code == 0
    # On a shared store agents on other machines may have it: a warning, and it is stored.
    monkeypatch.setenv("SWEEPCTL_STORAGE", "postgresql://nobody@127.0.0.1:1/none")
    from sweepctl import api

    created = api.create(tmp_path / "sweep.yaml", dry_run=True)
    assert [w.message for w in created.warnings] == [f"'trian.py' not found in {tmp_path}"]
    assert "checked here only" in created.warnings[0].hint


@pytest.mark.parametrize("columns", ["60", "80", "120"])
def test_the_top_level_help_shows_whole_sentences(columns):
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "sweepctl", "--help"],
        env={**os.environ, "COLUMNS": columns},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    commands = done.stdout.split("Commands:\n", 1)[1].splitlines()
    assert len(commands) >= 16
    for line in commands:
        assert line.rstrip().endswith(".") and not line.rstrip().endswith("..."), line


def test_parallelism_has_one_name_on_every_command_that_runs_runs():
    import typer

    group = typer.main.get_command(app)
    for name in ("agent", "launch", "run-best"):
        assert "--workers" in _options(group.commands[name]), name
