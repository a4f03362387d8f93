"""Emailed links never lead to a port the site does not serve on.

Werkzeug's ``TRUSTED_HOSTS`` check ignores the port, so ``Host: localhost:6666`` passes it;
a request that would email a link with such a host is refused (400 ``UNTRUSTED_HOST``)
before anything is written or sent. The test client's server port is 80, so
``Host: localhost`` is the normal case here.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask

from tests.conftest import free_port, serve
from tests.helpers import add_user, hidden
from tests.models import User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse"
EVIL = {"Host": "localhost:6666"}
TRUSTED = pytest.mark.app_config(SERVER_NAME=None, TRUSTED_HOSTS=["localhost"])


def _refused(r: Any) -> None:
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert r.json["error"]["code"] == "UNTRUSTED_HOST"


def _no_6666(mailbox: Mailbox) -> None:
    assert all(":6666" not in m.as_string() for m in mailbox.messages)


def _users(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(User.email)))


@TRUSTED
def test_reset_with_a_foreign_port_sends_nothing_and_the_normal_host_works(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app, "victim@example.com")
    _refused(client.post("/api/users/reset", json={"email": "victim@example.com"}, headers=EVIL))
    # The same answer for an address without an account: it tells nothing.
    _refused(client.post("/api/users/reset", json={"email": "nobody@example.com"}, headers=EVIL))
    r = client.post("/api/users/reset", json={"email": "victim@example.com"})
    assert r.status_code == 204
    (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg, "/reset-password").startswith("http://localhost/reset-password?token=")
    _no_6666(mailbox)


@TRUSTED
def test_html_forgot_password_with_a_foreign_port_says_why(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app, "victim@example.com")
    data = {**hidden(client, "/forgot"), "email": "victim@example.com"}
    r = client.post("/forgot", data=data, headers=EVIL)
    assert r.status_code == 400
    assert "does not send links for, so no email was sent" in r.get_data(as_text=True)
    assert mailbox.messages == []


@TRUSTED
def test_resend_with_a_foreign_port_sends_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app, "late@example.com", verified=False)
    _refused(client.post("/api/users/verify", json={"email": "late@example.com"}, headers=EVIL))
    assert client.post("/api/users/verify", json={"email": "late@example.com"}).status_code == 204
    (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg).startswith("http://localhost/confirm?uid=")
    _no_6666(mailbox)


@TRUSTED
def test_signup_with_a_foreign_port_creates_and_sends_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    _refused(client.post("/api/users", json={"email": "new@example.com", "password": PASSWORD}, headers=EVIL))
    browser = app.test_client()
    data = {
        **hidden(browser, "/signup"),
        "email": "new@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    r = browser.post("/signup", data=data, headers=EVIL)
    assert r.status_code == 400 and "no email was sent" in r.get_data(as_text=True)
    assert _users(app) == []
    # An address that has an account gets the same refusal (and its owner no notice).
    add_user(app, "taken@example.com")
    _refused(client.post("/api/users", json={"email": "taken@example.com", "password": PASSWORD}, headers=EVIL))
    r = client.post("/api/users", json={"email": "new@example.com", "password": PASSWORD})
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg).startswith("http://localhost/confirm?uid=")
    _no_6666(mailbox)


@TRUSTED
def test_change_email_with_a_foreign_port_records_and_sends_nothing(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    r = app.test_client().post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {r.json['id']}"}
    body = {"newEmail": "ada@new.example", "password": PASSWORD}
    _refused(app.test_client().post("/api/users/change-email", json=body, headers={**auth, **EVIL}))
    with app.app_context():
        assert db.session.scalars(db.select(User)).one().pending_email is None
    assert mailbox.messages == []
    r = app.test_client().post("/api/users/change-email", json=body, headers=auth)
    assert r.status_code == 202
    messages = mailbox.wait_for(2)
    (to_new,) = [m for m in messages if m["To"] == "ada@new.example"]
    assert mailbox.link(to_new, "/confirm-email").startswith("http://localhost/confirm-email?uid=")
    _no_6666(mailbox)


@TRUSTED
def test_the_port_the_server_listens_on_is_used_in_the_link(client: Any, mailbox: Mailbox) -> None:
    r = client.post(
        "/api/users",
        json={"email": "new@example.com", "password": PASSWORD},
        headers={"Host": "localhost:5000"},
        environ_overrides={"SERVER_PORT": "5000"},
    )
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg).startswith("http://localhost:5000/confirm?uid=")


@pytest.mark.app_config(SERVER_NAME=None, TRUSTED_HOSTS=["localhost", "localhost:8443"])
def test_a_port_listed_in_trusted_hosts_is_used_in_the_link(client: Any, mailbox: Mailbox) -> None:
    body = {"email": "new@example.com", "password": PASSWORD}
    r = client.post("/api/users", json=body, headers={"Host": "localhost:8443"})
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg).startswith("http://localhost:8443/confirm?uid=")
    _refused(client.post("/api/users/verify", json={"email": "new@example.com"}, headers=EVIL))


@pytest.mark.app_config(SERVER_NAME="localhost", TRUSTED_HOSTS=None)
def test_with_server_name_links_always_use_it(client: Any, mailbox: Mailbox) -> None:
    r = client.post("/api/users", json={"email": "new@example.com", "password": PASSWORD}, headers=EVIL)
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg).startswith("http://localhost/confirm?uid=")
    _no_6666(mailbox)


@TRUSTED
def test_a_real_server_links_to_its_own_port_and_refuses_another(app: Flask, mailbox: Mailbox) -> None:
    add_user(app, "victim@example.com")
    port = free_port()
    with serve(app, port) as base:
        url = f"{base}/api/users/reset"
        r = requests.post(url, json={"email": "victim@example.com"}, headers=EVIL, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == "UNTRUSTED_HOST"
        r = requests.post(url, json={"email": "victim@example.com"}, headers={"Host": f"localhost:{port}"}, timeout=10)
        assert r.status_code == 204
        (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg, "/reset-password").startswith(f"http://localhost:{port}/reset-password?token=")
    _no_6666(mailbox)


@TRUSTED
def test_send_verification_from_an_apps_own_route_reports_instead_of_raising(
    app: Flask, registration: Any, mailbox: Mailbox
) -> None:
    from flask_registration import signals
    from flask_registration.errors import UntrustedHost

    @app.post("/welcome-again")
    def welcome_again() -> str:
        user = db.session.scalars(db.select(User)).one()
        return "sent" if registration.send_verification(user) else "not sent"

    add_user(app, "late@example.com", verified=False)
    failures: list[Exception] = []
    with signals.mail_failed.connected_to(lambda sender, **kw: failures.append(kw["error"]), sender=app):
        r = app.test_client().post("/welcome-again", headers=EVIL)
        assert r.status_code == 200 and r.get_data(as_text=True) == "not sent"
        assert [type(e) for e in failures] == [UntrustedHost]
        assert app.test_client().post("/welcome-again").get_data(as_text=True) == "sent"
    (msg,) = mailbox.wait_for(1)
    assert mailbox.link(msg).startswith("http://localhost/confirm?uid=")
    _no_6666(mailbox)
