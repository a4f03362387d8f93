"""The tutorial's final code (docs/tutorial.rst): a small notes app that had its own
``User`` model and gained signup, verification, login and a custom rule."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, render_template_string
from flask_login import current_user, login_required
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from flask_registration import Registration, SessionMixin, UserMixin, ValidationError
from flask_registration.forms import SignupForm


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


# Step 2: the app's own model keeps its own column (name) and gains ours.
class User(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    name: Mapped[str] = mapped_column(String(80), nullable=False, default="")


class Note(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)


# Step 3: one row per login, so that logging out ends that session on the server.
class LoginSession(db.Model, SessionMixin):  # type: ignore[name-defined,misc]
    __tablename__ = "login_sessions"
    __user_tablename__ = "users"


# Step 5: a name on the signup form, declared in REGISTRATION_SIGNUP_FIELDS.
class NotesSignupForm(SignupForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=80)])


registration = Registration(db=db, user_model=User, session_model=LoginSession, signup_form=NotesSignupForm)


# Step 6: a rule of our own, and something to do once the account exists.
@registration.before_signup
def name_is_not_the_email(data: dict[str, Any]) -> None:
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise ValidationError("can't be blank.", field="name", field_code="presence")
    data["name"] = data["name"].strip()
    if data["name"].lower() == data["email"].split("@")[0]:
        raise ValidationError("please tell us your name, not your address.", field="name", field_code="format")


@registration.after_signup
def welcome_note(user: User, data: dict[str, Any]) -> None:
    db.session.add(Note(user_id=user.id, text=f"Welcome, {user.name}! This is your first note."))
    db.session.commit()


NOTES = """{% extends "registration/base.html" %}
{% block content %}
<h1>{{ current_user.name }}'s notes</h1>
<ul>{% for note in notes %}<li>{{ note.text }}</li>{% endfor %}</ul>
{% set form = registration_logout_form() %}
<form method="post" action="{{ url_for('registration.logout') }}">{{ form.csrf_token }}{{ form.submit() }}</form>
{% endblock %}"""


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        SECRET_KEY=os.environ.get("SECRET_KEY", "tutorial: set SECRET_KEY in production"),
        SQLALCHEMY_DATABASE_URI="sqlite:///" + os.path.join(app.instance_path, "notes.sqlite"),
        # The hosts this site answers as: emailed links are built from the request's
        # host, so an unchecked Host header would let anyone poison them. Add yours
        # (comma-separated) in TRUSTED_HOSTS when you serve it under another name.
        TRUSTED_HOSTS=["127.0.0.1", "localhost", "::1", *filter(None, os.environ.get("TRUSTED_HOSTS", "").split(","))],
        MAIL_SERVER=os.environ.get("MAIL_SERVER", "localhost"),
        MAIL_PORT=int(os.environ.get("MAIL_PORT", "25")),
        MAIL_DEFAULT_SENDER="Notes <notes@example.com>",
        REGISTRATION_SIGNUP_FIELDS=["name"],
        REGISTRATION_POST_LOGIN_REDIRECT="/notes",
    )
    if test_config:
        app.config.update(test_config)
    db.init_app(app)
    registration.init_app(app)

    @app.get("/")
    def index() -> str:
        return '<a href="/signup">Sign up</a> or <a href="/login">log in</a>.'

    # Step 4: the app's own page, for logged-in users only.
    @app.get("/notes")
    @login_required
    def notes() -> str:
        mine = db.session.scalars(select(Note).filter_by(user_id=current_user.id)).all()
        return render_template_string(NOTES, notes=mine)

    with app.app_context():
        db.create_all()
    return app
