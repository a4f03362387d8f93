"""``POST /api/users/login`` and ``/logout``: verification first, one answer for every
wrong guess, a session cookie guarded by CSRF, and argon2 hashes upgraded on login."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from flask_registration import get_state
from flask_registration.models import utcnow
from flask_registration.passwords import Passwords
from tests.helpers import sign_up
from tests.models import User, db, make_app
from tests.smtp import Mailbox

PASSWORD = "correct horse"


def mark_verified(app: Flask, email: str = "ada@example.com") -> None:
    # Brevity: test_confirm.py covers the emailed link itself.
    with app.app_context():
        found = db.session.scalars(db.select(User).filter_by(email=email)).one()
        found.email_verified_at = utcnow()
        db.session.commit()


def stored_hash(app: Flask, email: str = "ada@example.com") -> str:
    with app.app_context():
        return str(db.session.scalars(db.select(User.password_hash).filter_by(email=email)).one())


def log_in(client: Any, email: str = "ada@example.com", password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/api/users/login", json={"email": email, "password": password, **extra})


@pytest.fixture
def verified(app: Flask, client: Any, mailbox: Mailbox) -> None:
    sign_up(client)
    mark_verified(app)


def test_unverified_user_with_the_right_password_gets_login_failed_and_a_new_link(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    # With enumeration prevention (the default) the right password of an unconfirmed
    # account answers as a wrong one does, or it would tell a stranger who signed the
    # address up with a password of their own whether the address had an account.
    sign_up(client)
    mailbox.wait_for(1)
    right, wrong = log_in(client), log_in(client, password="wrong horse")
    assert right.status_code == wrong.status_code == 401
    assert right.json == wrong.json and right.json["error"]["code"] == "LOGIN_FAILED"
    assert client.get_cookie("session") is None
    assert client.get("/api/users/me").status_code == 401
    links = mailbox.wait_for(2)  # the signup's link, and a fresh one for the right password
    assert len(links) == 2 and all(m["To"] == "ada@example.com" for m in links)


@pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False)
def test_without_enumeration_prevention_the_unverified_user_is_told_to_verify(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    sign_up(client)
    r = log_in(client)
    assert r.status_code == 401
    error = r.json["error"]
    assert error["code"] == "LOGIN_FAILED_EMAIL_NOT_VERIFIED"
    with app.app_context():
        assert error["details"] == {"userId": db.session.scalars(db.select(User)).one().id}  # as in LoopBack
    assert client.get_cookie("session") is None


def test_unverified_user_with_a_wrong_password_gets_the_plain_login_failed(client: Any, mailbox: Mailbox) -> None:
    sign_up(client)
    r = log_in(client, password="wrong horse")
    assert r.status_code == 401 and r.json["error"]["code"] == "LOGIN_FAILED"


def test_wrong_password_and_unknown_email_give_identical_answers(client: Any, verified: Any) -> None:
    wrong_password = log_in(client, password="wrong horse")
    unknown_email = log_in(client, email="nobody@example.com")
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json == unknown_email.json
    assert wrong_password.json["error"]["code"] == "LOGIN_FAILED"
    assert client.get_cookie("session") is None


@pytest.mark.app_config(REGISTRATION_EMAIL_VERIFICATION_REQUIRED=False)
def test_unverified_user_logs_in_when_verification_is_not_required(client: Any, mailbox: Mailbox) -> None:
    sign_up(client)
    r = log_in(client)
    assert r.status_code == 200 and r.json["user"]["emailVerified"] is False
    assert client.get("/api/users/me").json["email"] == "ada@example.com"


def test_login_gives_the_user_and_a_session_cookie_then_me_works(client: Any, verified: Any) -> None:
    assert client.get("/api/users/me").json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    r = log_in(client, email="ADA@Example.com")
    assert r.status_code == 200
    assert set(r.json) == {"id", "ttl", "created", "userId", "user"}  # the test app has a token model
    assert r.json["userId"] == r.json["user"]["id"]
    assert r.json["user"]["email"] == "ada@example.com"
    assert "password_hash" not in r.json["user"]
    assert client.get_cookie("session") is not None
    me = client.get("/api/users/me")
    assert me.status_code == 200 and me.json["id"] == r.json["userId"]


def test_logout_with_a_session_cookie_needs_the_csrf_header(client: Any, verified: Any) -> None:
    assert log_in(client).status_code == 200

    r = client.post("/api/users/logout")
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"
    r = client.post("/api/users/logout", headers={"X-CSRFToken": "not a token"})
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"
    assert client.get("/api/users/me").status_code == 200

    token = client.get("/api/users/csrf-token").json["csrfToken"]
    r = client.post("/api/users/logout", headers={"X-CSRFToken": token})
    assert r.status_code == 204
    me = client.get("/api/users/me")
    assert me.status_code == 401 and me.json["error"]["code"] == "AUTHORIZATION_REQUIRED"


def test_logout_by_remember_cookie_alone_needs_the_csrf_header(client: Any, verified: Any) -> None:
    # The remember cookie authenticates as well as the session cookie does, so a
    # cross-site POST carrying only it must be refused just the same.
    assert log_in(client, remember=True).status_code == 200
    assert client.get_cookie("remember_token") is not None
    client.delete_cookie("session")
    r = client.post("/api/users/logout")
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"


@pytest.fixture
def second_app(app: Flask) -> Iterator[Any]:
    """Another app on the same database and mail server (built with ``make_app``)."""
    made = []

    def build(**config: Any) -> Any:
        keep = ("SQLALCHEMY_DATABASE_URI", "MAIL_SERVER", "MAIL_PORT")
        other = make_app({k: app.config[k] for k in keep} | config)
        made.append(other)
        return other

    yield build
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_login_rehashes_a_password_made_with_older_argon2_parameters(
    app: Flask, client: Any, verified: Any, second_app: Any
) -> None:
    old = stored_hash(app)
    assert ",t=1," in old

    stronger = second_app(REGISTRATION_ARGON2_TIME_COST=2)
    assert log_in(stronger.test_client()).status_code == 200
    new = stored_hash(app)
    assert new != old and ",t=2," in new and new.startswith("$argon2id$")

    assert log_in(stronger.test_client()).status_code == 200
    assert log_in(stronger.test_client(), password="wrong horse").status_code == 401
    assert stored_hash(app) == new  # already current: not hashed again


def test_hash_with_current_parameters_is_left_alone(app: Flask, client: Any, verified: Any) -> None:
    before = stored_hash(app)
    assert log_in(client).status_code == 200
    assert stored_hash(app) == before


def test_a_missing_hash_is_checked_against_a_real_argon2_hash() -> None:
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1)
    assert passwords.verify(None, "dummy password for timing") is False
    assert passwords.verify("", "anything") is False
    # The dummy is a real argon2id hash, so an unknown user costs a real verification.
    assert passwords._dummy is not None and passwords._dummy.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    good = passwords.hash("secret")
    assert passwords.verify(good, "secret") is True
    assert passwords.verify(good, "Secret") is False


def test_login_with_an_unknown_email_runs_argon2_on_the_dummy_hash(app: Flask, client: Any, mailbox: Mailbox) -> None:
    # The dummy is made with the app's hasher up front: made at the first unknown
    # address, it would cost that login one hash more than a known one's. The argon2 work
    # of both cases is compared in tests/test_enumeration.py.
    dummy = get_state(app).passwords._dummy
    assert dummy.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    r = log_in(client, email="nobody@example.com")
    assert r.status_code == 401
    assert get_state(app).passwords._dummy == dummy


def test_login_from_a_client_with_a_session_cookie_needs_the_csrf_header(client: Any, verified: Any) -> None:
    token = client.get("/api/users/csrf-token").json["csrfToken"]  # sets the session cookie
    r = log_in(client)
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"
    r = client.post(
        "/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}, headers={"X-CSRFToken": token}
    )
    assert r.status_code == 200
