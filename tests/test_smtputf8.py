"""Addresses with non-ASCII characters before the @ (``jörg@example.com``): refused with a
clear 422 by default, sent with SMTPUTF8 when the app allows them, and never a 500.

Two real SMTP servers of our own (aiosmtpd), one that offers SMTPUTF8 and one that does
not, so that the tests do not depend on what aiosmtpd offers by default.
"""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask, current_app

from flask_registration import signals
from tests.conftest import free_port
from tests.helpers import add_user, hidden
from tests.models import User, db, make_app
from tests.smtp import Mailbox, MailHandler

JORG = "jörg@example.com"
PASSWORD = "correct horse"
REFUSAL = "This site cannot send email to an address with 'ö' before the @."
ALLOWED = pytest.mark.app_config(REGISTRATION_EMAIL_ALLOW_SMTPUTF8=True)


def _server(smtputf8: bool) -> Iterator[Mailbox]:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    yield Mailbox(handler, "127.0.0.1", port)
    controller.stop()


@pytest.fixture(scope="module")
def utf8_server() -> Iterator[Mailbox]:
    yield from _server(True)


@pytest.fixture(scope="module")
def ascii_server() -> Iterator[Mailbox]:
    yield from _server(False)


@pytest.fixture
def utf8_box(utf8_server: Mailbox) -> Mailbox:
    utf8_server.clear()
    return utf8_server


@pytest.fixture
def ascii_box(ascii_server: Mailbox) -> Mailbox:
    ascii_server.clear()
    return ascii_server


def _point(app: Any, box: Mailbox) -> None:
    """Send the app's mail to ``box`` (Flask-Mail reads its settings at ``Mail(app)``)."""
    state = app.extensions["mail"]
    state.server, state.port = box.host, box.port


class Failures(list[dict[str, Any]]):
    """The ``mail_failed`` signals of an app; ``arrived`` is set by the first one (a
    resend sends it from a thread of its own)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()

    def record(self, sender: Any, **kwargs: Any) -> None:
        self.append(kwargs)
        self.arrived.set()


@pytest.fixture
def failures(app: Any) -> Iterator[Failures]:
    seen = Failures()
    with signals.mail_failed.connected_to(seen.record, sender=app):
        yield seen


def _user_count(app: Any) -> int:
    with app.app_context():
        return len(db.session.scalars(db.select(User)).all())


def _token(app: Any, email: str = "ada@example.com") -> dict[str, str]:
    r = app.test_client().post("/api/users/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.json['id']}"}


# -- refused by default ---------------------------------------------------------------------


def test_json_signup_refuses_the_address_with_a_clear_422(app: Flask, client: Any, mailbox: Mailbox) -> None:
    r = client.post("/api/users", json={"email": JORG, "password": PASSWORD})
    assert r.status_code == 422
    details = r.json["error"]["details"]
    assert details["codes"] == {"email": ["smtputf8"]}
    (message,) = details["messages"]["email"]
    assert message.startswith(REFUSAL) and message.endswith("before the @.")
    assert _user_count(app) == 0
    assert mailbox.messages == []


def test_html_signup_shows_the_refusal_on_the_email_field(app: Flask, client: Any, mailbox: Mailbox) -> None:
    data = {**hidden(client, "/signup"), "email": JORG, "password": PASSWORD, "password_confirm": PASSWORD}
    r = client.post("/signup", data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "This site cannot send email to an address with &#39;ö&#39; before the @." in page
    assert _user_count(app) == 0
    assert mailbox.messages == []


def test_change_email_refuses_the_address_on_new_email(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    auth = _token(app)
    r = app.test_client().post("/api/users/change-email", json={"newEmail": JORG, "password": PASSWORD}, headers=auth)
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"newEmail": ["smtputf8"]}
    assert r.json["error"]["details"]["messages"]["newEmail"][0].startswith(REFUSAL)
    with app.app_context():
        assert db.session.scalars(db.select(User)).one().pending_email is None
    assert mailbox.messages == []


@pytest.mark.parametrize("path", ["/api/users/verify", "/api/users/reset"])
def test_resend_and_reset_refuse_the_address(client: Any, mailbox: Mailbox, path: Any) -> None:
    r = client.post(path, json={"email": JORG})
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"email": ["smtputf8"]}
    assert mailbox.messages == []


def test_an_address_with_a_non_ascii_domain_needs_nothing_and_is_accepted(client: Any, mailbox: Mailbox) -> None:
    r = client.post("/api/users", json={"email": "jorg@exämple.com", "password": PASSWORD})
    assert r.status_code == 202 and r.json["emailSent"] is True
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "jorg@xn--exmple-cua.com"


# -- allowed: sent with SMTPUTF8 ------------------------------------------------------------


@ALLOWED
def test_signup_sends_the_link_with_smtputf8(app: Flask, client: Any, utf8_box: Any) -> None:
    _point(app, utf8_box)
    r = client.post("/api/users", json={"email": "Jörg@Example.com", "password": PASSWORD})
    assert r.status_code == 202 and r.json["emailSent"] is True and r.json["email"] == JORG
    (msg,) = utf8_box.wait_for(1)
    assert msg["To"] == JORG
    assert "/confirm?uid=" in utf8_box.link(msg)


@ALLOWED
def test_html_signup_sends_the_link_with_smtputf8(app: Flask, client: Any, utf8_box: Any) -> None:
    _point(app, utf8_box)
    data = {**hidden(client, "/signup"), "email": JORG, "password": PASSWORD, "password_confirm": PASSWORD}
    r = client.post("/signup", data=data)
    assert r.status_code == 200 and "Check your email" in r.get_data(as_text=True)
    (msg,) = utf8_box.wait_for(1)
    assert msg["To"] == JORG


@ALLOWED
def test_resend_sends_a_fresh_link_with_smtputf8(app: Flask, client: Any, utf8_box: Any) -> None:
    _point(app, utf8_box)
    add_user(app, JORG, verified=False)
    assert client.post("/api/users/verify", json={"email": JORG}).status_code == 204
    (msg,) = utf8_box.wait_for(1)
    assert msg["To"] == JORG and "/confirm?uid=" in utf8_box.link(msg)


@ALLOWED
def test_change_email_sends_the_link_to_the_new_address_with_smtputf8(app: Flask, utf8_box: Any) -> None:
    _point(app, utf8_box)
    add_user(app)
    auth = _token(app)
    r = app.test_client().post("/api/users/change-email", json={"newEmail": JORG, "password": PASSWORD}, headers=auth)
    assert r.status_code == 202 and r.json["emailSent"] is True
    messages = utf8_box.wait_for(2)  # the link to the new address, the notice to the old
    (link_mail,) = [m for m in messages if m["To"] == JORG]
    assert "/confirm-email?uid=" in utf8_box.link(link_mail, "/confirm-email")


@ALLOWED
def test_an_account_made_while_allowed_still_logs_in_once_it_is_not(app: Flask) -> None:
    add_user(app, JORG)
    app.config["REGISTRATION_EMAIL_ALLOW_SMTPUTF8"] = False
    assert _token(app, "Jörg@example.com")


# -- allowed, but the server has no SMTPUTF8: a failed email, never a 500 ---------------------


@ALLOWED
def test_signup_reports_a_failed_email_when_the_server_lacks_smtputf8(
    app: Flask, client: Any, ascii_box: Any, failures: Any
) -> None:
    _point(app, ascii_box)
    r = client.post("/api/users", json={"email": JORG, "password": PASSWORD})
    assert r.status_code == 202 and r.json["emailSent"] is False
    assert _user_count(app) == 1
    (failure,) = failures
    assert failure["kind"] == "verify" and isinstance(failure["error"], smtplib.SMTPNotSupportedError)
    assert ascii_box.messages == []


@ALLOWED
def test_html_signup_reports_a_failed_email_when_the_server_lacks_smtputf8(
    app: Flask, client: Any, ascii_box: Any, failures: Any
) -> None:
    _point(app, ascii_box)
    data = {**hidden(client, "/signup"), "email": JORG, "password": PASSWORD, "password_confirm": PASSWORD}
    r = client.post("/signup", data=data)
    assert r.status_code == 200
    assert [f["kind"] for f in failures] == ["verify"]


@ALLOWED
def test_resend_thread_reports_the_failure_instead_of_dying(
    app: Flask, client: Any, ascii_box: Any, failures: Any
) -> None:
    _point(app, ascii_box)
    add_user(app, JORG, verified=False)
    assert client.post("/api/users/verify", json={"email": JORG}).status_code == 204
    assert failures.arrived.wait(10), "the resend thread sent no mail_failed"
    assert failures[0]["kind"] == "verify" and isinstance(failures[0]["error"], smtplib.SMTPNotSupportedError)


@ALLOWED
def test_change_email_reports_a_failed_email_when_the_server_lacks_smtputf8(
    app: Flask, ascii_box: Any, failures: Any
) -> None:
    _point(app, ascii_box)
    add_user(app)
    auth = _token(app)
    r = app.test_client().post("/api/users/change-email", json={"newEmail": JORG, "password": PASSWORD}, headers=auth)
    assert r.status_code == 202 and r.json["emailSent"] is False
    assert [f["kind"] for f in failures] == ["change_email"]


def test_flask_mail_as_the_apps_own_sender_gives_a_failed_email_not_a_500(database_url: str, mailbox: Mailbox) -> None:
    # An app that hands our messages to Flask-Mail itself: Flask-Mail cannot write a
    # non-ASCII address (UnicodeEncodeError), and deliver() must report that as a failure.
    from flask_registration import Registration
    from tests.models import AccessToken

    registration = Registration(
        db=db,
        user_model=User,
        token_model=AccessToken,
        mail_sender=lambda message: current_app.extensions["mail"].send(message),
    )
    app = make_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "REGISTRATION_EMAIL_ALLOW_SMTPUTF8": True,
        },
        registration=registration,
    )
    with app.app_context():
        db.create_all()
    seen: list[Any] = []
    try:
        with signals.mail_failed.connected_to(lambda sender, **kw: seen.append(kw["error"]), sender=app):
            r = app.test_client().post("/api/users", json={"email": JORG, "password": PASSWORD})
        assert r.status_code == 202 and r.json["emailSent"] is False
        assert [type(e) for e in seen] == [UnicodeEncodeError]
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
