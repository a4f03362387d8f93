#!/usr/bin/env bash
# The demo app on http://127.0.0.1:5000 (SQLite in examples/basic/instance/).
# With no MAIL_SERVER set, every email is printed here and listed at /dev/outbox.
# Set MAIL_SERVER and MAIL_PORT (and MAIL_USERNAME, MAIL_PASSWORD, MAIL_USE_TLS) to send real mail.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS= source scripts/_venv.sh
exec .venv/bin/flask --app examples/basic/app.py run --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}" "$@"
