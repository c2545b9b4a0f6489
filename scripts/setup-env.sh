# Sourced by scripts/test.sh and scripts/demo.sh: create .venv if missing and install the
# package with its dev dependencies, again only when pyproject.toml or constraints.txt changed.
# torch is pinned in constraints.txt (a CPU build installs from a local file here).
python_bin=${SWEEPCTL_PYTHON:-}
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3.12 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin=$candidate; break; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  echo "setting up .venv with $python_bin" >&2
  "$python_bin" -m venv .venv
fi
stamp=.venv/.sweepctl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "installing sweepctl and its dev dependencies into .venv" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
  touch "$stamp"
fi
