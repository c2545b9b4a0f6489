"""The metrics channel: the file format, the incremental reader, and W&B's metric rules.

The rules restate reference/wandb-sweeps.md section 5 (a finished run's metric value is the
best of its history and summary, `SweepRun.metric_extremum`) and section 6 (hyperband's
iterations are the rows that hold the metric, non-finite values dropped).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

import pytest

import sweepctl
from sweepctl.agent import metrics
from sweepctl.agent.metrics import MetricsTail
from sweepctl.run_metric import metric_history, metric_value, summarize


class FakeScalar:
    """Stands in for a numpy or torch scalar: a non-JSON type with `.item()`."""

    def __init__(self, value):
        self.value = value

    def item(self):
        return self.value


class FakeTensor:
    """A many-element tensor: `.item()` raises, so the value is written as text."""

    def item(self):
        raise ValueError("only one element tensors can be converted to Python scalars")

    def __str__(self) -> str:
        return "tensor([1., 2.])"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_append_writes_one_json_line_per_step_with_step_and_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    metrics.append(path, {"loss": 0.5})
    metrics.append(path, {"loss": 0.25, "acc": 0.9})

    rows = lines(path)
    assert [r["_step"] for r in rows] == [0, 1]
    assert rows[0]["loss"] == 0.5 and rows[1]["acc"] == 0.9
    assert all(isinstance(r["_timestamp"], float) for r in rows)
    assert path.read_text().endswith("\n")


def test_append_counts_steps_per_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    metrics.append(a, {"x": 1})
    metrics.append(b, {"x": 1})
    metrics.append(a, {"x": 2})
    assert [r["_step"] for r in lines(a)] == [0, 1]
    assert [r["_step"] for r in lines(b)] == [0]


def test_append_keeps_a_given_step_and_continues_after_it_like_wandb(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    metrics.append(path, {"x": 1, "_step": 10})
    metrics.append(path, {"x": 2})
    metrics.append(path, {"x": 3, "_step": 4})  # an earlier step is the caller's to give
    metrics.append(path, {"x": 4, "_timestamp": 123.0})
    assert [(r["x"], r["_step"]) for r in lines(path)] == [(1, 10), (2, 11), (3, 4), (4, 12)]
    assert lines(path)[3]["_timestamp"] == 123.0


def test_append_converts_what_json_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    metrics.append(
        path,
        {
            "np": FakeScalar(0.125),
            "int": FakeScalar(7),
            "flag": FakeScalar(True),
            "tensor": FakeTensor(),
            "dec": Decimal("1.5"),
            "tuple": (1, FakeScalar(2.5)),
            "nested": {"a": FakeScalar(1.0), 3: "int key"},
            "path": Path("/tmp/x"),
        },
    )
    (row,) = lines(path)
    assert row["np"] == 0.125 and row["int"] == 7 and row["flag"] is True
    assert row["tensor"] == "tensor([1., 2.])"
    assert row["dec"] == "1.5"
    assert row["tuple"] == [1, 2.5]
    assert row["nested"] == {"a": 1.0, "3": "int key"}
    assert row["path"] == "/tmp/x"


def test_non_finite_floats_round_trip_as_json_tokens(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    metrics.append(path, {"loss": float("nan"), "hi": float("inf"), "lo": -math.inf})
    text = path.read_text()
    assert '"loss":NaN' in text and '"hi":Infinity' in text and '"lo":-Infinity' in text

    (row,) = MetricsTail(path).read_new()
    assert math.isnan(row["loss"]) and row["hi"] == math.inf and row["lo"] == -math.inf


def test_append_rejects_a_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="mapping"):
        metrics.append(tmp_path / "m.jsonl", [("loss", 1.0)])  # type: ignore[arg-type]


def test_newlines_in_values_stay_inside_one_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    metrics.append(path, {"note": "two\nlines", "ünï": "cödé"})
    assert len(path.read_bytes().splitlines()) == 1
    (row,) = MetricsTail(path).read_new()
    assert row["note"] == "two\nlines" and row["ünï"] == "cödé"


def test_tail_of_a_missing_file_has_no_rows(tmp_path: Path) -> None:
    tail = MetricsTail(tmp_path / "not-yet.jsonl")
    assert tail.read_new() == []
    metrics.append(tmp_path / "not-yet.jsonl", {"loss": 1.0})
    assert [r["loss"] for r in tail.read_new()] == [1.0]


def test_tail_reads_only_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    metrics.append(path, {"loss": 3.0})
    metrics.append(path, {"loss": 2.0})
    assert [r["loss"] for r in tail.read_new()] == [3.0, 2.0]
    assert tail.read_new() == []
    metrics.append(path, {"loss": 1.0})
    assert [r["loss"] for r in tail.read_new()] == [1.0]


def test_tail_keeps_a_partial_last_line_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    line = json.dumps({"loss": 0.5, "note": "é"}, ensure_ascii=False).encode() + b"\n"
    cut = line.index(b"\xc3") + 1  # in the middle of a UTF-8 character
    tail = MetricsTail(path)
    path.write_bytes(line[:cut])
    assert tail.read_new() == []
    with path.open("ab") as f:
        f.write(line[cut:])
    assert tail.read_new() == [{"loss": 0.5, "note": "é"}]
    assert tail.skipped == 0


def test_tail_final_read_takes_an_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"loss": 1}\n{"loss": 2}')
    tail = MetricsTail(path)
    assert tail.read_new() == [{"loss": 1}]
    assert tail.read_new(final=True) == [{"loss": 2}]
    assert tail.read_new(final=True) == []


def test_tail_skips_and_counts_lines_that_are_not_json_objects(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    junk = [b"not json", b"[1, 2]", b'"text"', b'{"loss": ', b"\xff\xfe", b"[" * 100_000]
    path.write_bytes(b'{"loss": 1}\n' + b"\n".join(junk) + b'\n\n{"loss": 2}\r\n \n{"loss": 3}\n')
    tail = MetricsTail(path)
    assert [r["loss"] for r in tail.read_new()] == [1, 2, 3]
    assert tail.skipped == 6


def test_tail_starts_over_when_the_file_is_replaced_by_a_shorter_one(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"loss": 1, "padding": "xxxxxxxxxxxxxxxx"}\n')
    tail = MetricsTail(path)
    assert len(tail.read_new()) == 1
    path.write_text('{"loss": 9}\n')
    assert tail.read_new() == [{"loss": 9}]


def test_summary_is_the_last_value_of_each_key() -> None:
    rows = [
        {"loss": 3.0, "acc": 0.1, "_step": 0, "_timestamp": 1.0, "_runtime": 1},
        {"loss": 2.0, "_step": 1, "_timestamp": 2.0},
        {"lr": 0.01, "_step": 2, "_timestamp": 3.0},
    ]
    assert summarize(rows) == {"loss": 2.0, "acc": 0.1, "lr": 0.01, "_step": 2}
    assert summarize([]) == {}


def test_metric_value_is_the_best_value_ever_logged_not_the_last() -> None:
    rows = [{"loss": 3.0}, {"loss": 1.0}, {"acc": 0.5}, {"loss": 2.0}]
    summary = summarize(rows)
    assert summary["loss"] == 2.0
    assert metric_value(rows, summary, "loss", "minimize") == 1.0
    assert metric_value(rows, summary, "loss", "maximize") == 3.0
    assert metric_value(rows, summary, "acc", "maximize") == 0.5


def test_metric_value_counts_the_summary_value() -> None:
    # W&B's own doctest: history a = 1, 2 and summary a = 50 → maximum 50.
    rows = [{"a": 1}, {"b": 3}, {"a": 2, "b": 4}]
    assert metric_value(rows, {"a": 50}, "a", "maximize") == 50
    assert metric_value(rows, {"a": -5}, "a", "minimize") == -5
    assert metric_value([], {"a": 0.25}, "a", "minimize") == 0.25
    assert metric_value(rows, None, "a", "minimize") == 1


def test_metric_value_ignores_non_finite_and_non_numeric_values() -> None:
    rows = [
        {"loss": float("nan")},
        {"loss": float("-inf")},
        {"loss": True},
        {"loss": "0.001"},
        {"loss": None},
        {"loss": {"nested": 1}},
        {"loss": 10**400},
        {"loss": 0.75},
    ]
    assert metric_value(rows, {"loss": float("nan")}, "loss", "minimize") == 0.75
    assert metric_value(rows, {}, "loss", "maximize") == 0.75


def test_metric_value_is_none_when_the_metric_never_had_a_finite_value() -> None:
    assert metric_value([{"acc": 1.0}], {"acc": 1.0}, "loss", "minimize") is None
    assert metric_value([{"loss": float("nan")}], {"loss": float("nan")}, "loss", "min") is None
    assert metric_value([], {}, "loss", "maximize") is None


def test_metric_value_rejects_an_unknown_goal() -> None:
    with pytest.raises(ValueError, match="goal"):
        metric_value([{"loss": 1.0}], {}, "loss", "lowest")


def test_slash_names_are_plain_keys_and_dotted_names_reach_into_nested_dicts() -> None:
    rows = [{"val/loss": 0.5}, {"val": {"loss": 0.25}}, {"val.loss": 0.75}]
    assert metric_history(rows, "val/loss") == [0.5]
    # The plain key "val.loss" wins where it exists; the nested dict counts where it does not.
    assert metric_history(rows, "val.loss") == [0.25, 0.75]
    assert metric_value(rows, {"val": {"loss": 0.1}}, "val.loss", "minimize") == 0.1
    deep = [{"a": {"b.c": {"d": 2}}}, {"a.b": {"c": {"d": 3}}}]
    assert metric_history(deep, "a.b.c.d") == [2, 3]


def test_metric_history_counts_only_rows_that_hold_a_finite_value() -> None:
    # Section 6: one loss row and three acc rows is iteration 1 only.
    rows = [{"loss": 1.0}, {"acc": 0.1}, {"acc": 0.2}, {"acc": 0.3}]
    assert metric_history(rows, "loss") == [1.0]
    rows = [{"loss": 3}, {"loss": float("nan")}, {"loss": 2.5}, {"x": 1}, {"loss": 1}]
    assert metric_history(rows, "loss") == [3.0, 2.5, 1.0]
    assert all(isinstance(v, float) for v in metric_history(rows, "loss"))
    assert metric_history([], "loss") == []


def test_sweepctl_log_outside_a_sweep_does_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SWEEPCTL_METRICS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    sweepctl.log({"loss": 1.0})
    assert list(tmp_path.iterdir()) == []


def test_sweepctl_log_appends_steps_to_the_runs_metrics_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.jsonl"
    monkeypatch.setenv("SWEEPCTL_METRICS_FILE", str(path))
    sweepctl.log({"loss": 1.0})
    sweepctl.log({"loss": 0.5}, step=5)
    sweepctl.log({"loss": 0.25})
    rows = MetricsTail(path).read_new()
    assert [(r["loss"], r["_step"]) for r in rows] == [(1.0, 0), (0.5, 5), (0.25, 6)]
