"""Verification tokens: what loads back, and every kind of link that must not."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from flask_registration.errors import InvalidToken, TokenExpired
from flask_registration.flows.verify import confirm, verification_token
from flask_registration.tokens import digest, load_token, make_token
from tests.helpers import made_ago
from tests.models import User, db


@pytest.fixture
def ctx(app: Flask) -> Iterator[Any]:
    with app.app_context():
        yield app


def new_user(email: str) -> User:
    """A user without a password, in the app context the test is in."""
    user = User(email=email)
    db.session.add(user)
    db.session.commit()
    return user


@pytest.fixture
def user(ctx: Any) -> User:
    return new_user("ada@example.com")


def salt(app: Flask) -> str:
    return str(app.config["REGISTRATION_VERIFY_SALT"])


def _decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_token_loads_back_to_user_id_and_email_digest(ctx: Any, user: Any) -> None:
    token = verification_token(user)
    assert load_token(salt(ctx), token, timedelta(hours=1)) == (str(user.id), digest("ada@example.com"))


def test_token_does_not_carry_the_address(ctx: Any, user: Any) -> None:
    token = verification_token(user)
    payload = _decode(token.split(".")[0])
    assert b"ada@example.com" not in payload and "ada" not in token


def test_fresh_token_verifies_the_user(ctx: Any, user: Any) -> None:
    result = confirm(str(user.id), verification_token(user))
    assert result.newly_verified is True
    assert user.email_verified


def test_token_stops_working_when_the_email_changes(ctx: Any, user: Any) -> None:
    token = verification_token(user)
    user.email = "grace@example.com"
    db.session.commit()
    with pytest.raises(InvalidToken) as excinfo:
        confirm(str(user.id), token)
    assert excinfo.type is InvalidToken
    assert not user.email_verified
    # A link made for the new address works.
    assert confirm(str(user.id), verification_token(user)).newly_verified


def _flip(part: int) -> Callable[[str], str]:
    def flip(token: str) -> str:
        parts = token.split(".")
        s = parts[part]
        i = len(s) // 2
        parts[part] = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1 :]
        return ".".join(parts)

    return flip


TAMPERINGS: dict[str, Callable[[str], str]] = {
    "payload": _flip(0),
    "timestamp": _flip(1),
    "signature": _flip(2),
    "truncated-by-one": lambda t: t[:-1],
    "no-signature": lambda t: t.rsplit(".", 1)[0],
    "payload-only": lambda t: t.split(".")[0],
    "appended-char": lambda t: t + "A",
    "appended-part": lambda t: t + ".AAAA",
    "empty": lambda t: "",
    "too-long": lambda t: t + "A" * 600,
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_tampered_token_is_invalid(ctx: Any, user: Any, tamper: Any) -> None:
    token = verification_token(user)
    bad = tamper(token)
    assert bad != token
    with pytest.raises(InvalidToken) as excinfo:
        load_token(salt(ctx), bad, timedelta(hours=1))
    assert excinfo.type is InvalidToken
    with pytest.raises(InvalidToken):
        confirm(str(user.id), bad)
    assert not user.email_verified


@pytest.mark.parametrize("uid, token", [(None, "x"), ("1", None), (["1"], "x"), ("1", ["x"]), ("", "x")])
def test_missing_or_non_string_parts_are_invalid(ctx: Any, user: Any, uid: Any, token: Any) -> None:
    with pytest.raises(InvalidToken):
        confirm(uid, token)


def test_token_signed_with_another_secret_key_fails(ctx: Any, user: Any) -> None:
    ctx.config["SECRET_KEY"] = "some other app's key"
    token = verification_token(user)
    ctx.config["SECRET_KEY"] = "test secret key"
    with pytest.raises(InvalidToken) as excinfo:
        confirm(str(user.id), token)
    assert excinfo.type is InvalidToken
    assert not user.email_verified


def test_token_signed_with_another_salt_fails(ctx: Any, user: Any) -> None:
    other = make_token("flask-registration.reset", user.id, user.email)
    with pytest.raises(InvalidToken):
        load_token(salt(ctx), other, timedelta(hours=1))
    with pytest.raises(InvalidToken):
        confirm(str(user.id), other)


def test_changing_the_verify_salt_invalidates_issued_tokens(ctx: Any, user: Any) -> None:
    token = verification_token(user)
    ctx.config["REGISTRATION_VERIFY_SALT"] = "a new salt"
    with pytest.raises(InvalidToken):
        confirm(str(user.id), token)


def test_token_under_an_old_key_in_secret_key_fallbacks_still_works(ctx: Any, user: Any) -> None:
    ctx.config["SECRET_KEY"] = "old key"
    old_token = verification_token(user)

    ctx.config["SECRET_KEY"] = "new key"
    ctx.config["SECRET_KEY_FALLBACKS"] = ["old key"]
    new_token = verification_token(user)
    assert load_token(salt(ctx), old_token, timedelta(hours=1))[0] == str(user.id)

    # New tokens are signed with the new key: without the fallback only they load.
    ctx.config["SECRET_KEY_FALLBACKS"] = []
    with pytest.raises(InvalidToken):
        load_token(salt(ctx), old_token, timedelta(hours=1))
    assert confirm(str(user.id), new_token).newly_verified


@pytest.mark.app_config(REGISTRATION_VERIFY_WITHIN=timedelta(minutes=1))
def test_token_older_than_verify_within_is_expired_with_user_id(ctx: Any, user: Any) -> None:
    with made_ago(3600):
        token = verification_token(user)
    with pytest.raises(TokenExpired) as excinfo:
        confirm(str(user.id), token)
    assert excinfo.value.user_id == str(user.id)
    assert excinfo.value.code == "TOKEN_EXPIRED"
    assert not user.email_verified


@pytest.mark.app_config(REGISTRATION_VERIFY_WITHIN=timedelta(minutes=1))
def test_token_younger_than_verify_within_still_works(ctx: Any, user: Any) -> None:
    with made_ago(10):
        token = verification_token(user)
    assert confirm(str(user.id), token).newly_verified


@pytest.mark.app_config(REGISTRATION_VERIFY_WITHIN=timedelta(minutes=1))
def test_tampered_expired_token_is_invalid_not_expired(ctx: Any, user: Any) -> None:
    with made_ago(3600):
        token = verification_token(user)
    with pytest.raises(InvalidToken) as excinfo:
        confirm(str(user.id), _flip(2)(token))
    assert excinfo.type is InvalidToken


@pytest.mark.app_config(REGISTRATION_VERIFY_WITHIN=timedelta(minutes=1))
def test_expired_token_under_another_key_is_invalid_not_expired(ctx: Any, user: Any) -> None:
    ctx.config["SECRET_KEY"] = "some other app's key"
    with made_ago(3600):
        token = verification_token(user)
    ctx.config["SECRET_KEY"] = "test secret key"
    with pytest.raises(InvalidToken) as excinfo:
        confirm(str(user.id), token)
    assert excinfo.type is InvalidToken


def test_token_for_another_uid_than_the_links_is_invalid(ctx: Any, user: Any) -> None:
    other = new_user("grace@example.com")
    token = verification_token(user)
    with pytest.raises(InvalidToken) as excinfo:
        confirm(str(other.id), token)
    assert excinfo.type is InvalidToken
    assert not user.email_verified and not other.email_verified
