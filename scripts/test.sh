#!/usr/bin/env bash
# One command on a fresh machine: install what the tests need, then run the whole suite.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test || exit 1
python3 -m pytest "$@"
code=$?
if [[ $code -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $code
