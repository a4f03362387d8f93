"""The test app as gunicorn serves it in tests/test_multinode.py: settings from the
environment, so that several server processes share one database and one SMTP server."""

from __future__ import annotations

import os

from flask import Flask

from tests.models import make_app


def create_app() -> Flask:
    return make_app(
        {
            "TESTING": False,
            "SERVER_NAME": None,
            "TRUSTED_HOSTS": ["127.0.0.1"],
            "SECRET_KEY": os.environ["MULTINODE_SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": os.environ["MULTINODE_DATABASE_URL"],
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": int(os.environ["MULTINODE_MAIL_PORT"]),
        }
    )
