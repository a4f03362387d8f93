"""The tutorial's step 3 (docs/tutorial.rst): the extension set up."""

import os
import secrets

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_registration import Registration, SessionMixin, UserMixin


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model, UserMixin):
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(80), nullable=False, default="")


class Note(db.Model):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)


class LoginSession(db.Model, SessionMixin):
    __tablename__ = "login_sessions"
    __user_tablename__ = "users"


registration = Registration(db=db, user_model=User, session_model=LoginSession)


def print_mail(message):
    """Print each email instead of sending it, while no MAIL_SERVER is set."""
    print(f"\n--- email to {', '.join(message.recipients)}: {message.subject}\n{message.body}\n---", flush=True)


def secret_key(app):
    """SECRET_KEY from the environment, or else one made once and kept in the instance
    folder: a key made anew at each start would break the links emailed before."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = os.path.join(app.instance_path, "secret_key")
    if not os.path.exists(path):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_hex(32))
    with open(path) as f:
        return f.read().strip()


def create_app(test_config=None):
    app = Flask(__name__)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        SECRET_KEY=secret_key(app),
        # The names your site answers as: emailed links are built from the request's host.
        TRUSTED_HOSTS=["localhost", "127.0.0.1"],
        # A relative SQLite path is in the instance folder: instance/notes.sqlite.
        SQLALCHEMY_DATABASE_URI="sqlite:///notes.sqlite",
        # Flask-Mail's settings come from the environment (no MAIL_SERVER: emails are printed).
        MAIL_SERVER=os.environ.get("MAIL_SERVER"),
        MAIL_PORT=int(os.environ.get("MAIL_PORT", "25")),
        MAIL_USE_TLS=os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes"),
        MAIL_USERNAME=os.environ.get("MAIL_USERNAME"),
        MAIL_PASSWORD=os.environ.get("MAIL_PASSWORD"),
        MAIL_DEFAULT_SENDER="Notes <notes@example.com>",
    )
    app.config.from_prefixed_env()  # FLASK_SERVER_NAME=example.com sets SERVER_NAME, and so on
    if test_config:
        app.config.update(test_config)
    db.init_app(app)
    registration.init_app(app, mail_sender=None if app.config["MAIL_SERVER"] else print_mail)

    @app.get("/")
    def index():
        return '<a href="/signup">Sign up</a> or <a href="/login">log in</a>.'

    with app.app_context():
        db.create_all()
    return app
