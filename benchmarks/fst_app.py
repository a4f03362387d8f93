"""Flask-Security-Too set up as its documentation suggests for registerable + confirmable.

Its ``fsqla_v3`` models on Flask-SQLAlchemy, argon2 through passlib with the same
parameters as the others, enumeration-safe answers on (``SECURITY_RETURN_GENERIC_RESPONSES``,
as flask_registration's default), no DNS check of addresses, and CSRF off so that the JSON
register endpoint answers a plain client. Everything else is Flask-Security-Too's default,
which is what a user who picks it gets. Mail goes through its ``mail_util_cls``: the
messages are rendered (text and HTML) by Flask-Security-Too and kept in a list, never sent.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_security import MailUtil, Security, SQLAlchemyUserDatastore
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
    pass


class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
    pass


def create_app(database_uri: str, argon2: dict[str, int], outbox: list[dict[str, Any]]) -> Flask:
    """The Flask-Security-Too app; every email is appended to ``outbox`` instead of being sent."""

    class KeepMail(MailUtil):
        def send_mail(
            self, template: str, subject: str, recipient: Any, sender: Any, body: Any, html: Any, **kwargs: Any
        ) -> None:
            outbox.append({"to": recipient, "subject": str(subject), "text": body, "html": html})

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="benchmark secret key",
        SQLALCHEMY_DATABASE_URI=database_uri,
        SECURITY_PASSWORD_SALT="benchmark password salt",
        SECURITY_REGISTERABLE=True,
        SECURITY_CONFIRMABLE=True,
        SECURITY_PASSWORD_HASH="argon2",
        SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS={
            "argon2__rounds": argon2["time_cost"],
            "argon2__memory_cost": argon2["memory_cost"],
            "argon2__parallelism": argon2["parallelism"],
        },
        SECURITY_RETURN_GENERIC_RESPONSES=True,
        SECURITY_EMAIL_VALIDATOR_ARGS={"check_deliverability": False},
        SECURITY_EMAIL_SENDER="no-reply@benchmark.localhost",
        WTF_CSRF_ENABLED=False,
    )
    db.init_app(app)
    Security(app, SQLAlchemyUserDatastore(db, User, Role), mail_util_cls=KeepMail)
    with app.app_context():
        db.create_all()
    return app
