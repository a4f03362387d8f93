"""The quickstart's app (docs/quickstart.rst): registration added to a small Flask app.

Run it with ``flask --app app run``. Emails are printed to the console until
``MAIL_SERVER`` is set in the environment.
"""

import os
import secrets

from flask import Flask, render_template_string
from flask_login import login_required
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_registration import Registration, SessionMixin, UserMixin


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model, UserMixin):
    __tablename__ = "users"
    # A column of your own, next to the ones UserMixin adds.
    display_name: Mapped[str | None] = mapped_column(String(80))


class LoginSession(db.Model, SessionMixin):
    __tablename__ = "login_sessions"
    __user_tablename__ = "users"


def print_mail(message):
    """Print each email instead of sending it: for trying the app on your machine."""
    print(f"\n--- email to {', '.join(message.recipients)}: {message.subject}\n{message.body}\n---", flush=True)


def secret_key(app):
    """``SECRET_KEY`` from the environment, or else one made once and kept in the
    instance folder. It signs the emailed links: a key made anew at each start would
    break every link sent before a restart."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = os.path.join(app.instance_path, "secret_key")
    if not os.path.exists(path):
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_hex(32))
    with open(path) as f:
        return f.read().strip()


app = Flask(__name__)
os.makedirs(app.instance_path, exist_ok=True)  # ./instance, next to this file
app.config.update(
    SECRET_KEY=secret_key(app),
    # The names this site answers as: emailed links are built from the request's
    # host, so it must be checked (or set SERVER_NAME). See docs/security.rst.
    TRUSTED_HOSTS=["localhost", "127.0.0.1"],
    # A relative SQLite path is in the instance folder: instance/app.db.
    SQLALCHEMY_DATABASE_URI="sqlite:///app.db",
    MAIL_DEFAULT_SENDER=("Example", "no-reply@example.com"),
)
# Real email: MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS, MAIL_USERNAME and MAIL_PASSWORD
# from the environment (Flask-Mail's settings; read before Registration(app, ...)).
for key in ("MAIL_SERVER", "MAIL_USERNAME", "MAIL_PASSWORD"):
    if os.environ.get(key):
        app.config[key] = os.environ[key]
if os.environ.get("MAIL_PORT"):
    app.config["MAIL_PORT"] = int(os.environ["MAIL_PORT"])
app.config["MAIL_USE_TLS"] = os.environ.get("MAIL_USE_TLS", "").lower() in ("1", "true", "yes")
# FLASK_SERVER_NAME=example.com sets SERVER_NAME, and so on for every FLASK_* variable.
app.config.from_prefixed_env()

db.init_app(app)
registration = Registration(
    app,
    db=db,
    user_model=User,
    session_model=LoginSession,
    # None sends with Flask-Mail, through MAIL_SERVER.
    mail_sender=None if app.config.get("MAIL_SERVER") else print_mail,
)

with app.app_context():
    db.create_all()


HOME = """<!doctype html>
<title>Example</title>
{% if current_user.is_authenticated %}
  <p>Hello {{ current_user.email }}. <a href="{{ url_for('private') }}">Private page</a></p>
  {% set logout = registration_logout_form() %}
  <form method="post" action="{{ url_for('registration.logout') }}">
    {{ logout.csrf_token }}
    {{ logout.submit() }}
  </form>
{% else %}
  <p>Welcome. <a href="{{ url_for('registration.signup') }}">Sign up</a>
  or <a href="{{ url_for('registration.login') }}">log in</a>.</p>
{% endif %}
"""


@app.get("/")
def home():
    return render_template_string(HOME)


@app.get("/private")
@login_required
def private():
    return "Only for logged-in users."
