#!/usr/bin/env bash
# The demo: a real small sweep on the embedded store, end to end. It sets itself up like
# scripts/test.sh (virtualenv, dependencies), then runs, from the repository root:
#   create -> agent (2 workers) -> runs -> best -> export-best
# The store is .sweepctl/sweepctl.db here; every run of the demo adds one more sweep to it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
export PATH="$PWD/.venv/bin:$PATH"   # so ${interpreter} (`python`) is this environment's
export WANDB_SILENT=true             # the training script uses wandb (offline); keep it quiet

show() { printf '\n$ %s\n' "$*" >&2; "$@"; }

show sweepctl validate sweeps/quickstart/grid.yaml
printf '\n$ sweep=$(sweepctl create --quiet sweeps/quickstart/grid.yaml)\n' >&2
sweep=$(sweepctl create --quiet sweeps/quickstart/grid.yaml)
echo "$sweep"
show sweepctl agent "$sweep" --workers 2
show sweepctl runs "$sweep"
show sweepctl best "$sweep"
show sweepctl export-best "$sweep" --out .sweepctl/optimal.json
show cat .sweepctl/optimal.json
