"""The real one-node SLURM cluster (see tests/slurm_cluster.py), one per test process."""

from __future__ import annotations

import pytest
from slurm_cluster import SlurmCluster, install


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory):
    """A running cluster (slurmctld + slurmd, four fake GPUs); stopped after the session.

    Skips, saying why, only where SLURM cannot be installed or started.
    """
    reason = install()
    if reason:
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
    except (OSError, RuntimeError) as exc:
        cluster.stop()
        pytest.skip(f"SLURM could not be started: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
