"""The whole path over a real SMTP server: sign up, receive the email, follow its link, log in."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.helpers import confirm_by_api, press_confirm
from tests.models import User, db
from tests.smtp import Mailbox


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def test_json_signup_email_link_then_login(app: Flask, client: Any, mailbox: Mailbox) -> None:
    r = client.post("/api/users", json={"email": "Ada@Example.com", "password": "correct horse"})
    assert r.status_code == 202
    assert r.json["emailSent"] is True

    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 401
    assert r.json["error"]["code"] == "LOGIN_FAILED"

    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "ada@example.com"
    link = mailbox.link(msg)
    assert link == mailbox.link(msg, "/confirm")
    assert link in html.unescape(mailbox.html(msg))
    query = parse_qs(urlsplit(link).query)
    assert set(query) == {"uid", "token"}

    # Opening the link changes nothing; the JSON face confirms with the password.
    r = app.test_client().get(_path(link))
    assert r.status_code == 200 and b"Confirm your email address" in r.data
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 401
    r = confirm_by_api(client, link, "correct horse")
    assert r.status_code == 204

    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 200
    assert r.json["user"]["emailVerified"] is True
    assert r.json["userId"] == r.json["user"]["id"]
    assert "password_hash" not in r.json["user"] and "password" not in r.json["user"]
    me = client.get("/api/users/me")
    assert me.status_code == 200 and me.json["email"] == "ada@example.com"


def test_html_signup_email_link_then_login(app: Flask, client: Any, mailbox: Mailbox) -> None:
    app.config["WTF_CSRF_ENABLED"] = False  # the browser tests drive the real CSRF tokens
    r = client.post(
        "/signup",
        data={"email": "grace@example.com", "password": "hopper1906", "password_confirm": "hopper1906"},
    )
    assert r.status_code == 200
    assert b"Check your email" in r.data and b"grace@example.com" in r.data
    (msg,) = mailbox.wait_for(1)
    # This browser signed up: the page asks for nothing but the press of its button.
    page = client.get(_path(mailbox.link(msg)))
    assert page.status_code == 200 and b'name="password"' not in page.data
    r = press_confirm(client, _path(mailbox.link(msg)) + "&redirect=/welcome")
    assert r.status_code == 302 and r.headers["Location"] == "/welcome"
    r = client.post("/login", data={"email": "grace@example.com", "password": "hopper1906", "next": "/inside"})
    assert r.status_code == 302 and r.headers["Location"] == "/inside"
    assert client.get("/api/users/me").json["email"] == "grace@example.com"


@pytest.mark.app_config(MAIL_PORT=1)
def test_smtp_down_keeps_the_user_and_resend_works_later(
    app: Flask, client: Any, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    # Port 1 on loopback: nothing listens, so the connection is refused.
    r = client.post("/api/users", json={"email": "kept@example.com", "password": "a good password"})
    assert r.status_code == 202
    assert r.json["emailSent"] is False
    with app.app_context():
        user = db.session.scalars(db.select(User).filter_by(email="kept@example.com")).one()
        assert not user.email_verified
    assert "Could not send the verify email" in caplog.text
    assert "token=" not in caplog.text
    assert mailbox.messages == []

    # The mail server is back: resending works and the link verifies the kept user.
    app.extensions["mail"].port = mailbox.port
    r = client.post("/api/users/verify", json={"email": "kept@example.com"})
    assert r.status_code == 204
    (msg,) = mailbox.wait_for(1)
    r = press_confirm(client, _path(mailbox.link(msg)), "a good password")
    assert r.status_code == 200
    with app.app_context():
        assert db.session.scalars(db.select(User).filter_by(email="kept@example.com")).one().email_verified


@pytest.mark.app_config(MAIL_PORT=1)
def test_html_signup_with_smtp_down_says_so(app: Flask, client: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    r = client.post(
        "/signup", data={"email": "down@example.com", "password": "password1", "password_confirm": "password1"}
    )
    assert r.status_code == 200
    assert b"could not send the email" in r.data


@pytest.fixture
def silent_smtp_port() -> Iterator[Any]:
    """A loopback port that accepts connections and never says a word."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.slow
def test_a_mail_server_that_never_answers_times_out(app: Flask, client: Any, silent_smtp_port: Any) -> None:
    app.config["REGISTRATION_MAIL_TIMEOUT"] = 0.5
    app.extensions["mail"].port = silent_smtp_port
    r = client.post("/api/users", json={"email": "slow@example.com", "password": "a good password"})
    assert r.status_code == 202
    assert r.json["emailSent"] is False
    with app.app_context():
        assert db.session.scalars(db.select(User).filter_by(email="slow@example.com")).one()
