#!/usr/bin/env bash
# Make sure a Docker engine answers: start dockerd in the background if none does.
# Prints "started" when this call started it (so the caller can stop it), "running" otherwise.
set -euo pipefail

# gVisor: register runsc (Debian's package) as an OCI runtime in the engine's daemon.json, keeping what else
# is there. --network=none: runsc refuses to start in these VMs' root network namespace otherwise (the
# sandbox has no network anyway). A running engine reloads its runtimes on SIGHUP.
register_runsc() {
  [[ -x /usr/bin/runsc && $(id -u) -eq 0 ]] || return 0  # root only: the engine's configuration is root's
  python3 - <<'PY'
import json, os
path = "/etc/docker/daemon.json"
config = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
wanted = {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}
if config.get("runtimes", {}).get("runsc") != wanted:
    config.setdefault("runtimes", {})["runsc"] = wanted
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as fh:  # written whole, then renamed: never a half file dockerd reads
        json.dump(config, fh, indent=2)
    os.replace(path + ".tmp", path)
PY
}
register_runsc

if docker info >/dev/null 2>&1; then
  if [[ -x /usr/bin/runsc && $(id -u) -eq 0 ]] && ! docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then
    kill -HUP "$(pgrep -o -x dockerd)" 2>/dev/null || true
    for _ in $(seq 1 20); do
      docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && break
      sleep 0.5
    done
  fi
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
