#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine with Python 3.11: a virtualenv
# with the package and its test/docs extras; lint, type check and the Sphinx docs
# (warnings are errors); then pytest twice, on SQLite and on a throwaway PostgreSQL
# that this script installs (apt), starts on 127.0.0.1 and stops. A throwaway Redis is
# started and stopped the same way, for the rate-limit and queued-mail tests
# (TEST_REDIS_URL). The browser tests use Debian's chromium (installed with apt when
# missing). Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh

echo "== ruff"; .venv/bin/ruff check flask_registration tests examples benchmarks
.venv/bin/ruff format --check -q flask_registration tests examples benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== docs"; .venv/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

source scripts/_postgres.sh
source scripts/_redis.sh
trap 'stop_redis; stop_postgres' EXIT

# The browser tests drive Debian's Chromium (never `playwright install`: it downloads).
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (apt)"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
export SCREENSHOT_DIR=${SCREENSHOT_DIR:-$PWD/artifacts/screenshots}
echo "== screenshots of the pages go to $SCREENSHOT_DIR"

# Each run's failures are kept, and all of them are printed again at the very end: a
# failure of the first run would otherwise scroll away behind the second's output.
failures=$(mktemp)
run_pytest() {
  local label=$1; shift
  echo "== pytest ($label)"
  local log; log=$(mktemp)
  set +e
  # On every core (pytest-xdist): each worker gets a database and a Redis database of its
  # own (tests/conftest.py). PYTEST_WORKERS=0 runs in this one process.
  .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  grep -E "^(FAILED|ERROR) " "$log" | sed "s/^/[$label] /" >> "$failures" || true
  rm -f "$log"
  if [ "$rc" -eq 5 ]; then
    echo "[$label] pytest collected no tests: that is a failure here." | tee -a "$failures" >&2
    return 1
  fi
  if [ "$rc" -ne 0 ] && ! grep -q "^\[$label\]" "$failures"; then
    echo "[$label] pytest exited $rc" >> "$failures"
  fi
  return "$rc"
}

status=0
run_pytest SQLite "$@" || status=1
TEST_DATABASE_URL=$TEST_PG_URL run_pytest PostgreSQL "$@" || status=1
if [ "$status" -ne 0 ]; then
  echo "== failed, in both runs:"
  cat "$failures"
fi
rm -f "$failures"
exit "$status"
