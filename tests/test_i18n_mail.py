"""Emails in their recipient's language: the ``locale`` column filled at signup and read by
mail sent later (the CLI's ``resend``), a ``Content-Language`` header on every email,
translated default subjects, and lifetimes written by Babel."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase

from flask_registration import Registration, UserMixin
from flask_registration.contrib.celery import message_from_dict, message_to_dict
from flask_registration.i18n import force_locale
from flask_registration.mail import build_message
from flask_registration.models import LocaleMixin
from flask_registration.state import get_state
from tests.models import CHEAP_ARGON2
from tests.smtp import Mailbox


class Base(DeclarativeBase):
    pass


locale_db = SQLAlchemy(model_class=Base)


class LocaleUser(locale_db.Model, UserMixin, LocaleMixin):  # type: ignore[name-defined]
    """A user model with the optional ``locale`` column."""

    __tablename__ = "users"


def make_locale_app(database_url: str, mailbox: Mailbox, *, babel: bool = True, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test secret key of the suite",
        SERVER_NAME="localhost",
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="Tests <tests@example.com>",
        MAIL_SERVER=mailbox.host,
        MAIL_PORT=mailbox.port,
        SQLALCHEMY_DATABASE_URI=database_url,
        REGISTRATION_RATE_LIMITS_ENABLED=False,
        **CHEAP_ARGON2,
        **config,
    )
    locale_db.init_app(app)
    Registration(app, db=locale_db, user_model=LocaleUser)
    if babel:
        Babel(app)
    return app


@pytest.fixture
def locale_app(request: pytest.FixtureRequest, mailbox: Mailbox, database_url: str) -> Iterator[Flask]:
    """An app whose user model has a ``locale`` column (settings: ``app_config`` marker)."""
    config: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        config.update(marker.kwargs)
    app = make_locale_app(database_url, mailbox, **config)
    with app.app_context():
        locale_db.create_all()
    yield app
    with app.app_context():
        locale_db.session.remove()
        locale_db.drop_all()
        locale_db.engine.dispose()


def sign_up(app: Flask, email: str, language: str | None) -> None:
    headers = {"Accept-Language": language} if language else {}
    r = app.test_client().post("/api/users", json={"email": email, "password": "correct horse"}, headers=headers)
    assert r.status_code == 202


def stored_locale(app: Flask, email: str) -> str | None:
    with app.app_context():
        user = locale_db.session.scalars(select(LocaleUser).where(LocaleUser.email == email)).one()
        return user.locale


def resend(app: Flask, email: str) -> None:
    result = app.test_cli_runner().invoke(args=["registration", "resend", email])
    assert result.exit_code == 0, result.output


def test_a_signup_stores_its_language_and_its_email_speaks_it(locale_app: Flask, mailbox: Mailbox) -> None:
    sign_up(locale_app, "ada@example.com", "de-DE,de;q=0.9")
    assert stored_locale(locale_app, "ada@example.com") == "de"
    (msg,) = mailbox.wait_for(1)
    assert msg["Content-Language"] == "de"
    assert msg["Subject"] == "Bestätigen Sie Ihre E-Mail-Adresse"
    text = mailbox.text(msg).replace("\r\n", "\n")
    assert text.startswith("Hallo,\n\nBitte bestätigen Sie Ihre E-Mail-Adresse, indem Sie diesen Link öffnen:\n")
    assert "Der Link gilt 2 Tage lang." in text
    html = mailbox.html(msg)
    assert '<html lang="de" dir="ltr">' in html and "Meine E-Mail-Adresse bestätigen" in html


def test_an_english_signup_stores_english(locale_app: Flask, mailbox: Mailbox) -> None:
    sign_up(locale_app, "ada@example.com", None)
    assert stored_locale(locale_app, "ada@example.com") == "en"
    (msg,) = mailbox.wait_for(1)
    assert msg["Content-Language"] == "en"
    assert msg["Subject"] == "Confirm your email address"
    assert "The link works for 2 days. If you did not sign up, you can ignore this message." in mailbox.text(msg)


def test_a_resend_from_the_cli_uses_the_stored_language(locale_app: Flask, mailbox: Mailbox) -> None:
    sign_up(locale_app, "ada@example.com", "de")
    sign_up(locale_app, "bob@example.com", "en")
    mailbox.wait_for(2)
    mailbox.clear()
    resend(locale_app, "ada@example.com")
    resend(locale_app, "bob@example.com")
    ada, bob = sorted(mailbox.wait_for(2), key=lambda m: str(m["To"]))
    assert (ada["To"], ada["Content-Language"], ada["Subject"]) == (
        "ada@example.com",
        "de",
        "Bestätigen Sie Ihre E-Mail-Adresse",
    )
    assert "Der Link gilt 2 Tage lang." in mailbox.text(ada)
    assert (bob["To"], bob["Content-Language"], bob["Subject"]) == (
        "bob@example.com",
        "en",
        "Confirm your email address",
    )


@pytest.mark.app_config(REGISTRATION_DEFAULT_LOCALE="de")
def test_without_a_stored_language_mail_sent_later_takes_the_default_locale(
    locale_app: Flask, mailbox: Mailbox
) -> None:
    with locale_app.app_context():
        state = get_state()
        user = state.store.create({"email": "old@example.com", "password_hash": None})
        assert user.locale is None  # made outside a request: nothing to remember
    resend(locale_app, "old@example.com")
    (msg,) = mailbox.wait_for(1)
    assert msg["Content-Language"] == "de"
    assert "Der Link gilt 2 Tage lang." in mailbox.text(msg)


def test_the_stored_language_wins_over_the_request(locale_app: Flask, mailbox: Mailbox) -> None:
    # Someone signs up in English with the address of a German user: the notice is German.
    sign_up(locale_app, "ada@example.com", "de")
    mailbox.wait_for(1)
    mailbox.clear()
    sign_up(locale_app, "ada@example.com", "en")
    (msg,) = mailbox.wait_for(1)
    assert msg["Content-Language"] == "de"
    assert msg["Subject"] == "Sie haben bereits ein Konto"
    assert "Jemand (vielleicht Sie) hat versucht, sich mit dieser Adresse zu registrieren" in mailbox.text(msg)


@pytest.mark.app_config(REGISTRATION_VERIFY_SUBJECT="Welcome to Example")
def test_a_subject_the_app_set_is_sent_as_given(locale_app: Flask, mailbox: Mailbox) -> None:
    sign_up(locale_app, "ada@example.com", "de")
    (msg,) = mailbox.wait_for(1)
    assert msg["Subject"] == "Welcome to Example"
    assert msg["Content-Language"] == "de"


def test_without_flask_babel_emails_are_english_and_say_so(mailbox: Mailbox, database_url: str) -> None:
    app = make_locale_app(database_url, mailbox, babel=False)
    with app.app_context():
        locale_db.create_all()
    try:
        sign_up(app, "ada@example.com", "de")
        assert stored_locale(app, "ada@example.com") is None  # nothing was chosen
        (msg,) = mailbox.wait_for(1)
        assert (msg["Content-Language"], msg["Subject"]) == ("en", "Confirm your email address")
        with app.app_context(), force_locale("de"):  # no Flask-Babel: no effect, no error
            message = build_message(
                "verify",
                recipient="x@example.com",
                subject="Confirm your email address",
                user=None,
                link="http://localhost/confirm?uid=1&token=t",
                valid_for=app.config["REGISTRATION_VERIFY_WITHIN"],
            )
        assert message.subject == "Confirm your email address"
        assert message.extra_headers == {"Content-Language": "en"}
        assert "The link works for 2 days." in str(message.body)
    finally:
        with app.app_context():
            locale_db.session.remove()
            locale_db.drop_all()
            locale_db.engine.dispose()


def test_force_locale_writes_an_email_in_another_language(locale_app: Flask) -> None:
    with locale_app.test_request_context(headers={"Accept-Language": "en"}), force_locale("de"):
        message = build_message(
            "reset",
            recipient="x@example.com",
            subject="Reset your password",
            user=None,
            link="http://localhost/reset-password?token=t",
            token="t",
            valid_for=locale_app.config["REGISTRATION_RESET_WITHIN"],
        )
    assert message.subject == "Setzen Sie Ihr Passwort zurück"
    assert message.extra_headers == {"Content-Language": "de"}
    assert "Der Link funktioniert einmal und gilt 1 Stunde lang." in str(message.body)


def test_queued_mail_keeps_its_language(locale_app: Flask) -> None:
    with locale_app.test_request_context(headers={"Accept-Language": "de"}):
        message = build_message("email_taken", recipient="x@example.com", subject="You already have an account")
    again = message_from_dict(message_to_dict(message))
    assert again.extra_headers == {"Content-Language": "de"}
    assert (again.subject, again.body) == ("Sie haben bereits ein Konto", message.body)
