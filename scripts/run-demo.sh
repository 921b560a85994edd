#!/usr/bin/env bash
# Set up gongshu on the embedded default (SQLite in ./gongshu-data, no service needed), load the demo
# city, and serve it. Usage: bash scripts/run-demo.sh   (PORT=8000 HOST=127.0.0.1 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e . 2>&1 | grep -v "^WARNING: Location" || true
export GONGSHU_DATA_DIR=${GONGSHU_DATA_DIR:-$PWD/gongshu-data}
.venv/bin/gongshu db upgrade
.venv/bin/gongshu demo --url "http://${HOST:-127.0.0.1}:${PORT:-8000}"
exec .venv/bin/gongshu serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
