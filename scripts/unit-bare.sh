#!/usr/bin/env bash
# The unit tier in a fresh venv with neither PyAV nor moto: it must need neither (CI runs this after the
# whole suite). The worker's own dependencies but av, plus pytest, hypothesis and python-magic.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
deps=$(python3 - <<'PY'
import configparser
cfg = configparser.ConfigParser()
cfg.read("setup.cfg")
reqs = [line.split("#")[0].strip() for line in cfg["options"]["install_requires"].splitlines()]
print(" ".join(r for r in reqs if r and not r.startswith("av")))
PY
)
# shellcheck disable=SC2086 - one word per requirement
"$venv/bin/pip" install -q --disable-pip-version-check $deps pytest hypothesis python-magic
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e .
if "$venv/bin/python" -c "import av" 2>/dev/null || "$venv/bin/python" -c "import moto" 2>/dev/null; then
  echo "the bare venv has PyAV or moto: the check would prove nothing" >&2
  exit 1
fi
"$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit "$@"
