#!/usr/bin/env bash
# Creates the project's own virtual environment (.venv) and installs kopilka
# into it, with the system libraries it needs. Safe to run again: each step
# is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
ldconfig -p | grep -q libzbar.so.0 || need_apt+=(libzbar0)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing system packages: ${need_apt[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install with apt-get: ${need_apt[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.kopilka-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  echo "setup: installing kopilka and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel cython
  .venv/bin/python -m pip install -q -e '.[test]' --no-build-isolation
  touch "$stamp"
fi
# The Cython engine is rebuilt whenever its sources change.
if [ ! -f fastcore/_engine.c ] || [ -n "$(find fastcore -name '_engine.p*' -newer fastcore/_engine.c)" ] \
   || ! ls fastcore/_engine*.so >/dev/null 2>&1; then
  echo "setup: building the Cython engine"
  .venv/bin/python setup.py -q build_ext --inplace >/dev/null
fi
