#!/usr/bin/env bash
# One command on a fresh machine: install what the tests need, make sure a Docker engine runs, build the
# images, then run the whole suite. Docker is required: without it the Docker tests fail, they never skip.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
# Set STOP_DOCKERD=1 to stop a dockerd this script started once the tests end (CI does).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test || exit 1
dockerd_state=$(bash scripts/dockerd.sh) || exit 1
stop_dockerd() {
  if [[ "${STOP_DOCKERD:-0}" == 1 && "$dockerd_state" == started ]]; then
    pkill -x dockerd && echo "stopped the dockerd this run started"
  fi
}
trap stop_dockerd EXIT
bash scripts/build-images.sh || exit 1
export TESTCONTAINERS_RYUK_DISABLED=true  # its reaper image cannot be pulled without a registry
python3 -m pytest "$@"
code=$?
if [[ $code -eq 5 ]]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $code
