"""LoopBack users come over with their bcrypt hashes, which upgrade to argon2id on login."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_registration.flows.imports import import_loopback_users
from tests.helpers import optional
from tests.models import User, db

bcrypt = optional("bcrypt")


def loopback_hash(password: str) -> str:
    """A hash as LoopBack 3 (bcryptjs) writes it: ``$2a$``, cost 10 in LoopBack (4 here)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4, prefix=b"2a")).decode()


@pytest.fixture
def imported(app: Flask) -> Any:
    records = [
        {
            "email": "Old.User@Example.com",
            "password": loopback_hash("loopback secret"),
            "emailVerified": True,
            "created": "2017-05-01T12:00:00.000Z",
            "username": "olduser",
            "realm": None,
        },
        {"email": "unverified@example.com", "password": loopback_hash("another secret"), "emailVerified": False},
        {"email": "not an address", "password": loopback_hash("x" * 10), "emailVerified": True},
        {"email": "plain@example.com", "password": "plain text", "emailVerified": True},
        {"email": "old.user@example.com", "password": loopback_hash("duplicate"), "emailVerified": True},
    ]
    with app.app_context():
        return import_loopback_users(records, fields=["username"])


def _user(app: Flask, email: Any) -> Any:
    with app.app_context():
        return db.session.query(User).filter_by(email=email).one()


def test_the_import_reports_what_it_created_and_skipped(app: Flask, imported: Any) -> None:
    assert imported.created == ["old.user@example.com", "unverified@example.com"]
    assert imported.skipped == [
        ("not an address", "invalid email"),
        ("plain@example.com", "unknown password hash"),
        ("old.user@example.com", "exists"),
    ]
    user = _user(app, "old.user@example.com")
    assert user.username == "olduser"
    assert user.email_verified and user.email_verified_at.year == 2017
    assert user.password_hash.startswith("$2a$")
    assert not _user(app, "unverified@example.com").email_verified


def test_a_bcrypt_hash_logs_in_once_and_is_replaced_by_argon2id(app: Flask, client: Any, imported: Any) -> None:
    r = client.post("/api/users/login", json={"email": "old.user@example.com", "password": "loopback secret"})
    assert r.status_code == 200
    new_hash = _user(app, "old.user@example.com").password_hash
    assert new_hash.startswith("$argon2id$")
    # The same password keeps working against the new hash.
    other = app.test_client()
    r = other.post("/api/users/login", json={"email": "old.user@example.com", "password": "loopback secret"})
    assert r.status_code == 200


def test_a_wrong_password_against_a_bcrypt_hash_fails_and_keeps_the_hash(
    app: Flask, client: Any, imported: Any
) -> None:
    before = _user(app, "old.user@example.com").password_hash
    r = client.post("/api/users/login", json={"email": "old.user@example.com", "password": "wrong secret"})
    assert r.status_code == 401 and r.json["error"]["code"] == "LOGIN_FAILED"
    assert _user(app, "old.user@example.com").password_hash == before


def test_an_imported_unverified_user_waits_for_verification_like_any_other(
    app: Flask, client: Any, imported: Any
) -> None:
    r = client.post("/api/users/login", json={"email": "unverified@example.com", "password": "another secret"})
    assert r.status_code == 401 and r.json["error"]["code"] == "LOGIN_FAILED"


def test_bcrypt_reads_only_the_first_72_bytes_as_loopback_did(app: Flask) -> None:
    long_password = "p" * 80
    with app.app_context():
        import_loopback_users(
            [{"email": "long@example.com", "password": loopback_hash("p" * 72), "emailVerified": True}]
        )
    client = app.test_client()
    r = client.post("/api/users/login", json={"email": "long@example.com", "password": long_password})
    assert r.status_code == 200


@pytest.mark.app_config(REGISTRATION_LOGIN_FIELDS=["email", "username"])
def test_with_username_login_an_imported_username_logs_in_in_any_case(app: Flask) -> None:
    records = [
        {
            "email": "alice@example.com",
            "password": loopback_hash("alice secret"),
            "emailVerified": True,
            "username": "Alice",
        },
        {"email": "bob@example.com", "password": loopback_hash("bob secret"), "emailVerified": True, "username": "b@b"},
    ]
    with app.app_context():
        report = import_loopback_users(records, fields=["username"])
    assert report.created == ["alice@example.com"]
    assert report.skipped == [("bob@example.com", "invalid username")]
    assert _user(app, "alice@example.com").username == "alice"
    for typed in ("alice", "ALICE", "Alice"):
        fresh = app.test_client()  # no session cookie, so no CSRF header to send
        r = fresh.post("/api/users/login", json={"username": typed, "password": "alice secret"})
        assert r.status_code == 200, typed
