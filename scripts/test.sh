#!/usr/bin/env bash
# The test command: sets itself up on a fresh machine (virtualenv, package, dev dependencies
# under constraints.txt), then runs ruff and pytest. Extra arguments go to pytest, e.g.
#   ./scripts/test.sh -m 'not slow'      # skip the slow end-to-end tests
# Tests run in 3 processes (pytest-xdist): most of their time is spent waiting on the child
# processes they start, so 3 fit on 2 cores. SWEEPCTL_TEST_WORKERS=0 runs them in one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
# The report page and the dashboard are checked in a real browser: Debian's Chromium (driven
# by the playwright package, no `playwright install`), installed when missing (CI runs as
# root; elsewhere the browser tests skip and say why).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser tests" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
    >/dev/null 2>&1 || echo "could not install chromium; the browser tests will skip" >&2
fi
# The SLURM tests start a real one-node cluster: Debian's slurm-wlm and munge, installed
# when missing (as root; elsewhere those tests skip and say why).
if ! command -v slurmctld >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing slurm-wlm and munge for the SLURM tests" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge; } \
    >/dev/null 2>&1 || echo "could not install slurm-wlm; the SLURM tests will skip" >&2
fi
# The fault tests make a second host in a network namespace and cut its link: iproute2's
# `ip` and `tc`, installed when missing (as root; elsewhere those tests skip and say why).
if { ! command -v ip >/dev/null || ! command -v tc >/dev/null; } && [ "$(id -u)" = 0 ] \
  && command -v apt-get >/dev/null; then
  echo "installing iproute2 for the fault tests" >&2
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2; } \
    >/dev/null 2>&1 || echo "could not install iproute2; the partition tests will skip" >&2
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -n "${SWEEPCTL_TEST_WORKERS:-3}" "$@"
