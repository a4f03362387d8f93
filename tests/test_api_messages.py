"""What a 422 of the JSON API says: every field message is a full sentence that names
the field where needed, the codes are LoopBack's and unchanged, and the top-level
``message`` follows one rule on every route: LoopBack's "The `user` instance is not
valid. Details: `field` message", built from all the field errors."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_registration import ValidationError, get_state
from flask_registration.flows.password import reset_token
from tests.helpers import add_user
from tests.models import User, db

PASSWORD = "correct horse"


def summary(messages: dict[str, list[str]]) -> str:
    parts = "; ".join(f"`{field}` {m.rstrip('.')}" for field, ms in messages.items() for m in ms)
    return f"The `user` instance is not valid. Details: {parts}."


def assert_422(r: Any, codes: dict[str, list[str]], messages: dict[str, list[str]]) -> None:
    assert r.status_code == 422, r.get_data(as_text=True)
    error = r.json["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["codes"] == codes
    assert error["details"]["messages"] == messages
    assert error["message"] == summary(messages)


def bearer(app: Any) -> dict[str, str]:
    r = app.test_client().post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200
    return {"Authorization": f"Bearer {r.json['id']}"}


def ada_id(app: Any) -> str:
    with app.app_context():
        return str(db.session.scalars(db.select(User.id).where(User.email == "ada@example.com")).one())


# One 422 per JSON route that can answer one; each body has one problem (or two).
CASES: list[tuple[str, str, dict[str, Any], bool, dict[str, list[str]], dict[str, list[str]]]] = [
    (
        "signup-empty",
        "/api/users",
        {},
        False,
        {"email": ["presence"], "password": ["presence"]},
        {"email": ["Enter your email address."], "password": ["Enter your password."]},
    ),
    (
        "signup-short-password",
        "/api/users",
        {"email": "new@example.com", "password": "short"},
        False,
        {"password": ["length"]},
        {"password": ["The password must be at least 8 characters long."]},
    ),
    (
        "signup-bad-username",
        "/api/users",
        {"email": "new@example.com", "password": PASSWORD, "username": 5},
        False,
        {"username": ["type"]},
        {"username": ["The username must be text."]},
    ),
    (
        "signup-unknown-field",
        "/api/users",
        {"email": "new@example.com", "password": PASSWORD, "admin": True},
        False,
        {"admin": ["unknown"]},
        {"admin": ["There is no field 'admin' that can be set."]},
    ),
    (
        "login-remember",
        "/api/users/login",
        {"email": "ada@example.com", "password": PASSWORD, "remember": "yes"},
        False,
        {"remember": ["type"]},
        {"remember": ["The remember option must be true or false."]},
    ),
    (
        "login-ttl",
        "/api/users/login",
        {"email": "ada@example.com", "password": PASSWORD, "ttl": 0},
        False,
        {"ttl": ["type"]},
        {"ttl": ["The token lifetime (ttl) must be a whole number of seconds."]},
    ),
    (
        "resend",
        "/api/users/verify",
        {"email": "nobody"},
        False,
        {"email": ["format"]},
        {"email": ["This email address is not valid: it must have an @-sign."]},
    ),
    (
        "reset",
        "/api/users/reset",
        {"email": ""},
        False,
        {"email": ["presence"]},
        {"email": ["Enter your email address."]},
    ),
    (
        "reset-bad-address",
        "/api/users/reset",
        {"email": "nobody@"},
        False,
        {"email": ["format"]},
        {"email": ["This email address is not valid: there must be something after the @-sign."]},
    ),
    (
        "reset-password",
        "/api/users/reset-password",
        {"token": "RESET", "newPassword": "short"},
        False,
        {"newPassword": ["length"]},
        {"newPassword": ["The new password must be at least 8 characters long."]},
    ),
    (
        "change-password",
        "/api/users/change-password",
        {"oldPassword": PASSWORD, "newPassword": "short"},
        True,
        {"newPassword": ["length"]},
        {"newPassword": ["The new password must be at least 8 characters long."]},
    ),
    (
        "change-email-same",
        "/api/users/change-email",
        {"newEmail": "ada@example.com", "password": PASSWORD},
        True,
        {"newEmail": ["same"]},
        {"newEmail": ["This is already your email address."]},
    ),
    (
        "change-email-blank",
        "/api/users/change-email",
        {"newEmail": "", "password": PASSWORD},
        True,
        {"newEmail": ["presence"]},
        {"newEmail": ["Enter your new email address."]},
    ),
    (
        "confirm",
        "/api/users/confirm",
        {"uid": "UID", "token": "t", "password": 5},
        False,
        {"password": ["type"]},
        {"password": ["The password must be text."]},
    ),
    (
        "confirm-email",
        "/api/users/confirm-email",
        {"uid": "UID"},
        False,
        {"token": ["presence"]},
        {"token": ["The token from the link is missing: open the link from the email again."]},
    ),
]


@pytest.mark.parametrize(
    ("path", "body", "logged_in", "codes", "messages"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_422_says_full_sentences_and_loopbacks_summary(
    app: Flask, path: Any, body: Any, logged_in: Any, codes: Any, messages: Any
) -> None:
    add_user(app)
    if body.get("token") == "RESET":
        with app.app_context():
            body = {**body, "token": reset_token(get_state().store.find_by_email("ada@example.com"))}
    if body.get("uid") == "UID":
        body = {**body, "uid": ada_id(app)}
    headers = bearer(app) if logged_in else {}
    r = app.test_client().post(path, json=body, headers=headers)
    assert_422(r, codes, messages)


def test_reauthenticate_without_a_password_says_so_in_a_sentence(app: Flask) -> None:
    add_user(app)
    client = app.test_client()
    assert client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 200
    csrf = client.get("/api/users/csrf-token").json["csrfToken"]
    r = client.post("/api/users/reauthenticate", json={"password": ""}, headers={"X-CSRFToken": csrf})
    assert_422(r, {"password": ["presence"]}, {"password": ["Enter your password."]})


def test_a_taken_unique_column_names_the_field(app: Flask) -> None:
    add_user(app)
    client = app.test_client()
    first = {"email": "one@example.com", "password": PASSWORD, "username": "ada"}
    assert client.post("/api/users", json=first).status_code == 202
    r = client.post("/api/users", json={**first, "email": "two@example.com"})
    assert_422(r, {"username": ["uniqueness"]}, {"username": ["This username is already taken."]})


@pytest.mark.app_config(REGISTRATION_SIGNUP_FIELDS=["username", "first_name"])
def test_an_extra_fields_name_is_said_with_spaces(app: Flask) -> None:
    r = app.test_client().post("/api/users", json={"email": "new@example.com", "password": PASSWORD, "first_name": []})
    message = "The first name must be text, a number, or true or false."
    assert_422(r, {"first_name": ["type"]}, {"first_name": [message]})


@pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False)
def test_a_taken_address_says_so_in_a_sentence(app: Flask) -> None:
    add_user(app)
    r = app.test_client().post("/api/users", json={"email": "ada@example.com", "password": PASSWORD})
    assert_422(r, {"email": ["uniqueness"]}, {"email": ["An account with this email address already exists."]})


def test_an_address_without_a_dot_in_its_domain_gets_a_clear_422(app: Flask) -> None:
    # LoopBack takes x@com; we refuse it (docs/loopback.rst), and say why in one sentence.
    r = app.test_client().post("/api/users", json={"email": "x@com", "password": PASSWORD})
    message = "This email address is not valid: the part after the @-sign should have a period."
    assert_422(r, {"email": ["format"]}, {"email": [message]})


def test_an_address_too_long_says_how_long_it_may_be(app: Flask) -> None:
    r = app.test_client().post("/api/users", json={"email": "a" * 250 + "@example.com", "password": PASSWORD})
    message = "This email address is too long: it can have at most 254 characters."
    assert_422(r, {"email": ["length"]}, {"email": [message]})


def test_a_hooks_veto_on_one_field_gets_loopbacks_summary(app: Flask, registration: Any) -> None:
    @registration.before_signup
    def only_example_com(data: Any) -> None:
        if not data["email"].endswith("@example.com"):
            raise ValidationError("Use your example.com address.", field="email", field_code="domain")

    r = app.test_client().post("/api/users", json={"email": "ada@example.org", "password": PASSWORD})
    assert_422(r, {"email": ["domain"]}, {"email": ["Use your example.com address."]})


def test_adding_a_field_error_keeps_the_summary_in_step() -> None:
    error = ValidationError("Enter your email address.", field="email", field_code="presence")
    error.add("password", "presence", "Enter your password.")
    expected = (
        "The `user` instance is not valid. Details: `email` Enter your email address; `password` Enter your password."
    )
    assert error.message == str(error) == expected
    assert error.to_dict()["error"]["message"] == expected
