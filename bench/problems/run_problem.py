"""The program of the benchmark's sweeps: evaluate one config, log it as the run's ``loss``.

    python bench/problems/run_problem.py --problem branin --x1=0.5 --x2=3.0

Launched by ``sweepctl agent`` through W&B's command macros (``${args}`` gives the
``--name=value`` items), so the sweepctl engines are measured through the real CLI. With
``BENCH_EVAL_SOCKET`` set, the value is computed by the harness's warm evaluator (service.py)
instead of in this process: same function, without paying scikit-learn's import per run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sweepctl
from problems import METRIC, PROBLEMS, evaluate, parse_value, service


def parse(argv: list[str]) -> tuple[str, dict]:
    """The problem's name and the config given as ``--name=value`` arguments."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", required=True, choices=sorted(PROBLEMS))
    known, rest = parser.parse_known_args(argv)
    params = {p.name: p for p in PROBLEMS[known.problem].params}
    config = {}
    for item in rest:
        name, _, text = item.removeprefix("--").partition("=")
        config[name] = parse_value(params[name], text)
    missing = set(params) - set(config)
    if missing:
        parser.error(f"missing parameters: {sorted(missing)}")
    return known.problem, config


def main() -> None:
    problem, config = parse(sys.argv[1:])
    address = os.environ.get(service.ENV)
    if address:
        value = service.request(address, problem, config)
    else:
        value = evaluate(problem, config)
    sweepctl.log({METRIC: value})


if __name__ == "__main__":
    main()
