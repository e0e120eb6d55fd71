#!/usr/bin/env bash
# Make sure a Docker engine answers: start dockerd in the background if none does.
# Prints "started" when this call started it (so the caller can stop it), "running" otherwise.
set -euo pipefail
if docker info >/dev/null 2>&1; then
  echo running
  exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
log=${DOCKERD_LOG:-/var/log/media-worker-dockerd.log}
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo started
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within 60 s; its log ($log) ends with:" >&2
tail -n 20 "$log" >&2
exit 1
