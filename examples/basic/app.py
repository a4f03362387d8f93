"""The flask_registration demo: an existing little app that adds registration.

Run it with the README's demo command, or ``flask --app examples/basic/app.py run``.
SQLite lives in the instance folder. With no ``MAIL_SERVER`` in the environment, every
email is printed to the console, and listed at ``/dev/outbox`` in debug mode, in testing,
or when ``DEMO_OUTBOX=1`` is in the environment (the demo command sets it): anywhere else
the page would show every visitor everyone's links. With ``MAIL_SERVER`` and
``MAIL_PORT`` (and ``MAIL_USERNAME``, ``MAIL_PASSWORD``, ``MAIL_USE_TLS``) it sends real mail.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from typing import Any

from flask import Flask, Request, abort, render_template_string
from flask_babel import Babel
from flask_login import current_user
from flask_mail import Message
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.routing import MapAdapter
from werkzeug.wsgi import get_host
from wtforms import StringField
from wtforms.validators import Length, Optional

from flask_registration import Registration, SessionMixin, UserMixin, ValidationError
from flask_registration.factors import FactorMixin
from flask_registration.forms import SignupForm


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    """The app's own user model: our columns plus a username of its own."""

    __tablename__ = "users"
    username: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)


class LoginSession(db.Model, SessionMixin):  # type: ignore[name-defined,misc]
    """One row per login, so that logging out ends that session on the server."""

    __tablename__ = "login_sessions"
    __user_tablename__ = "users"


class Factor(db.Model, FactorMixin):  # type: ignore[name-defined,misc]
    """Second factors and passkeys: an authenticator app, recovery codes, passkeys."""

    __tablename__ = "factors"
    __user_tablename__ = "users"


class Outbox:
    """A mail sender for trying the demo without a mail server: print and keep."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        print(
            f"\n--- email to {', '.join(map(str, message.recipients))}: {message.subject}\n"
            f"{message.body}\n--- (also at /dev/outbox)\n",
            file=sys.stderr,
            flush=True,
        )


class DemoSignupForm(SignupForm):
    """The signup form with the app's own field (declared in REGISTRATION_SIGNUP_FIELDS)."""

    username = StringField("Username (optional)", validators=[Optional(), Length(max=40)])


registration = Registration(signup_form=DemoSignupForm)


@registration.before_signup
def username_is_free(data: dict[str, Any]) -> None:
    """The seed's constraint: a username, when given, must be free.

    People log in with it too (``REGISTRATION_LOGIN_FIELDS``), so the library has put it
    in its normal form already (lower case, no ``@``; empty is None), and the column's
    unique index has the last word when two signups race. This answers early.
    """
    username = data.get("username")
    if username and db.session.scalars(select(User).filter_by(username=username)).first() is not None:
        raise ValidationError("This username is already taken.", field="username", field_code="uniqueness")


class DemoFlask(Flask):
    """Flask, except that ``TRUSTED_HOSTS`` can name an IPv6 address (``"[::1]"``).

    Werkzeug 3.1 compares only what comes before the first ``:`` of each entry, so no
    entry matches a bracketed IPv6 host and every request to ``http://[::1]:5000/`` is a
    400 (werkzeug's main branch compares the whole entry). A host that is an IPv6 address
    listed in ``TRUSTED_HOSTS`` is let through here; every other host goes through Flask's
    own check.
    """

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        trusted = self.config["TRUSTED_HOSTS"]
        if request is None or not trusted or self.url_map.host_matching or self.subdomain_matching:
            return super().create_url_adapter(request)
        host = get_host(request.environ)  # its characters checked, not its name
        if not host.startswith("[") or host.partition("]")[0] + "]" not in trusted:
            return super().create_url_adapter(request)
        request.host = host  # type: ignore[misc]
        subdomain = self.url_map.default_subdomain or ""
        return self.url_map.bind_to_environ(
            request.environ, server_name=self.config["SERVER_NAME"], subdomain=subdomain
        )


def show_outbox(app: Flask) -> bool:
    """Whether ``/dev/outbox`` is served: in debug mode, in testing, or when the demo
    command asks for it (``DEMO_OUTBOX=1``). Never on a server others reach."""
    return app.debug or app.testing or os.environ.get("DEMO_OUTBOX") == "1"


def _secret_key(instance_path: str) -> str:
    """A secret key kept in the instance folder, made on first run."""
    path = os.path.join(instance_path, "secret_key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    with open(path) as f:
        return f.read().strip()


HOME = """{% extends "registration/base.html" %}
{% block title %}flask-registration demo{% endblock %}
{% block content %}
<h1>flask-registration demo</h1>
{% if current_user.is_authenticated %}
  <p>Logged in as <strong>{{ current_user.email }}</strong>{% if current_user.username %}
  ({{ current_user.username }}){% endif %}.</p>
  <p><a href="{{ url_for('registration.account') }}">Your account</a></p>
  {% set form = registration_logout_form() %}
  <form method="post" action="{{ url_for('registration.logout') }}">{{ form.csrf_token }}{{ form.submit() }}</form>
{% else %}
  <p><a href="{{ url_for('registration.signup') }}">Sign up</a> or
  <a href="{{ url_for('registration.login') }}">log in</a>.</p>
{% endif %}
{% if outbox %}<p class="muted">No mail server is set: sent emails are at
<a href="{{ url_for('outbox') }}">/dev/outbox</a>.</p>{% endif %}
{% endblock %}"""

OUTBOX = """{% extends "registration/base.html" %}
{% block title %}Outbox{% endblock %}
{% block content %}
<h1>Outbox (development only)</h1>
{% for m in messages|reverse %}
  <article><h2>{{ m.subject }}</h2><p class="muted">To {{ m.recipients|join(", ") }}</p>
  <pre style="white-space: pre-wrap">{{ m.body|urlize }}</pre></article>
{% else %}<p>No email sent yet.</p>{% endfor %}
{% endblock %}"""


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The demo app; ``test_config`` overrides any setting."""
    app = DemoFlask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(app.instance_path, "demo.sqlite"),
        # The hosts this site answers as: emailed links are built from the request's
        # host, so an unchecked Host header would let anyone poison them. Add yours
        # (comma-separated) in TRUSTED_HOSTS when you serve it under another name.
        # An IPv6 address in brackets, as in a URL and the Host header (see DemoFlask).
        TRUSTED_HOSTS=[
            "127.0.0.1",
            "localhost",
            "[::1]",
            *filter(None, os.environ.get("TRUSTED_HOSTS", "").split(",")),
        ],
        MAIL_DEFAULT_SENDER="flask-registration demo <no-reply@demo.localhost>",
        # The cookie settings docs/security.rst recommends. Chromium keeps Secure cookies
        # on http://127.0.0.1 and http://localhost too (secure origins), so the demo
        # still works without HTTPS on your own machine.
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REGISTRATION_SIGNUP_FIELDS=["username"],
        # Log in with the address or the username; the profile page edits the username.
        REGISTRATION_LOGIN_FIELDS=["email", "username"],
        # "Trust this browser" on the second-factor page (off unless set).
        REGISTRATION_TRUST_BROWSER_WITHIN=timedelta(days=30),
    )
    for key in ("MAIL_SERVER", "MAIL_USERNAME", "MAIL_PASSWORD"):
        if os.environ.get(key):
            app.config[key] = os.environ[key]
    if os.environ.get("MAIL_PORT"):
        app.config["MAIL_PORT"] = int(os.environ["MAIL_PORT"])
    if os.environ.get("MAIL_USE_TLS"):
        app.config["MAIL_USE_TLS"] = os.environ["MAIL_USE_TLS"].lower() in ("1", "true", "yes")
    # Any other setting from a FLASK_* variable: FLASK_SERVER_NAME=localhost:5000 gives
    # `flask registration resend` the address to put in its link.
    app.config.from_prefixed_env()
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)

    outbox = None if app.config.get("MAIL_SERVER") else Outbox()
    app.extensions["demo_outbox"] = outbox
    db.init_app(app)
    # The library's pages and emails in the browser's language (Accept-Language), among
    # the languages it ships; English otherwise.
    Babel(app)
    registration.init_app(
        app, db=db, user_model=User, session_model=LoginSession, factor_model=Factor, mail_sender=outbox
    )

    @app.get("/")
    def index() -> str:
        shown = outbox is not None and show_outbox(app)
        return render_template_string(HOME, current_user=current_user, outbox=shown)

    @app.get("/dev/outbox", endpoint="outbox")
    def outbox_page() -> str:
        if outbox is None or not show_outbox(app):
            abort(404)
        return render_template_string(OUTBOX, messages=outbox.messages)

    with app.app_context():
        db.create_all()
    return app
