#!/usr/bin/env bash
# The demo app on http://127.0.0.1:5000 (SQLite in examples/basic/instance/).
# With no MAIL_SERVER set, every email is printed here and listed at /dev/outbox. The demo
# serves that page only in debug mode, in testing or with DEMO_OUTBOX=1, which this script
# sets when HOST is a loopback address (the default).
# Set MAIL_SERVER and MAIL_PORT (and MAIL_USERNAME, MAIL_PASSWORD, MAIL_USE_TLS) to send real mail.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=mfa source scripts/_venv.sh
# The outbox shows everyone's links: only on a loopback address, never to a network.
case "${HOST:-127.0.0.1}" in 127.*|localhost|::1) export DEMO_OUTBOX=1 ;; esac
exec .venv/bin/flask --app examples/basic/app.py run --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}" "$@"
