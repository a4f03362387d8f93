"""POST /api/users: JSON signup, LoopBack-compatible, over a real SMTP server and database."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from flask import Flask

from tests.models import User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse battery"
NO_ENUMERATION = pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False)


def _users(app: Flask) -> list[User]:
    with app.app_context():
        users = list(db.session.scalars(db.select(User).order_by(User.id)))
        db.session.expunge_all()
        return users


def _signup(client: Any, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/api/users", json={"email": email, "password": password, **extra})


# Enumeration prevention on (the default): a taken address looks like a new one.


def test_new_and_existing_email_get_the_same_answer(app: Flask, client: Any, mailbox: Mailbox) -> None:
    first = _signup(client, "a@x.com")
    mailbox.wait_for(1)
    again = _signup(client, "a@x.com", "another password")
    assert first.status_code == again.status_code == 202
    assert first.json == again.json
    assert first.json["email"] == "a@x.com"
    assert len(_users(app)) == 1


def test_case_variant_of_an_existing_email_gets_the_same_answer(app: Flask, client: Any, mailbox: Mailbox) -> None:
    first = _signup(client, "a@x.com")
    again = _signup(client, "A@X.com")
    assert first.status_code == again.status_code == 202
    assert first.json == again.json
    assert [u.email for u in _users(app)] == ["a@x.com"]
    assert len(mailbox.wait_for(2)) == 2


def test_owner_of_a_taken_address_is_told_by_email_and_a_new_one_gets_a_link(client: Any, mailbox: Mailbox) -> None:
    _signup(client, "owner@example.com")
    (verify,) = mailbox.wait_for(1)
    assert verify["To"] == "owner@example.com"
    assert verify["Subject"] == "Confirm your email address"
    assert mailbox.link(verify, "/confirm")

    _signup(client, "Owner@Example.com", "someone else's password")
    notice = mailbox.wait_for(2)[1]
    assert notice["To"] == "owner@example.com"
    assert notice["Subject"] == "You already have an account"
    assert "already have an account" in mailbox.text(notice)
    assert not [u for u in mailbox.links(notice) if "/confirm" in u]


def test_a_taken_address_keeps_its_original_password(app: Flask, client: Any, mailbox: Mailbox) -> None:
    _signup(client, "keep@x.com", "the first password")
    _signup(client, "keep@x.com", "the second password")
    mailbox.wait_for(2)
    (user,) = _users(app)
    with app.app_context():
        passwords = app.extensions["registration"].passwords
        assert passwords.verify(user.password_hash, "the first password")
        assert not passwords.verify(user.password_hash, "the second password")


# Enumeration prevention off: 201 with the user, 422 for a taken address.


@NO_ENUMERATION
def test_signup_answers_201_with_the_new_user(client: Any, mailbox: Mailbox) -> None:
    r = _signup(client, "Ada@Example.COM", username="ada")
    assert r.status_code == 201
    body = r.json
    assert set(body) == {"id", "email", "emailVerified", "pendingEmail", "createdAt", "username", "emailSent"}
    assert body["pendingEmail"] is None
    assert isinstance(body["id"], int)
    assert body["email"] == "ada@example.com"
    assert body["emailVerified"] is False
    assert body["username"] == "ada"
    assert body["emailSent"] is True
    assert datetime.fromisoformat(body["createdAt"]).tzinfo is not None
    assert mailbox.wait_for(1)[0]["To"] == "ada@example.com"


@NO_ENUMERATION
@pytest.mark.parametrize("second", ["taken@x.com", "TAKEN@x.com", "Taken@X.Com"])
def test_taken_address_is_a_422_in_loopback_shape(app: Flask, client: Any, second: Any) -> None:
    assert _signup(client, "taken@x.com").status_code == 201
    r = _signup(client, second)
    assert r.status_code == 422
    error = r.json["error"]
    assert error["statusCode"] == 422
    assert error["name"] == "ValidationError"
    assert error["code"] == "VALIDATION_ERROR"
    assert isinstance(error["message"], str) and error["message"]
    assert error["details"]["codes"] == {"email": ["uniqueness"]}
    assert set(error["details"]["messages"]) == {"email"}
    assert len(_users(app)) == 1


@NO_ENUMERATION
@pytest.mark.app_config(REGISTRATION_SEND_VERIFICATION_ON_SIGNUP=False)
def test_no_verification_on_signup_sends_nothing_and_says_so(client: Any, mailbox: Mailbox) -> None:
    r = _signup(client, "quiet@x.com")
    assert r.status_code == 201
    assert mailbox.messages == []
    assert r.json["emailSent"] is False


@pytest.mark.app_config(REGISTRATION_SEND_VERIFICATION_ON_SIGNUP=False)
def test_no_verification_on_signup_sends_no_email(app: Flask, client: Any, mailbox: Mailbox) -> None:
    r = _signup(client, "quiet@x.com")
    assert r.status_code == 202
    assert mailbox.messages == []
    assert len(_users(app)) == 1


# What a signup may set, and what it stores.


@pytest.mark.parametrize(
    "field, value",
    [
        ("id", 42),
        ("emailVerified", True),
        ("email_verified", True),
        ("email_verified_at", "2020-01-01T00:00:00Z"),
        ("password_hash", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA"),
        ("created_at", "2000-01-01T00:00:00Z"),
        ("createdAt", "2000-01-01T00:00:00Z"),
    ],
)
def test_protected_fields_are_refused_and_nothing_is_stored(
    app: Flask, client: Any, mailbox: Mailbox, field: Any, value: Any
) -> None:
    r = _signup(client, "sneaky@x.com", **{field: value})
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {field: ["unknown"]}
    assert _users(app) == []
    assert mailbox.messages == []


def test_declared_extra_field_is_stored(app: Flask, client: Any) -> None:
    assert _signup(client, "ada@x.com", username="ada_l").status_code == 202
    (user,) = _users(app)
    assert user.username == "ada_l"


@NO_ENUMERATION
def test_taken_username_is_a_422_not_a_server_error(app: Flask, client: Any) -> None:
    assert _signup(client, "first@x.com", username="ada").status_code == 201
    r = _signup(client, "second@x.com", username="ada")
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"username": ["uniqueness"]}
    assert [u.email for u in _users(app)] == ["first@x.com"]


@NO_ENUMERATION
def test_username_longer_than_its_column_is_refused(app: Flask, client: Any) -> None:
    # tests/models.py declares username as String(40).
    r = _signup(client, "long@x.com", username="u" * 41)
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"username": ["length"]}
    assert _users(app) == []


@NO_ENUMERATION
@pytest.mark.parametrize("raw", ["true", "12345678901234567890123", "1e400"], ids=["bool", "bigint", "inf"])
def test_non_text_username_for_a_text_column_is_refused(app: Flask, client: Any, raw: Any) -> None:
    body = f'{{"email": "n@x.com", "password": "{PASSWORD}", "username": {raw}}}'
    r = client.post("/api/users", data=body, content_type="application/json")
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"username": ["type"]}
    assert _users(app) == []


@pytest.mark.parametrize("enumeration", [True, False])
def test_password_is_stored_only_as_an_argon2id_hash_and_never_shown(
    app: Flask, client: Any, mailbox: Mailbox, enumeration: Any
) -> None:
    app.config["REGISTRATION_PREVENT_ENUMERATION"] = enumeration
    app.config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"] = False
    responses = [_signup(client, "hash@x.com", username="hasher")]
    responses.append(_signup(client, "hash@x.com"))
    responses.append(client.post("/api/users/login", json={"email": "hash@x.com", "password": PASSWORD}))
    responses.append(client.get("/api/users/me"))
    assert responses[2].status_code == 200
    (user,) = _users(app)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    for r in responses:
        text = r.get_data(as_text=True)
        assert PASSWORD not in text
        assert "argon2" not in text and "password_hash" not in text
    for msg in mailbox.wait_for(1):
        assert PASSWORD not in msg.as_string()


# Two signups of one address at the same instant: the unique index decides.


def _race(app: Flask, count: int = 10) -> tuple[list[int], list[BaseException]]:
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            r = client.post("/api/users", json={"email": "Race@X.com", "password": f"password {i}"})
            with lock:
                statuses.append(r.status_code)
        except BaseException as exc:  # a 5xx propagates here under TESTING
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses, errors


def test_simultaneous_signups_of_one_address_make_one_user(app: Flask, mailbox: Mailbox) -> None:
    statuses, errors = _race(app)
    assert errors == []
    assert statuses == [202] * 10
    assert [u.email for u in _users(app)] == ["race@x.com"]
    subjects = sorted(m["Subject"] for m in mailbox.wait_for(10))
    assert subjects == ["Confirm your email address"] + ["You already have an account"] * 9


@NO_ENUMERATION
def test_simultaneous_signups_without_enumeration_give_one_201_and_422s(app: Flask, mailbox: Mailbox) -> None:
    statuses, errors = _race(app)
    assert errors == []
    assert sorted(statuses) == [201] + [422] * 9
    assert [u.email for u in _users(app)] == ["race@x.com"]
    assert len(mailbox.wait_for(1)) == 1
