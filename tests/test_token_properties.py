"""Property-based tests of the emailed links' tokens: no tampering of a valid token ever
validates (bit flips, edits, truncation, re-signing with another key or salt, another
user's id), and a token of one purpose (verify, reset, change of address) never passes
for another."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer

from flask_registration import InvalidToken, TokenExpired, get_state
from flask_registration.flows import confirm, confirm_email_change
from flask_registration.flows.password import reset_token, user_for_reset_token
from flask_registration.flows.verify import verification_token
from flask_registration.tokens import digest, load_token, make_token

#: Half a second or more per test: out of the fast loop (``-m "not slow"``).
pytestmark = pytest.mark.slow

PROPERTY = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def ctx(app: Flask) -> Iterator[Any]:
    with app.test_request_context():
        yield app


@pytest.fixture
def user(ctx: Any) -> Any:
    state = get_state(ctx)
    user = state.store.create({"email": "ada@example.com", "password_hash": state.passwords.hash("a password 1")})
    user.pending_email = "ada@new.example"
    state.store.save()
    state.store.create({"email": "bob@example.com", "password_hash": state.passwords.hash("a password 2")})
    return user


def change_email_token(app: Any, user: Any) -> str:
    binding = f"{user.email}\n{user.pending_email}"
    return make_token(app.config["REGISTRATION_CHANGE_EMAIL_SALT"], user.id, binding)


# Each purpose: how its token is made, and how a link of that purpose is checked (the
# check raises for a bad token; a good change-of-address token would apply the change,
# so the good case is only loaded).
PURPOSES: dict[str, tuple[Callable[[Any, Any], str], Callable[[Any, Any, str], Any], str]] = {
    "verify": (
        lambda app, user: verification_token(user),
        lambda app, user, token: confirm(str(user.id), token),
        "REGISTRATION_VERIFY_SALT",
    ),
    "reset": (
        lambda app, user: reset_token(user),
        lambda app, user, token: user_for_reset_token(token),
        "REGISTRATION_RESET_SALT",
    ),
    "change-email": (
        change_email_token,
        lambda app, user, token: confirm_email_change(str(user.id), token),
        "REGISTRATION_CHANGE_EMAIL_SALT",
    ),
}


def refused(check: Callable[[], Any]) -> None:
    """The check raises InvalidToken itself: not TokenExpired (a changed token is not a
    genuine old one), nor anything unexpected."""
    with pytest.raises(InvalidToken) as excinfo:
        check()
    assert excinfo.type is not TokenExpired


def genuine(app: Any, purpose: str, token: str) -> tuple[str, str]:
    return load_token(app.config[PURPOSES[purpose][2]], token, timedelta(hours=1))


@pytest.mark.parametrize("purpose", list(PURPOSES))
def test_the_untouched_token_loads(ctx: Any, user: Any, purpose: Any) -> None:
    make, _check, _salt = PURPOSES[purpose]
    assert genuine(ctx, purpose, make(ctx, user))[0] == str(user.id)


@pytest.mark.parametrize("purpose", list(PURPOSES))
def test_no_bit_flip_validates(ctx: Any, user: Any, purpose: Any) -> None:
    make, check, _salt = PURPOSES[purpose]
    token = make(ctx, user)

    @PROPERTY
    @given(index=st.integers(0, len(token) - 1), bit=st.integers(0, 7))
    def flip(index: Any, bit: Any) -> None:
        tampered = token[:index] + chr(ord(token[index]) ^ (1 << bit)) + token[index + 1 :]
        refused(lambda: check(ctx, user, tampered))

    flip()


@pytest.mark.parametrize("purpose", list(PURPOSES))
def test_no_edit_validates(ctx: Any, user: Any, purpose: Any) -> None:
    make, check, _salt = PURPOSES[purpose]
    token = make(ctx, user)
    alphabet = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ")

    @PROPERTY
    @given(
        start=st.integers(0, len(token)),
        length=st.integers(0, 4),
        text=st.one_of(st.text(alphabet, max_size=4), st.text(max_size=3)),
    )
    def edit(start: Any, length: Any, text: Any) -> None:
        tampered = token[:start] + text + token[start + length :]
        assume(tampered != token)
        refused(lambda: check(ctx, user, tampered))

    edit()


@pytest.mark.parametrize("purpose", list(PURPOSES))
def test_no_truncation_validates(ctx: Any, user: Any, purpose: Any) -> None:
    make, check, _salt = PURPOSES[purpose]
    token = make(ctx, user)
    for cut in range(len(token)):
        refused(lambda: check(ctx, user, token[:cut]))  # noqa: B023 (called at once)
        refused(lambda: check(ctx, user, token[cut + 1 :]))  # noqa: B023


@pytest.mark.parametrize("purpose", list(PURPOSES))
def test_a_token_signed_with_another_key_or_salt_fails(ctx: Any, user: Any, purpose: Any) -> None:
    _make, check, salt_key = PURPOSES[purpose]
    key, salt = ctx.config["SECRET_KEY"], ctx.config[salt_key]
    binding = {
        "verify": user.email,
        "reset": f"{user.email}\n{user.password_hash or ''}\n{user.auth_stamp}",
        "change-email": f"{user.email}\n{user.pending_email}",
    }[purpose]
    payload = [str(user.id), digest(binding)]  # exactly what a genuine token carries

    @PROPERTY
    @given(other_key=st.text(min_size=1, max_size=64), other_salt=st.text(max_size=64), which=st.sampled_from("ks"))
    def resign(other_key: Any, other_salt: Any, which: Any) -> None:
        signer = (
            URLSafeTimedSerializer(other_key, salt=salt)
            if which == "k"
            else URLSafeTimedSerializer(key, salt=other_salt)
        )
        assume(other_key != key if which == "k" else other_salt != salt)
        refused(lambda: check(ctx, user, signer.dumps(payload)))

    resign()


@pytest.mark.parametrize("purpose", ["verify", "change-email"])
def test_a_token_never_passes_for_another_user_id(ctx: Any, user: Any, purpose: Any) -> None:
    make, check, _salt = PURPOSES[purpose]
    token = make(ctx, user)

    @PROPERTY
    @given(uid=st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(max_size=20)))
    def swap(uid: Any) -> None:
        assume(uid != str(user.id))
        other = type("Other", (), {"id": uid})()
        refused(lambda: check(ctx, other, token))

    swap()


def test_another_users_reset_token_is_bound_to_that_user(ctx: Any, user: Any) -> None:
    bob = get_state(ctx).store.find_by_email("bob@example.com")
    assert user_for_reset_token(reset_token(bob)).id == bob.id != user.id


@pytest.mark.parametrize("made_for, used_for", [(a, b) for a in PURPOSES for b in PURPOSES if a != b])
def test_a_token_of_one_purpose_never_passes_for_another(ctx: Any, user: Any, made_for: Any, used_for: Any) -> None:
    token = PURPOSES[made_for][0](ctx, user)
    refused(lambda: PURPOSES[used_for][1](ctx, user, token))
    with pytest.raises(InvalidToken):
        genuine(ctx, used_for, token)
