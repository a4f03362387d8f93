"""Signing up with a passkey (the software authenticator over the JSON API, and the
signup page's form): an account with no password and one passkey, whose address is
verified by email (the real SMTP server) before the passkey logs in; a taken address
answers as a password signup does; a passkey made before the address was proven does
not survive the owner's proof from another browser. Then what such an account does:
re-authenticate with its passkey, keep its last passkey, export its factors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from tests.helpers import (
    SoftAuthenticator,
    add_passkey,
    add_user,
    api_login,
    csrf_token,
    forget_reauth,
    inputs,
    json_with_csrf,
    local,
    passkey_login,
    passkey_signup,
    press_confirm,
    press_confirm_with_new_password,
)
from tests.models import Factor, User, db

ADA = "ada@example.com"


def error_of(response: Any) -> dict[str, Any]:
    return dict(response.get_json()["error"])


def passkeys(app: Any) -> list[tuple[int, str]]:
    with app.app_context():
        return [(r.user_id, str(r.name)) for r in db.session.scalars(select(Factor).where(Factor.kind == "passkey"))]


def user_of(app: Any, email: str = ADA) -> User | None:
    with app.app_context():
        user = db.session.scalars(select(User).filter_by(email=email)).first()
        if user is not None:
            db.session.expunge(user)
        return user


def test_sign_up_with_a_passkey_verify_then_log_in_with_it(factors_app: Any, mailbox: Any) -> None:
    client = factors_app.test_client()
    options = client.post("/api/users/passkey-signup/options", json={"email": "Ada@Example.com", "username": "ada"})
    assert options.status_code == 200
    body = options.get_json()
    assert body["user"]["name"] == ADA and body["rp"] == {"id": "localhost", "name": "localhost"}
    assert body["authenticatorSelection"]["residentKey"] == "required"
    assert body["authenticatorSelection"]["userVerification"] == "required"
    assert user_of(factors_app) is None  # nothing stored before the passkey's answer

    authenticator = SoftAuthenticator()
    r = json_with_csrf(client, "POST", "/api/users/passkey-signup", {"credential": authenticator.create(body)})
    assert r.status_code == 202
    assert r.get_json() == {"email": ADA, "emailSent": True, "message": "Check your email to finish signing up."}
    user = user_of(factors_app)
    assert user is not None and user.password_hash is None and user.username == "ada" and not user.email_verified
    assert passkeys(factors_app) == [(user.id, "Passkey 1")]

    # Not verified yet: the passkey is refused as a password would be, and a new link goes out.
    (verify,) = mailbox.wait_for(1)
    refused = passkey_login(factors_app.test_client(), authenticator)
    assert refused.status_code == 401 and error_of(refused)["code"] == "LOGIN_FAILED"
    assert len(mailbox.wait_for(2)) == 2

    confirmed = press_confirm(client, mailbox.link(verify))  # the browser that signed up: the button alone
    assert confirmed.status_code == 200 and user_of(factors_app).email_verified  # type: ignore[union-attr]
    r = passkey_login(factors_app.test_client(), authenticator)
    assert r.status_code == 200 and r.get_json()["user"]["email"] == ADA


def test_a_taken_address_answers_the_same_and_keeps_no_passkey(factors_app: Any, mailbox: Any) -> None:
    add_user(factors_app)
    new = passkey_signup(factors_app.test_client(), SoftAuthenticator(), email="bob@example.com")
    taken = passkey_signup(factors_app.test_client(), SoftAuthenticator(), email=ADA)
    assert new.status_code == taken.status_code == 202
    assert {**new.get_json(), "email": None} == {**taken.get_json(), "email": None}
    subjects = sorted(m["Subject"] for m in mailbox.wait_for(2))
    assert subjects == ["Confirm your email address", "You already have an account"]
    assert [email for _id, email in passkeys(factors_app)] == ["Passkey 1"]  # bob's only
    assert user_of(factors_app).password_hash is not None  # type: ignore[union-attr]


def test_a_passkey_planted_before_the_owner_proves_the_address_is_removed(factors_app: Any, mailbox: Any) -> None:
    attacker_key = SoftAuthenticator()
    assert passkey_signup(factors_app.test_client(), attacker_key).status_code == 202
    (verify,) = mailbox.wait_for(1)
    mailbox.clear()

    owner = factors_app.test_client()  # another browser: the link alone does not do
    page = owner.get(local(mailbox.link(verify))).get_data(as_text=True)
    assert "Set a password" in page and "Confirm my email address" not in page
    r = press_confirm(owner, mailbox.link(verify))  # the button, without the passkey: refused
    assert r.status_code == 403 and not user_of(factors_app).email_verified  # type: ignore[union-attr]

    r = press_confirm_with_new_password(owner, mailbox.link(verify), "the owner's own password")
    assert r.status_code == 200
    assert passkeys(factors_app) == [] and user_of(factors_app).email_verified  # type: ignore[union-attr]
    (notice,) = mailbox.wait_for(1)
    assert "a passkey named “Passkey 1”" in mailbox.text(notice)
    refused = passkey_login(factors_app.test_client(), attacker_key)
    assert refused.status_code == 400 and error_of(refused)["code"] == "PASSKEY_UNKNOWN"


def test_the_signup_page_offers_a_passkey_and_posts_its_answer(factors_app: Any, mailbox: Any) -> None:
    client = factors_app.test_client()
    page = client.get("/signup").get_data(as_text=True)
    assert ">Sign up with a passkey</button>" in page
    assert inputs(page)["email"]["autocomplete"] == "email"
    token = csrf_token(page)
    options = client.post(
        "/api/users/passkey-signup/options", json={"email": ADA}, headers={"X-CSRFToken": token}
    ).get_json()
    answer = json.dumps(SoftAuthenticator().create(options))
    r = client.post("/signup/passkey", data={"csrf_token": token, "email": ADA, "credential": answer})
    assert r.status_code == 200 and "Check your email" in r.get_data(as_text=True)
    assert mailbox.wait_for(1)[0]["To"] == ADA
    r = client.post("/signup/passkey", data={"csrf_token": token, "email": ADA, "credential": answer})
    assert r.status_code == 400 and "no passkey signup waiting" in r.get_data(as_text=True)
    r = client.post("/signup/passkey", data={"email": ADA, "credential": answer})  # no CSRF token
    assert r.status_code == 400 and "could not be checked" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "VALIDATION_ERROR"),
        ({"email": "not an address"}, "VALIDATION_ERROR"),
        ({"email": ADA, "x": 1}, "VALIDATION_ERROR"),
        ([], "INVALID_BODY"),
    ],
)
def test_bad_signup_data_gets_a_clean_4xx(factors_app: Any, body: Any, code: str) -> None:
    r = factors_app.test_client().post("/api/users/passkey-signup/options", json=body)
    assert r.status_code == 422 and error_of(r)["code"] == code


def test_a_signup_answer_without_user_verification_or_challenge_is_refused(factors_app: Any) -> None:
    client = factors_app.test_client()
    stray = SoftAuthenticator().create({"challenge": "AA", "user": {"id": "AA"}})
    r = client.post("/api/users/passkey-signup", json={"credential": stray})
    assert r.status_code == 400 and error_of(r)["code"] == "PASSKEY_NO_CHALLENGE"
    r = passkey_signup(client, SoftAuthenticator(), flags=0x41)  # present, not verified
    assert r.status_code == 400 and error_of(r)["code"] == "PASSKEY_INVALID"
    r = passkey_signup(client, SoftAuthenticator(), origin="https://evil.example")
    assert r.status_code == 400 and error_of(r)["code"] == "PASSKEY_WRONG_ORIGIN"
    assert user_of(factors_app) is None


# A passkey-only account.


@pytest.fixture
def passkey_account(factors_app: Any, mailbox: Any) -> tuple[Any, SoftAuthenticator]:
    """Ada signed up with a passkey, verified her address and logged in with it."""
    client = factors_app.test_client()
    authenticator = SoftAuthenticator()
    assert passkey_signup(client, authenticator).status_code == 202
    assert press_confirm(client, mailbox.link(mailbox.wait_for(1)[0])).status_code == 200
    assert passkey_login(client, authenticator).status_code == 200
    return client, authenticator


def test_a_passkey_account_reauthenticates_with_its_passkey(factors_app: Any, passkey_account: Any) -> None:
    client, authenticator = passkey_account
    forget_reauth(client)
    r = json_with_csrf(client, "POST", "/api/users/me/totp")
    assert r.status_code == 401 and error_of(r)["code"] == "REAUTHENTICATION_REQUIRED"
    options = json_with_csrf(client, "POST", "/api/users/reauthenticate/passkey/options")
    assert options.status_code == 200 and options.get_json()["userVerification"] == "required"
    weak = authenticator.get(options.get_json(), flags=0x01)
    r = json_with_csrf(client, "POST", "/api/users/reauthenticate", {"credential": weak})
    assert r.status_code == 400 and error_of(r)["code"] == "PASSKEY_INVALID"
    options = json_with_csrf(client, "POST", "/api/users/reauthenticate/passkey/options")
    answer = authenticator.get(options.get_json())
    r = json_with_csrf(client, "POST", "/api/users/reauthenticate", {"credential": answer})
    assert r.status_code == 204
    assert json_with_csrf(client, "POST", "/api/users/me/totp").status_code == 200


def test_the_reauthentication_page_offers_the_passkey(factors_app: Any, passkey_account: Any) -> None:
    client, authenticator = passkey_account
    forget_reauth(client)
    page = client.get("/reauthenticate?next=/account/security").get_data(as_text=True)
    assert ">Confirm with a passkey</button>" in page and 'name="password"' not in page
    token = csrf_token(page)
    options = client.post("/api/users/reauthenticate/passkey/options", json={}, headers={"X-CSRFToken": token})
    answer = json.dumps(authenticator.get(options.get_json()))
    r = client.post(
        "/reauthenticate/passkey", data={"csrf_token": token, "credential": answer, "next": "/account/security"}
    )
    assert r.status_code == 302 and r.headers["Location"] == "/account/security"
    r = client.post("/reauthenticate/passkey", data={"csrf_token": token, "credential": answer})
    assert r.status_code == 400 and "did not work" in r.get_data(as_text=True)


def test_a_password_account_without_passkeys_gets_no_passkey_button(factors_app: Any) -> None:
    add_user(factors_app)
    client = factors_app.test_client()
    api_login(client)
    page = client.get("/reauthenticate").get_data(as_text=True)
    assert "passkey" not in page.lower() and 'name="password"' in page
    r = json_with_csrf(client, "POST", "/api/users/reauthenticate/passkey/options")
    assert r.status_code == 400 and error_of(r)["code"] == "PASSKEY_UNKNOWN"
    token = api_login(factors_app.test_client())
    r = factors_app.test_client().post(
        "/api/users/reauthenticate/passkey/options", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 400 and error_of(r)["code"] == "SESSION_REQUIRED"


def test_the_last_passkey_of_a_passkey_account_stays(factors_app: Any, passkey_account: Any) -> None:
    client, _authenticator = passkey_account
    (only,) = client.get("/api/users/me/passkeys").get_json()
    r = json_with_csrf(client, "DELETE", f"/api/users/me/passkeys/{only['id']}")
    assert r.status_code == 409 and error_of(r)["code"] == "LAST_LOGIN_METHOD"
    second = SoftAuthenticator()
    assert add_passkey(client, second, name="Phone").status_code == 201
    assert json_with_csrf(client, "DELETE", f"/api/users/me/passkeys/{only['id']}").status_code == 204
    assert passkey_login(factors_app.test_client(), second).status_code == 200


def test_the_export_lists_the_factors_and_no_secret(factors_app: Any, passkey_account: Any) -> None:
    client, authenticator = passkey_account
    r = client.get("/api/users/me/export")
    assert r.status_code == 200
    body = r.get_json()
    kinds = [(f["kind"], f["name"]) for f in body["factors"]]
    assert kinds == [("passkey", "Passkey 1")]
    assert set(body["factors"][0]) == {"kind", "name", "createdAt", "lastUsedAt"}
    assert body["factors"][0]["lastUsedAt"] is not None
    text = r.get_data(as_text=True)
    assert authenticator.b64(authenticator.credential_id) not in text and "public_key" not in text
