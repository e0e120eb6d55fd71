#!/usr/bin/env bash
# Install what the worker, the demo and the tests need on a fresh Debian/Ubuntu machine.
# Idempotent: skips what is already there. Usage: scripts/install.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

apt_packages=(libmagic1)
# The tests need Docker (engine + debootstrap for the offline base image), ffmpeg as an independent checker
# Debian's chromium + chromedriver to play the outputs, prometheus (the server and promtool) and systemd
# (systemd-analyze checks the unit file).
# runsc: gVisor, the stronger sandbox runtime (MEDIA_WORKER_SANDBOX_OCI_RUNTIME=runsc), tested as well as runc.
((want_test)) && apt_packages+=(ffmpeg docker.io debootstrap chromium chromium-driver prometheus systemd runsc)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  echo "installing system packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

extra="[local]"
((want_test)) && extra="[test]"
python3 -m pip install -q --disable-pip-version-check -e ".${extra}"
