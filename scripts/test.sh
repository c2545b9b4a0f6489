#!/usr/bin/env bash
# The test command: sets itself up on a fresh machine (virtualenv, package, dev dependencies
# under constraints.txt), then runs ruff and pytest. Extra arguments go to pytest, e.g.
#   ./scripts/test.sh -m 'not slow'      # skip the slow end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
