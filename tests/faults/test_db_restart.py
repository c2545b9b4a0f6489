"""A PostgreSQL restart in the middle of a sweep (a fast shutdown, 12 s down, then a start),
on a private server so that the shared one stays up for the other tests: the agents wait,
reconnect and go on; no step is lost; each agent says once that it is waiting."""

from __future__ import annotations

import json
import time

import pytest

from .conftest import wait_for
from .private_postgres import PrivatePostgres

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PROGRAM = """
import time
import sweepctl
for step in range(8):
    sweepctl.log({"loss": 1.0 / (step + 1)})
    time.sleep(0.5)
"""

SWEEP = """
program: prog.py
method: grid
metric: {name: loss}
parameters:
  a: {values: [1, 2, 3, 4, 5, 6, 7, 8]}
"""


def test_agents_wait_for_a_restarted_database_and_lose_nothing(
    private_postgres: PrivatePostgres, workspace_factory
):
    ws = workspace_factory(private_postgres.url)
    ws.file("prog.py", PROGRAM)
    ws.file("s.yaml", SWEEP)
    sweep = ws.run("create", "s.yaml", "--quiet").stdout.strip()
    agents = [ws.agent(sweep), ws.agent(sweep)]
    wait_for(lambda: any(r["state"] == "running" for r in ws.json("runs", sweep)), 90, "a run")
    time.sleep(4)
    private_postgres.stop()
    try:
        time.sleep(12)
    finally:
        private_postgres.start()
    for agent in agents:
        _, err = agent.communicate(timeout=300)
        assert agent.returncode == 0, err
        assert "Traceback" not in err
        waiting = [line for line in err.splitlines() if "waiting for the store" in line]
        assert len(waiting) == 1, err  # said once, not once per retry
    runs = ws.json("runs", sweep)
    assert sorted(r["config"]["a"] for r in runs if r["state"] == "finished") == list(range(1, 9))
    assert {r["state"] for r in runs} == {"finished"}, [(r["config"], r["state"]) for r in runs]
    for run in runs:
        rows = ws.sql(
            f"SELECT data FROM sweepctl_metrics WHERE run_id = '{run['run_id']}' ORDER BY step"
        )
        assert [json.loads(d)["_step"] for (d,) in rows] == list(range(8)), run["run_id"]
