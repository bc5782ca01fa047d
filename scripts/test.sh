#!/usr/bin/env bash
# Runs the whole test suite in .venv. pytest's exit 5 (no tests collected)
# is a failure here, not a success.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "test: no tests were collected: failing" >&2
  exit 1
fi
exit $rc
