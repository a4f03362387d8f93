"""Log in with GitHub, Google, or a local test provider: flask-registration's OAuth demo.

Try it without an account anywhere::

    pip install -e '.[oauth,test]'        # flask-dance, and Authlib for the local provider
    python examples/oauth/app.py          # the app on :5000 and the local provider on :5001

then open http://127.0.0.1:5000, "Log in", "Local test provider", and say who you are at
the provider (with or without an address, verified or not) to see each rule at work.
Emails are printed in the terminal and listed at /dev/outbox.

GitHub and Google join when their credentials are in the environment::

    GITHUB_OAUTH_CLIENT_ID=... GITHUB_OAUTH_CLIENT_SECRET=...  # callback: http://127.0.0.1:5000/login/github/authorized
    GOOGLE_OAUTH_CLIENT_ID=... GOOGLE_OAUTH_CLIENT_SECRET=...  # callback: http://127.0.0.1:5000/login/google/authorized

``flask --app examples/oauth/app.py run`` serves the app alone (start the provider with
``python examples/oauth/provider.py``).
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
from typing import Any

from flask import Flask, render_template_string
from flask_login import current_user
from flask_mail import Message
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from flask_registration import OAuthMixin, Registration, SessionMixin, UserMixin

APP_URL = os.environ.get("APP_URL", "http://127.0.0.1:5000")
PROVIDER_URL = os.environ.get("LOCAL_PROVIDER_URL", "http://127.0.0.1:5001")

# oauthlib refuses plain http. This demo runs on http://127.0.0.1, so it allows it;
# a real deployment serves https and never sets this.
if APP_URL.startswith("http://127.0.0.1") or APP_URL.startswith("http://localhost"):
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "users"


class OAuth(db.Model, OAuthMixin):  # type: ignore[name-defined,misc]
    """One row per provider account linked to a user, with its token."""

    __tablename__ = "oauth"
    __user_tablename__ = "users"


class LoginSession(db.Model, SessionMixin):  # type: ignore[name-defined,misc]
    """One row per login, so that logging out ends that session on the server."""

    __tablename__ = "login_sessions"
    __user_tablename__ = "users"


class Outbox:
    """Print every email and keep it for /dev/outbox (no mail server needed)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)
        print(
            f"\n--- email to {', '.join(map(str, message.recipients))}: {message.subject}\n{message.body}\n",
            file=sys.stderr,
            flush=True,
        )


def providers_from_environment() -> dict[str, dict[str, Any]]:
    """GitHub and Google when their credentials are set; the local test provider always."""
    providers: dict[str, dict[str, Any]] = {}
    for name in ("github", "google"):
        client_id = os.environ.get(f"{name.upper()}_OAUTH_CLIENT_ID")
        client_secret = os.environ.get(f"{name.upper()}_OAUTH_CLIENT_SECRET")
        if client_id and client_secret:
            providers[name] = {"client_id": client_id, "client_secret": client_secret}
    providers["local"] = {
        "title": "Local test provider",
        "client_id": "example-app",
        "client_secret": "example-secret",
        "authorization_url": f"{PROVIDER_URL}/authorize",
        "token_url": f"{PROVIDER_URL}/token",
        "userinfo_url": f"{PROVIDER_URL}/userinfo",
        "scope": ["openid", "profile", "email"],
        # OpenID Connect's names, as Google's: these are the defaults, shown here.
        "id_key": "sub",
        "email_key": "email",
        "email_verified_key": "email_verified",
    }
    return providers


HOME = """{% extends "registration/base.html" %}
{% block title %}OAuth demo{% endblock %}
{% block content %}
<h1>OAuth demo</h1>
{% if current_user.is_authenticated %}
  <p>Logged in as <strong>{{ current_user.email }}</strong>
  ({{ "verified" if current_user.email_verified else "not verified" }}).</p>
  <p><a href="{{ url_for('registration_connections.connections') }}">Connected accounts</a></p>
  {% set form = registration_logout_form() %}
  <form method="post" action="{{ url_for('registration.logout') }}">{{ form.csrf_token }}{{ form.submit() }}</form>
{% else %}
  <p><a href="{{ url_for('registration.login') }}">Log in</a> or
  <a href="{{ url_for('registration.signup') }}">sign up</a>, with a password or a provider.</p>
{% endif %}
<p class="muted">Emails sent: <a href="{{ url_for('outbox') }}">/dev/outbox</a>.</p>
{% endblock %}"""

OUTBOX = """{% extends "registration/base.html" %}
{% block content %}<h1>Outbox</h1>
{% for m in messages|reverse %}<article><h2>{{ m.subject }}</h2><p class="muted">To {{ m.recipients|join(", ") }}</p>
<pre style="white-space: pre-wrap">{{ m.body|urlize }}</pre></article>{% else %}<p>No email sent yet.</p>{% endfor %}
{% endblock %}"""


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """The demo app; ``test_config`` overrides any setting."""
    # The instance folder beside this file, however it is started (python, flask run, a test).
    app = Flask(__name__, instance_path=os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance"))
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(32),
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(app.instance_path, "oauth-demo.sqlite"),
        # The hosts this site answers as: emailed links are built from the request's
        # host, so an unchecked Host header would let anyone poison them. Add yours
        # (comma-separated) in TRUSTED_HOSTS when you serve it under another name.
        TRUSTED_HOSTS=["127.0.0.1", "localhost", "::1", *filter(None, os.environ.get("TRUSTED_HOSTS", "").split(","))],
        MAIL_DEFAULT_SENDER="flask-registration demo <no-reply@demo.localhost>",
        SESSION_COOKIE_SAMESITE="Lax",  # the provider's redirect back is a top-level GET: Lax keeps the cookie
        REGISTRATION_OAUTH_PROVIDERS=providers_from_environment(),
    )
    app.config.update(test_config or {})
    outbox = Outbox()
    db.init_app(app)
    Registration(app, db=db, user_model=User, oauth_model=OAuth, session_model=LoginSession, mail_sender=outbox)

    @app.get("/")
    def index() -> str:
        return render_template_string(HOME, current_user=current_user)

    @app.get("/dev/outbox", endpoint="outbox")
    def outbox_page() -> str:
        # A demo's page: a real app never shows its emails to whoever asks.
        return render_template_string(OUTBOX, messages=outbox.messages)

    with app.app_context():
        db.create_all()
    return app


def main() -> None:
    """The local provider on :5001 in a thread, and the app on :5000."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from provider import create_provider, register_client  # examples/oauth/provider.py

    provider = create_provider()
    register_client(provider, "example-app", "example-secret", [f"{APP_URL}/login/local/authorized"])
    host, port = PROVIDER_URL.rsplit("/", 1)[-1].rsplit(":", 1)
    threading.Thread(target=lambda: provider.run(host=host, port=int(port)), daemon=True).start()
    app_host, app_port = APP_URL.rsplit("/", 1)[-1].rsplit(":", 1)
    create_app().run(host=app_host, port=int(app_port))


if __name__ == "__main__":
    main()
