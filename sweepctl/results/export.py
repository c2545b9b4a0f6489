"""Results out of the store: the best run, runs as flat rows, and the file formats."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from sweepctl import ranking
from sweepctl.errors import UsageError
from sweepctl.outfile import write_output
from sweepctl.records import Run, Sweep
from sweepctl.spec.model import Metric

RUN_FORMATS = (".csv", ".json", ".jsonl")
BEST_FORMATS = ("json", "yaml", "env", "args")
# What `export-best --out FILE` writes when no --format is given, by the file's extension.
BEST_EXTENSIONS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".env": "env"}


def best_format(out: Path | None) -> str:
    """The format `export-best` writes to ``out`` without ``--format``: by its extension
    (``.yaml``/``.yml``, ``.env``, ``.json``), else JSON."""
    return BEST_EXTENSIONS.get(out.suffix.lower(), "json") if out is not None else "json"


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def best_run(metric: Metric | None, runs: list[Run]) -> Run | None:
    """The best run by the one rule of :mod:`sweepctl.ranking`."""
    return ranking.rank(metric, runs).best


def rank(metric: Metric | None, runs: list[Run]) -> list[Run]:
    """Every run, the ranked ones best first, then those left out (in creation order)."""
    found = ranking.rank(metric, runs)
    return found.ranked + found.left_out


def run_json(run: Run) -> dict[str, Any]:
    """A run as `runs --json` prints it: the plain config, summary, metric and times."""
    return {
        "run_id": run.id,
        "number": run.number,
        "state": run.state,
        "config": run.config,
        "summary": run.summary,
        "metric": run.metric,
        "exit_code": run.exit_code,
        "reason": run.reason,
        "started_at": iso(run.started_at),
        "ended_at": iso(run.ended_at),
        "duration": round(run.duration, 3) if run.duration is not None else None,
    }


def best_json(sweep: Sweep, run: Run) -> dict[str, Any]:
    metric = sweep.spec.metric
    return {
        "sweep_id": sweep.id,
        "run_id": run.id,
        "state": run.state,
        "metric": {
            "name": metric.name if metric else None,
            "goal": metric.goal if metric else None,
            "value": run.metric,
        },
        "config": run.config,
    }


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """``{"opt": {"lr": 1}}`` under ``config`` -> ``{"config.opt.lr": 1}``."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value
    return out


def flat_row(run: Run) -> dict[str, Any]:
    row = {k: v for k, v in run_json(run).items() if k not in ("config", "summary")}
    flatten("config", run.config, row)
    flatten("summary", run.summary, row)
    return row


def write_runs(runs: list[Run], out: str | os.PathLike[str]) -> None:
    """Write runs to ``out`` as CSV, JSON or JSON lines, chosen by its extension."""
    suffix = Path(out).suffix.lower()
    if suffix not in RUN_FORMATS:
        raise UsageError(
            f"cannot tell the format of {Path(out).name!r}",
            hint="name the file .csv, .json or .jsonl",
        )
    rows = [flat_row(r) for r in runs]
    if suffix == ".json":
        text = json.dumps(rows, indent=2, default=str) + "\n"
    elif suffix == ".jsonl":
        text = "".join(json.dumps(r, default=str) + "\n" for r in rows)
    else:
        text = csv_text(rows)
    write_output(out, text)


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Flat rows as CSV: every key any row has is a column; lists and dicts as JSON."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return value


def _env_name(name: str) -> str:
    # A shell variable name: letters, digits and _, not starting with a digit.
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return safe if safe and not safe[0].isdigit() else "_" + safe


def env_text(flat: dict[str, Any]) -> str:
    """``NAME='value'`` lines that a POSIX shell sources without running anything: values
    quoted as ``shlex.quote`` does; names that would collide, and values with a line break or
    NUL (an env file is read line by line), are refused."""
    names: dict[str, str] = {}
    lines = []
    for key, value in flat.items():
        name = _env_name(key)
        if name in names:
            raise UsageError(
                f"parameters {names[name]!r} and {key!r} would both be the variable {name}",
                hint="rename one of them, or use --format json or yaml",
            )
        names[name] = key
        text = _arg_value(value)
        if any(c in text for c in "\0\n\r"):
            raise UsageError(
                f"the value of {key!r} holds a line break or NUL, which an env file cannot hold",
                hint="use --format json or yaml",
            )
        lines.append(f"{name}={shlex.quote(text)}\n")
    return "".join(lines)


def args_text(config: dict[str, Any]) -> str:
    """One line of ``--key=value`` words quoted for a POSIX shell (``shlex.join``)."""
    words = [f"--{k}={_arg_value(v)}" for k, v in config.items()]
    if any("\0" in w for w in words):
        raise UsageError("a name or value holds NUL, which a command line cannot hold")
    return shlex.join(words) + "\n"


def _arg_value(value: Any) -> str:
    # The same text W&B's ${args} gives a program: Python's str() of the value.
    return str(value)


def yaml_text(data: Any) -> str:
    """``data`` as block YAML, non-ASCII text kept readable where that reads back the same.

    PyYAML writes NEL, LS and PS (U+0085, U+2028, U+2029) raw with ``allow_unicode`` and then
    reads them as line breaks; where the readable text does not load back equal, every
    non-ASCII character is escaped instead.
    """
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    if yaml.safe_load(text) == data:
        return text
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=False, default_flow_style=False)


def format_best(found: dict[str, dict[str, Any]], fmt: str, single: bool) -> str:
    """Best runs as text; ``found`` maps sweep name -> `best` JSON (sweep, run, metric, config).

    json: the config (one sweep) or ``{name: config}``; yaml: grouped by sweep, each with its
    run and the metric value to expect, for the final training runs; env and args: one
    sweep's config as ``KEY=value`` lines or one ``--key=value`` line.
    """
    if fmt not in BEST_FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"one of: {', '.join(BEST_FORMATS)}")
    if fmt in ("env", "args") and not single:
        raise UsageError(
            f"--format {fmt} writes one sweep's config; {len(found)} sweeps were given",
            hint="give one sweep id, or use --format json or yaml",
        )
    if fmt == "yaml":
        grouped = {
            name: {
                "sweep_id": best["sweep_id"],
                "run_id": best["run_id"],
                "expected": {best["metric"]["name"]: best["metric"]["value"]},
                "goal": best["metric"]["goal"],
                "config": best["config"],
            }
            for name, best in found.items()
        }
        return yaml_text(grouped)
    configs = {name: best["config"] for name, best in found.items()}
    data: Any = next(iter(configs.values())) if single else configs
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    flat = flatten("", data, {})
    if fmt == "env":
        return env_text(flat)
    return args_text(data)
