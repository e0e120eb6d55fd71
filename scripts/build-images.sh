#!/usr/bin/env bash
# Build the sandbox image (Dockerfile.ffmpeg) and the worker image (Dockerfile.worker), tagged with the
# package version. Works without an image registry: the base image is then made with debootstrap and
# `docker import`, and Python packages come from a wheelhouse built here on the host.
#
#   scripts/build-images.sh                 # pull the base if a registry answers, else build it locally
#   scripts/build-images.sh --local-base    # always use the debootstrap base
#   BASE_IMAGE=python:3.11-slim-bookworm scripts/build-images.sh   # a base of your choice
#
# Idempotent and quick when nothing changed: the local base and wheels are reused, docker caches layers.
set -euo pipefail
cd "$(dirname "$0")/.."

local_base=0
[[ "${1:-}" == "--local-base" ]] && local_base=1
version=$(python3 -c 'import re; print(re.search(r"__version__ = \"(.+)\"", open("worker/__init__.py").read()).group(1))')
registry_base=python:3.11-slim-bookworm
local_base_tag=media-worker-base:bookworm
build=.build
mkdir -p "$build/wheels"

# 1. The base image.
base=${BASE_IMAGE:-}
if [[ -z "$base" ]]; then
  if ((local_base == 0)) && timeout 60 docker pull -q "$registry_base" >/dev/null 2>&1; then
    base=$registry_base
  else
    base=$local_base_tag
  fi
fi
if [[ "$base" == "$local_base_tag" ]] && ! docker image inspect "$base" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
  echo "building the local base image $base with debootstrap (about a minute)"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include=python3,python3-venv,libmagic1,ca-certificates bookworm "$root" >"$build/debootstrap.log" 2>&1 \
    || { tail -n 20 "$build/debootstrap.log" >&2; exit 1; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import -c 'ENV LANG=C.UTF-8' - "$base" >/dev/null
fi

# 2. The wheelhouse: this project and every dependency, for the image's Python (3.11, like the host's).
stamp="$build/wheels/.stamp"
want=$(find setup.cfg setup.py worker container -name '*.py' -o -name '*.cfg' -o -name '*.toml' | sort | xargs cat | sha256sum | cut -c1-16)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "building the wheelhouse in $build/wheels"
  rm -f "$build"/wheels/media_worker-*.whl
  python3 -m pip wheel -q --disable-pip-version-check --wheel-dir "$build/wheels" . av numpy python-magic pillow-heif
  echo "$want" >"$stamp"
fi

# 3. The images.
docker build -q -f Dockerfile.ffmpeg --build-arg BASE_IMAGE="$base" -t "media-worker-ffmpeg:$version" . >/dev/null
docker build -q -f Dockerfile.worker --build-arg BASE_IMAGE="$base" -t "media-worker:$version" . >/dev/null
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "^media-worker(-ffmpeg)?:$version "
