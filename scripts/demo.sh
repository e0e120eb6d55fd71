#!/usr/bin/env bash
# One command on a fresh machine: install, then run the whole path on an embedded local stack.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec python3 -m worker demo "$@"
