#!/usr/bin/env bash
# Set up and run the whole test suite: lint, types, then every test on SQLite and on PostgreSQL.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# Browser tests drive Debian's Chromium; Chinese needs a CJK font.
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei"; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
  else
    echo "chromium and fonts-wqy-microhei are needed: sudo apt-get install chromium fonts-wqy-microhei" >&2
    exit 1
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true

echo "== ruff"
.venv/bin/ruff check gongshu tests bench scripts
.venv/bin/ruff format --check gongshu tests bench scripts
echo "== mypy (the whole package; strict on the kernel)"
.venv/bin/mypy gongshu

# PostgreSQL: the development and CI machines run it on 127.0.0.1:5432.
pg_ready() { .venv/bin/python -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=postgres', connect_timeout=3).close()" 2>/dev/null; }
if ! pg_ready && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  sleep 2
fi

run_pytest() {
  local backend=$1; shift
  echo "== pytest on $backend"
  set +e
  GONGSHU_TEST_DB=$backend .venv/bin/pytest -q -p no:cacheprovider "$@"
  local rc=$?
  set -e
  if [ "$rc" = "5" ]; then echo "no tests ran on $backend: failing" >&2; exit 1; fi
  if [ "$rc" != "0" ]; then exit "$rc"; fi
}

run_pytest sqlite "$@"
if pg_ready; then
  run_pytest postgresql "$@"
else
  echo "PostgreSQL is not reachable on 127.0.0.1:5432; the suite must also pass there" >&2
  exit 1
fi
echo "all tests passed on SQLite and PostgreSQL"
