#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine with Python 3.11:
# a virtualenv with the package and its test/docs extras, lint, type check, the Sphinx
# docs (warnings are errors), then pytest against a real SMTP server on 127.0.0.1.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh

echo "== ruff"; .venv/bin/ruff check flask_registration tests examples
echo "== mypy"; .venv/bin/mypy
echo "== docs"; .venv/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here." >&2
  exit 1
fi
exit "$rc"
