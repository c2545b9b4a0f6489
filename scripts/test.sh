#!/usr/bin/env bash
# The test command: sets itself up on a fresh machine (virtualenv, package, dev dependencies
# under constraints.txt), then runs ruff and pytest. Extra arguments go to pytest, e.g.
#   ./scripts/test.sh -m 'not slow'      # skip the slow end-to-end tests
# Tests run in 3 processes (pytest-xdist): most of their time is spent waiting on the child
# processes they start, so 3 fit on 2 cores. SWEEPCTL_TEST_WORKERS=0 runs them in one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -n "${SWEEPCTL_TEST_WORKERS:-3}" "$@"
