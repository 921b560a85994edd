#!/usr/bin/env bash
# Set up gongshu on the embedded default (SQLite in ./gongshu-data, no service needed), load the demo
# city, and serve it. Usage: bash scripts/run-demo.sh   (PORT=8000 HOST=127.0.0.1 by default)
# The demo's stand-in department API (its service interface, R7) listens on 127.0.0.1:DEPARTMENT_API_PORT
# (PORT + 1 by default) and stops with the platform.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e . 2>&1 | grep -v "^WARNING: Location" || true
export GONGSHU_DATA_DIR=${GONGSHU_DATA_DIR:-$PWD/gongshu-data}
PORT=${PORT:-8000}
API_PORT=${DEPARTMENT_API_PORT:-$((PORT + 1))}
.venv/bin/gongshu db upgrade
.venv/bin/gongshu demo --url "http://${HOST:-127.0.0.1}:${PORT}" --department-api "http://127.0.0.1:${API_PORT}"
# The department's own database lives beside the data folder (<data folder>-external), never inside it.
EXTERNAL=$(.venv/bin/python -c 'from gongshu.demo.external import external_dir; print(external_dir())')
# Started by this shell, which then becomes the platform (exec): the API exits when the platform does.
.venv/bin/python -m gongshu.demo.department_api --host 127.0.0.1 --port "$API_PORT" \
  --db "$EXTERNAL/disabled_federation.db" --exit-with-parent &
exec .venv/bin/gongshu serve --host "${HOST:-127.0.0.1}" --port "${PORT}"
