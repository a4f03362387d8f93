"""The WSGI entry gunicorn serves in ``run.py --load`` and ``--scale``: ``load_wsgi:app``.

``BENCH_APP`` (``ours`` or ``floor``), ``BENCH_DB`` (a PostgreSQL URL), ``BENCH_SMTP_PORT``
(the SMTP sink on 127.0.0.1), ``BENCH_PARAMS`` (``defaults`` or ``cheap`` argon2) and, for
flask_registration, ``BENCH_SLOTS`` (``REGISTRATION_MAX_CONCURRENT_HASHES``; empty for
the default). Both apps hand each email to the same outbox, which sends it over SMTP to
the sink, one connection per message (as Flask-Mail does).

flask_registration runs as the demo configures it, with three changes for a load
generator on loopback: rate limits off (every client comes from 127.0.0.1), cookies not
``Secure`` (plain http) and LoopBack's confirmation by ``GET`` (as the floor's).

``python load_wsgi.py seed N`` creates the tables and N verified accounts
``seed{i}@example.com`` with the benchmark's password, before gunicorn starts.
"""

from __future__ import annotations

import importlib
import os
import smtplib
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from worker import ARGON2, PASSWORD, TARGETS


class SmtpOutbox:
    """An outbox that sends each message to the sink on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port

    def append(self, message: dict[str, Any]) -> None:
        msg = EmailMessage()
        msg["From"] = "bench <bench@example.com>"
        msg["To"] = message["to"]
        msg["Subject"] = message.get("subject") or ""
        msg.set_content(message["text"] or "")
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as smtp:
            smtp.send_message(msg)


def ours_config() -> dict[str, Any]:
    slots = os.environ.get("BENCH_SLOTS", "")
    return {
        "REGISTRATION_RATE_LIMITS_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "REGISTRATION_MAX_CONCURRENT_HASHES": int(slots) if slots else None,
    }


def build() -> Any:
    name = os.environ["BENCH_APP"]
    module = importlib.import_module(TARGETS[name].module)
    outbox = SmtpOutbox(int(os.environ["BENCH_SMTP_PORT"]))
    argon2 = ARGON2[os.environ.get("BENCH_PARAMS", "defaults")]
    if name == "ours":
        return module.create_app(os.environ["BENCH_DB"], argon2, outbox, extra=ours_config())
    return module.create_app(os.environ["BENCH_DB"], argon2, outbox)


def seed(app: Any, count: int) -> None:
    """``count`` verified accounts, sharing one hash of the benchmark's password."""
    from argon2 import PasswordHasher
    from sqlalchemy import insert

    name = os.environ["BENCH_APP"]
    hashed = PasswordHasher(**ARGON2[os.environ.get("BENCH_PARAMS", "defaults")]).hash(PASSWORD)
    now = datetime.now(UTC)
    with app.app_context():
        if name == "ours":
            from flask_registration.state import get_state

            store = get_state(app).store
            model, session, verified = store.model, store.db.session, "email_verified_at"
        else:
            floor = importlib.import_module("floor_app")
            model, session, verified = floor.User, floor.db.session, "verified_at"
        rows = [{"email": f"seed{i}@example.com", "password_hash": hashed, verified: now} for i in range(count)]
        if rows:
            session.execute(insert(model), rows)
            session.commit()


if __name__ == "__main__":
    built = build()
    if sys.argv[1:2] == ["seed"]:
        seed(built, int(sys.argv[2]))
else:
    app = build()
