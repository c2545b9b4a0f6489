#!/usr/bin/env bash
# The demo: a real small sweep of scripts/train.py (a small transformer on synthetic G-code)
# on the embedded store, end to end. It sets itself up like scripts/test.sh (virtualenv,
# dependencies), then runs, from the repository root:
#   validate -> create -> agent (2 workers) -> runs -> best -> export-best
# The store is .sweepctl/sweepctl.db here; every run of the demo adds one more sweep to it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-env.sh
export PATH="$PWD/.venv/bin:$PATH"   # so ${interpreter} (`python`) is this environment's
export WANDB_SILENT=true             # the training script uses wandb (offline); keep it quiet

show() { printf '\n$ %s\n' "$*" >&2; "$@"; }

show sweepctl validate sweeps/quickstart/train.yaml
printf '\n$ sweep=$(sweepctl create --quiet sweeps/quickstart/train.yaml)\n' >&2
sweep=$(sweepctl create --quiet sweeps/quickstart/train.yaml)
echo "$sweep"
show sweepctl agent "$sweep" --workers 2
show sweepctl runs "$sweep"
show sweepctl best "$sweep"
show sweepctl export-best "$sweep" --out .sweepctl/optimal.json
show cat .sweepctl/optimal.json
printf '\nresults: the store is %s, each run'"'"'s output, metrics and config are under %s\n' \
  "$PWD/.sweepctl/sweepctl.db" "$PWD/.sweepctl/runs/$sweep/" >&2
