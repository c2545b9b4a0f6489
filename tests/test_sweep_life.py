"""A sweep's whole life through the real CLI: update (W&B's `sweep --update`), resume after a
cancel, delete, and sweeps named alike told apart by their ids."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from sweepctl.cli import main

PROGRAM = (
    "import sys, sweepctl\nx = float(sys.argv[1].split('=')[1])\nsweepctl.log({'loss': x * x})\n"
)
GRID = "name: g\nmethod: grid\nmetric: {name: loss, goal: minimize}\nprogram: p.py\nparameters:\n"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWEEPCTL_STORAGE", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "p.py").write_text(PROGRAM)
    (tmp_path / "two.yaml").write_text(GRID + "  x: {values: [1, 2]}\n")
    (tmp_path / "three.yaml").write_text(GRID + "  x: {values: [1, 2, 0.5]}\n")
    return tmp_path


def test_update_adds_grid_points_and_runs_only_the_new_ones(capsys, here) -> None:
    _, sweep_id, _ = cli(capsys, "create", "two.yaml", "-q")
    sweep_id = sweep_id.strip()
    assert cli(capsys, "agent", sweep_id)[0] == 0
    code, out, _ = cli(capsys, "update", sweep_id, "three.yaml")
    assert code == 0
    assert out.strip() == f"updated sweep g ({sweep_id}) (running): changed parameters"
    assert cli(capsys, "agent", sweep_id)[0] == 0
    code, out, _ = cli(capsys, "runs", sweep_id, "--json")
    runs = json.loads(out)
    assert sorted(r["config"]["x"] for r in runs) == [0.5, 1, 2]  # 1 and 2 not run twice
    _, out, _ = cli(capsys, "ls", "--json")
    assert json.loads(out)[0]["state"] == "finished"


def test_update_keeps_the_method_and_the_metric(capsys, here) -> None:
    _, sweep_id, _ = cli(capsys, "create", "two.yaml", "-q")
    (here / "random.yaml").write_text(
        "method: random\nmetric: {name: acc, goal: maximize}\nprogram: p.py\n"
        "parameters:\n  x: {values: [1, 2]}\n"
    )
    code, _, err = cli(capsys, "update", sweep_id.strip(), "random.yaml")
    assert code == 2
    assert "random.yaml:1: error: method: the sweep's method is grid; an update keeps it" in err
    assert "random.yaml:2: error: metric: the sweep's metric is loss (minimize)" in err
    _, out, _ = cli(capsys, "ls", "--json")
    assert json.loads(out)[0]["method"] == "grid"  # nothing changed


def test_a_canceled_sweep_can_be_resumed(capsys, here) -> None:
    _, sweep_id, _ = cli(capsys, "create", "two.yaml", "-q")
    sweep_id = sweep_id.strip()
    assert cli(capsys, "stop", sweep_id, "--cancel")[0] == 0
    code, out, _ = cli(capsys, "resume", sweep_id)
    assert code == 0 and f"sweep g ({sweep_id}) is now running" in out
    assert cli(capsys, "agent", sweep_id)[0] == 0
    _, out, _ = cli(capsys, "runs", sweep_id, "--json")
    assert [r["state"] for r in json.loads(out)] == ["finished", "finished"]


def test_delete_asks_or_takes_yes_and_removes_runs_and_files(capsys, here) -> None:
    _, keep, _ = cli(capsys, "create", "two.yaml", "-q")
    _, gone, _ = cli(capsys, "create", "three.yaml", "-q")
    keep, gone = keep.strip(), gone.strip()
    assert cli(capsys, "agent", gone)[0] == 0
    files = here / "runs" / gone
    assert files.is_dir()
    code, _, err = cli(capsys, "delete", gone)  # stdin is not a terminal here
    assert code == 2 and "add --yes" in err
    code, out, _ = cli(capsys, "delete", gone, "--yes")
    assert code == 0 and out.strip() == f"deleted sweep g ({gone}): 3 runs"
    assert not files.exists()
    _, out, _ = cli(capsys, "ls", "--json")
    assert [s["sweep_id"] for s in json.loads(out)] == [keep]
    code, _, err = cli(capsys, "runs", gone)
    assert code == 2 and f"no sweep {gone!r}" in err


def test_delete_asks_at_a_terminal_and_deletes_the_sweep_it_asked_about(
    capsys, here, monkeypatch
) -> None:
    import click

    from sweepctl import api

    _, first, _ = cli(capsys, "create", "two.yaml", "-q")
    first = first.strip()
    asked = []

    def answer(prompt: str) -> str:
        asked.append(prompt)
        api.create(here / "three.yaml")  # meanwhile another sweep named g: the name is ambiguous
        return "y"

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(click.termui, "visible_prompt_func", answer)
    code, out, err = cli(capsys, "delete", "g")
    assert code == 0, err
    assert asked[0].startswith(f"delete sweep g ({first}) and its 0 runs?")
    assert out.strip().endswith(f"deleted sweep g ({first}): 0 runs")
    _, out, _ = cli(capsys, "ls", "--json")
    remaining = json.loads(out)
    assert len(remaining) == 1 and remaining[0]["sweep_id"] != first  # the new one is kept


def test_sweeps_named_alike_are_told_apart_by_their_ids(capsys, here) -> None:
    _, first, _ = cli(capsys, "create", "two.yaml", "-q")
    _, second, _ = cli(capsys, "create", "two.yaml", "-q")
    first, second = first.strip(), second.strip()
    code, _, err = cli(capsys, "runs", "g")
    assert code == 2 and first in err and second in err  # the name alone is ambiguous
    code, out, _ = cli(capsys, "pause", second)
    assert out.strip().startswith(f"sweep g ({second}) is now paused")


def test_requeue_offers_failed_and_killed_configs_again(capsys, here) -> None:
    """A grid whose x=2 point failed is finished with no result for it; `requeue` puts the
    point back (the failed run kept, marked), and the next agent finishes it."""
    (here / "p.py").write_text(
        "import os, sys, sweepctl\n"
        "x = float(sys.argv[1].split('=')[1])\n"
        "if x == 2 and not os.path.exists('fixed'):\n"
        "    sys.exit('x=2 diverged')\n"
        "sweepctl.log({'loss': x * x})\n"
    )
    _, sweep_id, _ = cli(capsys, "create", "three.yaml", "-q")
    sweep_id = sweep_id.strip()
    cli(capsys, "agent", sweep_id)
    _, out, _ = cli(capsys, "ls", "--json")
    assert json.loads(out)[0]["state"] == "finished"
    code, _, err = cli(capsys, "requeue", sweep_id, "--state", "faild")
    assert code == 2 and "did you mean 'failed'?" in err
    code, _, err = cli(capsys, "requeue", sweep_id, "--state", "finished")
    assert code == 2 and "runs in state 'finished' cannot be requeued" in err
    code, out, err = cli(capsys, "requeue", sweep_id)
    assert code == 0 and f"requeued 1 runs of sweep g ({sweep_id}) (1 failed)" in out
    _, out, _ = cli(capsys, "ls", "--json")
    assert json.loads(out)[0]["state"] == "running"  # a point has no result again
    (here / "fixed").write_text("")
    assert cli(capsys, "agent", sweep_id)[0] == 0
    _, out, _ = cli(capsys, "runs", sweep_id, "--json")
    runs = json.loads(out)
    assert sorted((r["config"]["x"], r["state"]) for r in runs) == [
        (0.5, "finished"),
        (1, "finished"),
        (2, "finished"),
        (2, "requeued"),
    ]
    old = next(r for r in runs if r["state"] == "requeued")
    assert old["reason"].startswith("requeued by user; was failed: exit code 1")
    # Nothing left to requeue in the default states; other states by name.
    code, out, _ = cli(capsys, "requeue", sweep_id, "--state", "killed,crashed", "--json")
    assert json.loads(out)["requeued"] == {}
