"""Logging in with a second factor over the JSON API: the password answers 401
``SECOND_FACTOR_REQUIRED`` with the methods, the same request with a code logs in, a
passkey (the software authenticator) does too, and a passkey alone logs in without an
address; the half-done login expires, works once and ends with the session. Over the real
SMTP server and database; the codes are pyotp's."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from flask_registration import signals
from flask_registration.state import get_state
from tests.helpers import (
    PASSWORD,
    SoftAuthenticator,
    add_passkey,
    add_user,
    api_login,
    forget_totp_step,
    json_with_csrf,
    passkey_login,
)
from tests.models import AccessToken, db

LOGIN = {"email": "ada@example.com", "password": PASSWORD}


def error_of(response: Any) -> dict[str, Any]:
    return dict(response.get_json()["error"])


def tokens(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(AccessToken)) or 0)


@pytest.fixture
def secret(factors_app: Any) -> str:
    """Ada's authenticator app (set up in a session of its own, then logged out); its secret."""
    add_user(factors_app)
    client = factors_app.test_client()
    api_login(client)
    secret = str(json_with_csrf(client, "POST", "/api/users/me/totp").get_json()["secret"])
    r = json_with_csrf(client, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 201
    forget_totp_step(factors_app)  # the enrolment used this step: start the tests afresh
    return secret


@pytest.fixture
def passkey(factors_app: Any) -> SoftAuthenticator:
    """Ada's passkey (added in a session of its own)."""
    add_user(factors_app)
    client = factors_app.test_client()
    api_login(client)
    authenticator = SoftAuthenticator()
    assert add_passkey(client, authenticator).status_code == 201
    return authenticator


def test_the_password_alone_answers_second_factor_required(factors_app: Any, secret: str) -> None:
    client = factors_app.test_client()
    before = tokens(factors_app)
    asked: list[Any] = []
    with signals.second_factor_required.connected_to(lambda _s, **kw: asked.append(kw["methods"]), factors_app):
        r = client.post("/api/users/login", json=LOGIN)
    assert r.status_code == 401
    error = error_of(r)
    assert error["code"] == "SECOND_FACTOR_REQUIRED" and error["details"] == {"methods": ["totp", "recovery_code"]}
    assert asked == [["totp", "recovery_code"]]
    assert tokens(factors_app) == before  # no token before both factors
    assert client.get("/api/users/me").status_code == 401


def test_the_same_request_with_the_code_logs_in_and_only_then_gives_a_token(factors_app: Any, secret: str) -> None:
    client = factors_app.test_client()
    before = tokens(factors_app)
    r = client.post("/api/users/login", json={**LOGIN, "code": pyotp.TOTP(secret).now(), "ttl": 600})
    assert r.status_code == 200
    body = r.get_json()
    assert body["ttl"] == 600 and body["userId"] == 1 and body["user"]["email"] == "ada@example.com"
    assert tokens(factors_app) == before + 1
    me = factors_app.test_client().get("/api/users/me", headers={"Authorization": f"Bearer {body['id']}"})
    assert me.status_code == 200
    assert client.get("/api/users/me").status_code == 200  # and the session


def test_a_wrong_or_reused_code_is_refused_without_a_token(factors_app: Any, secret: str) -> None:
    client = factors_app.test_client()
    before = tokens(factors_app)
    now = pyotp.TOTP(secret).now()
    wrong = str((int(now) + 1) % 1_000_000).zfill(6)
    r = client.post("/api/users/login", json={**LOGIN, "code": wrong})
    assert r.status_code == 401 and error_of(r)["code"] == "SECOND_FACTOR_INVALID"
    assert client.post("/api/users/login", json={**LOGIN, "code": now}).status_code == 200
    again = factors_app.test_client().post("/api/users/login", json={**LOGIN, "code": now})
    assert again.status_code == 401 and error_of(again)["code"] == "SECOND_FACTOR_REUSED"
    assert tokens(factors_app) == before + 1


def test_a_recovery_code_logs_in_once(factors_app: Any, mailbox: Any) -> None:
    add_user(factors_app)
    owner = factors_app.test_client()
    api_login(owner)
    added = add_passkey(owner, SoftAuthenticator())
    codes = added.get_json()["recoveryCodes"]  # shown this once
    client = factors_app.test_client()
    assert error_of(client.post("/api/users/login", json=LOGIN))["details"]["methods"] == ["passkey", "recovery_code"]
    mailbox.wait_for(1)
    mailbox.clear()
    # The 401 kept the waiting login in a session cookie: from now on, with the CSRF header.
    assert client.post("/api/users/login", json={**LOGIN, "code": codes[3]}).status_code == 403
    r = json_with_csrf(client, "POST", "/api/users/login", {**LOGIN, "code": codes[3].upper()})
    assert r.status_code == 200
    assert "9 recovery codes are left" in mailbox.text(mailbox.wait_for(1)[0])
    again = factors_app.test_client().post("/api/users/login", json={**LOGIN, "code": codes[3]})
    assert again.status_code == 401 and error_of(again)["code"] == "SECOND_FACTOR_INVALID"


def test_a_wrong_password_answers_as_before_whatever_the_code(factors_app: Any, secret: str) -> None:
    client = factors_app.test_client()
    plain = client.post("/api/users/login", json={**LOGIN, "password": "wrong password"})
    with_code = client.post("/api/users/login", json={**LOGIN, "password": "wrong password", "code": "123456"})
    unknown = client.post("/api/users/login", json={"email": "nobody@example.com", "password": "x", "code": "1"})
    assert plain.status_code == with_code.status_code == unknown.status_code == 401
    assert plain.get_json() == with_code.get_json() == unknown.get_json()
    assert error_of(plain)["code"] == "LOGIN_FAILED"


def test_an_account_without_a_second_factor_ignores_a_code(factors_app: Any) -> None:
    add_user(factors_app)
    r = factors_app.test_client().post("/api/users/login", json={**LOGIN, "code": "000000"})
    assert r.status_code == 200


@pytest.mark.app_config(
    REGISTRATION_RATE_LIMITS_ENABLED=True,
    REGISTRATION_RATE_LIMITS={"second_factor_per_email": "3 per 5 minutes"},
)
def test_wrong_codes_count_toward_the_accounts_limit(factors_app: Any, secret: str) -> None:
    now = pyotp.TOTP(secret).now()
    wrong = str((int(now) + 1) % 1_000_000).zfill(6)
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # other clients: the account's bucket
        client = factors_app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        refused = client.post("/api/users/login", json={**LOGIN, "code": wrong})
        assert refused.status_code == 401 and error_of(refused)["code"] == "SECOND_FACTOR_INVALID"
    limited = factors_app.test_client().post("/api/users/login", json={**LOGIN, "code": now})
    assert limited.status_code == 429 and error_of(limited)["code"] == "TOO_MANY_REQUESTS"
    assert int(limited.headers["Retry-After"]) >= 1


# The half-done login, over JSON.


def waiting_client(app: Any) -> Any:
    client = app.test_client()
    assert error_of(client.post("/api/users/login", json=LOGIN))["code"] == "SECOND_FACTOR_REQUIRED"
    return client


def test_the_waiting_login_finishes_with_a_code_once(factors_app: Any, secret: str) -> None:
    client = waiting_client(factors_app)
    now = pyotp.TOTP(secret).now()
    r = json_with_csrf(client, "POST", "/api/users/login/second-factor", {"code": now, "ttl": 60})
    assert r.status_code == 200 and r.get_json()["ttl"] == 60
    with client.session_transaction() as session:
        assert "registration_second_factor" not in session  # used up
    again = json_with_csrf(client, "POST", "/api/users/login/second-factor", {"code": now})
    assert again.status_code == 401 and error_of(again)["code"] == "LOGIN_NOT_WAITING"


def test_the_waiting_login_expires(factors_app: Any, secret: str) -> None:
    client = waiting_client(factors_app)
    with client.session_transaction() as session:  # begun 301 seconds ago (the limit: 300)
        session["registration_second_factor"] = {
            **session["registration_second_factor"],
            "at": session["registration_second_factor"]["at"] - 301,
        }
    r = json_with_csrf(client, "POST", "/api/users/login/second-factor", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 401 and error_of(r)["code"] == "LOGIN_NOT_WAITING"


def test_logout_or_a_new_stamp_ends_the_waiting_login(factors_app: Any, secret: str) -> None:
    client = waiting_client(factors_app)
    assert json_with_csrf(client, "POST", "/api/users/logout").status_code == 204
    r = json_with_csrf(client, "POST", "/api/users/login/second-factor", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 401 and error_of(r)["code"] == "LOGIN_NOT_WAITING"

    client = waiting_client(factors_app)
    with factors_app.app_context():  # "log out everywhere", or a new password, elsewhere
        state = get_state()
        assert state.store.rotate_stamp(state.store.get(1))
        state.store.save()
    r = json_with_csrf(client, "POST", "/api/users/login/second-factor", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 401 and error_of(r)["code"] == "LOGIN_NOT_WAITING"


def test_no_waiting_login_means_no_second_factor_step(factors_app: Any, secret: str) -> None:
    client = factors_app.test_client()
    r = client.post("/api/users/login/second-factor", json={"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 401 and error_of(r)["code"] == "LOGIN_NOT_WAITING"
    r = client.post("/api/users/login/passkey/options", json={"secondFactor": True})
    assert r.status_code == 401 and error_of(r)["code"] == "LOGIN_NOT_WAITING"


# Passkeys.


def test_a_passkey_finishes_the_waiting_login(factors_app: Any, passkey: SoftAuthenticator) -> None:
    client = waiting_client(factors_app)
    options = json_with_csrf(client, "POST", "/api/users/login/passkey/options", {"secondFactor": True})
    assert options.status_code == 200
    body = options.get_json()
    assert body["userVerification"] == "preferred"
    assert [c["id"] for c in body["allowCredentials"]] == [passkey.b64(passkey.credential_id)]
    before = tokens(factors_app)
    r = json_with_csrf(client, "POST", "/api/users/login/passkey", {"credential": passkey.get(body), "ttl": 120})
    assert r.status_code == 200 and r.get_json()["ttl"] == 120
    assert tokens(factors_app) == before + 1
    assert client.get("/api/users/me").get_json()["email"] == "ada@example.com"


def test_a_passkey_alone_logs_in_without_an_address(factors_app: Any, passkey: SoftAuthenticator) -> None:
    client = factors_app.test_client()
    options = client.post("/api/users/login/passkey/options", json={}).get_json()  # no cookie yet: no CSRF
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    logged: list[Any] = []
    with signals.passkey_logged_in.connected_to(lambda _s, **kw: logged.append(kw["passkey"].name), factors_app):
        r = passkey_login(client, passkey)
    assert r.status_code == 200 and r.get_json()["user"]["email"] == "ada@example.com" and "id" in r.get_json()
    assert logged == ["Laptop"]
    assert client.get("/api/users/me").status_code == 200


def test_a_passkey_alone_needs_user_verification(factors_app: Any, passkey: SoftAuthenticator) -> None:
    client = factors_app.test_client()
    r = passkey_login(client, passkey, flags=0x01)  # user present, not verified
    assert r.status_code == 400 and error_of(r)["code"] == "PASSKEY_INVALID"
    assert client.get("/api/users/me").status_code == 401


def test_an_unknown_passkey_or_a_replayed_answer_logs_nobody_in(factors_app: Any, passkey: SoftAuthenticator) -> None:
    client = factors_app.test_client()
    r = passkey_login(client, SoftAuthenticator())
    assert r.status_code == 400 and error_of(r)["code"] == "PASSKEY_UNKNOWN"
    options = json_with_csrf(client, "POST", "/api/users/login/passkey/options", {}).get_json()
    answer = passkey.get(options)
    assert json_with_csrf(client, "POST", "/api/users/login/passkey", {"credential": answer}).status_code == 200
    other = factors_app.test_client()
    json_with_csrf(other, "POST", "/api/users/login/passkey/options", {})
    r = json_with_csrf(other, "POST", "/api/users/login/passkey", {"credential": answer})
    assert r.status_code == 400 and error_of(r)["code"] in ("PASSKEY_INVALID", "PASSKEY_REPLAYED")


def test_a_disabled_account_cannot_log_in_with_a_passkey(factors_app: Any, passkey: SoftAuthenticator) -> None:
    with factors_app.app_context():
        from flask_registration.models import utcnow

        user = get_state().store.get(1)
        assert user is not None
        user.deleted_at = utcnow()
        db.session.commit()
    r = passkey_login(factors_app.test_client(), passkey)
    assert r.status_code == 401 and error_of(r)["code"] == "ACCOUNT_PENDING_DELETION"


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/users/login", {**LOGIN, "code": 123456}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/second-factor", {}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/second-factor", {"code": "123456", "extra": 1}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/second-factor", [], 422, "INVALID_BODY"),
        ("/api/users/login/passkey/options", {"secondFactor": "yes"}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/passkey", {}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/passkey", {"credential": "text"}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/passkey", {"credential": {}, "ttl": -1}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/passkey", {"credential": {}, "remember": "yes"}, 422, "VALIDATION_ERROR"),
        ("/api/users/login/passkey", {"credential": {}}, 400, "PASSKEY_NO_CHALLENGE"),
        ("/api/users/login/passkey", {"credential": {"id": 5, "response": []}}, 400, "PASSKEY_NO_CHALLENGE"),
    ],
)
def test_bad_input_gets_a_clean_4xx(
    factors_app: Any, secret: str, path: str, body: Any, status: int, code: str
) -> None:
    r = factors_app.test_client().post(path, json=body)
    assert r.status_code == status and error_of(r)["code"] == code, r.data


def test_garbage_answers_to_a_waiting_challenge_get_a_clean_4xx(factors_app: Any, passkey: SoftAuthenticator) -> None:
    client = factors_app.test_client()
    options = client.post("/api/users/login/passkey/options", json={}).get_json()
    good = passkey.get(options)
    huge = {**good, "response": {**good["response"], "clientDataJSON": "A" * 20_000}}
    for answer in ({"id": 5}, {"rawId": "!!", "response": {}}, huge):
        json_with_csrf(client, "POST", "/api/users/login/passkey/options", {})
        r = json_with_csrf(client, "POST", "/api/users/login/passkey", {"credential": answer})
        assert r.status_code == 400 and error_of(r)["code"] in ("PASSKEY_INVALID", "PASSKEY_UNKNOWN"), r.data


def test_the_login_routes_are_in_the_apps_openapi_document(factors_app: Any) -> None:
    doc = factors_app.test_client().get("/api/users/openapi.json").get_json()
    routes = {
        (rule.rule, method.lower())
        for rule in factors_app.url_map.iter_rules()
        if rule.endpoint.startswith("registration_factors_login_api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert len(routes) == 6 and routes <= documented
    schemas = doc["components"]["schemas"]
    assert "code" in schemas["Login"]["properties"] and set(schemas["Login"]["required"]) == {"email", "password"}
    assert "401" in doc["paths"]["/api/users/login"]["post"]["responses"]
    assert {"LoginResult", "SecondFactorRequired", "PasskeyLogin"} <= set(schemas)
