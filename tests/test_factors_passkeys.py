"""Passkeys over the JSON API and the verification functions, without a browser: a
software authenticator (an EC P-256 key, CBOR by hand: ``tests.helpers.SoftAuthenticator``)
answers WebAuthn's options. Every forged, replayed or misdirected answer gets a clean
4xx with a stable code, and changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flask_registration.factors import FactorError, finish_passkey_login, passkey_login_options
from flask_registration.factors.passkeys import CEREMONY_KEY
from flask_registration.state import get_state
from tests.helpers import (
    SoftAuthenticator,
    add_passkey,
    add_user,
    api_login,
    forget_reauth,
    json_with_csrf,
)
from tests.models import Factor, db


def passkeys_of(app: Any) -> list[tuple[str | None, int]]:
    with app.app_context():
        rows = db.session.scalars(db.select(Factor).where(Factor.kind == "passkey").order_by(Factor.id)).all()
        return [(row.name, row.user_id) for row in rows]


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


@pytest.fixture
def ada(factors_app: Any) -> Any:
    """A logged-in, recently re-authenticated client of ada@example.com."""
    add_user(factors_app)
    client = factors_app.test_client()
    api_login(client)
    return client


def test_add_list_rename_and_remove_a_passkey(factors_app: Any, ada: Any, mailbox: Any) -> None:
    r = add_passkey(ada, SoftAuthenticator(), name="  My   laptop ")
    assert r.status_code == 201, r.data
    body = r.get_json()
    assert body["name"] == "My laptop" and body["backedUp"] is False
    assert len(body["recoveryCodes"]) == 10 and len(set(body["recoveryCodes"])) == 10
    (added,) = mailbox.wait_for(1)
    assert added["Subject"] == "A second factor was added to your account"
    assert "A passkey named “My laptop” was added" in mailbox.text(added)
    assert "http://localhost/account/security" in mailbox.text(added)

    listed = ada.get("/api/users/me/passkeys")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.get_json()] == ["My laptop"]
    passkey_id = listed.get_json()[0]["id"]
    factors = ada.get("/api/users/me/factors").get_json()
    assert factors["recoveryCodesLeft"] == 10 and factors["totp"] is None
    assert "public_key" not in str(factors) and "credential" not in str(factors)

    r = json_with_csrf(ada, "PATCH", f"/api/users/me/passkeys/{passkey_id}", {"name": "Work laptop"})
    assert r.status_code == 200 and r.get_json()["name"] == "Work laptop"

    r = json_with_csrf(ada, "DELETE", f"/api/users/me/passkeys/{passkey_id}")
    assert r.status_code == 204
    assert passkeys_of(factors_app) == []
    # Alone, recovery codes are no second factor: they went with the last passkey.
    assert ada.get("/api/users/me/factors").get_json() == {"passkeys": [], "totp": None, "recoveryCodesLeft": None}
    removed = mailbox.wait_for(2)[1]
    assert removed["Subject"] == "A second factor was removed from your account"
    assert "A passkey named “Work laptop”, Your recovery codes were removed" in mailbox.text(removed)


def test_a_second_passkey_gets_no_new_codes_and_a_default_name(factors_app: Any, ada: Any) -> None:
    assert add_passkey(ada, SoftAuthenticator()).status_code == 201
    r = add_passkey(ada, SoftAuthenticator(), name=None)
    assert r.status_code == 201
    assert r.get_json()["recoveryCodes"] == [] and r.get_json()["name"] == "Passkey 2"


def test_adding_or_removing_needs_a_recent_reauthentication(factors_app: Any, ada: Any) -> None:
    assert add_passkey(ada, SoftAuthenticator()).status_code == 201
    (passkey,) = ada.get("/api/users/me/passkeys").get_json()
    forget_reauth(ada)
    r = json_with_csrf(ada, "POST", "/api/users/me/passkeys/options")
    assert r.status_code == 401 and error_code(r) == "REAUTHENTICATION_REQUIRED"
    r = json_with_csrf(ada, "DELETE", f"/api/users/me/passkeys/{passkey['id']}")
    assert r.status_code == 401 and error_code(r) == "REAUTHENTICATION_REQUIRED"
    # Renaming lets nobody in: no re-authentication needed.
    r = json_with_csrf(ada, "PATCH", f"/api/users/me/passkeys/{passkey['id']}", {"name": "Phone"})
    assert r.status_code == 200
    assert passkeys_of(factors_app) == [("Phone", 1)]


def test_an_access_token_alone_cannot_add_a_passkey(factors_app: Any) -> None:
    add_user(factors_app)
    token = api_login(factors_app.test_client())
    other = factors_app.test_client()  # no cookie: the token alone
    r = other.post("/api/users/me/passkeys/options", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and error_code(r) == "REAUTHENTICATION_REQUIRED"
    r = other.get("/api/users/me/passkeys", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.get_json() == []


def test_nobody_logged_in_gets_401(factors_app: Any) -> None:
    client = factors_app.test_client()
    r = client.get("/api/users/me/factors")
    assert r.status_code == 401 and error_code(r) == "AUTHORIZATION_REQUIRED"
    r = client.post("/api/users/me/passkeys/options")
    assert r.status_code == 401 and error_code(r) == "AUTHORIZATION_REQUIRED"


def registration_answer(client: Any, authenticator: SoftAuthenticator, **create: Any) -> dict[str, Any]:
    options = json_with_csrf(client, "POST", "/api/users/me/passkeys/options")
    assert options.status_code == 200
    return authenticator.create(options.get_json(), **create)


def post_answer(client: Any, answer: Any) -> Any:
    return json_with_csrf(client, "POST", "/api/users/me/passkeys", {"credential": answer, "name": "Key"})


@pytest.mark.parametrize(
    ("create", "code"),
    [
        ({"origin": "http://evil.example"}, "PASSKEY_WRONG_ORIGIN"),
        ({"origin": "http://localhost:8080"}, "PASSKEY_WRONG_ORIGIN"),
        ({"rp_id": "evil.example"}, "PASSKEY_WRONG_RP_ID"),
        ({"flags": 0x44}, "PASSKEY_INVALID"),  # no user presence
    ],
)
def test_a_registration_for_another_site_is_refused(factors_app: Any, ada: Any, create: Any, code: Any) -> None:
    r = post_answer(ada, registration_answer(ada, SoftAuthenticator(), **create))
    assert r.status_code == 400 and error_code(r) == code
    assert passkeys_of(factors_app) == []


def test_a_registration_answer_works_once(factors_app: Any, ada: Any) -> None:
    answer = registration_answer(ada, SoftAuthenticator())
    assert post_answer(ada, answer).status_code == 201
    r = post_answer(ada, answer)
    assert r.status_code == 400 and error_code(r) == "PASSKEY_NO_CHALLENGE"
    assert passkeys_of(factors_app) == [("Key", 1)]


def test_one_authenticator_cannot_be_registered_twice(factors_app: Any, ada: Any) -> None:
    authenticator = SoftAuthenticator()
    assert post_answer(ada, registration_answer(ada, authenticator)).status_code == 201
    r = post_answer(ada, registration_answer(ada, authenticator))
    assert r.status_code == 409 and error_code(r) == "PASSKEY_TAKEN"
    assert len(passkeys_of(factors_app)) == 1


def test_an_expired_registration_challenge_is_refused(factors_app: Any, ada: Any) -> None:
    answer = registration_answer(ada, SoftAuthenticator())
    within = factors_app.config["REGISTRATION_WEBAUTHN_CHALLENGE_WITHIN"].total_seconds()
    with ada.session_transaction() as session:
        state = session[CEREMONY_KEY]
        session[CEREMONY_KEY] = {**state, "at": state["at"] - int((within + 1) * 1e9)}
    r = post_answer(ada, answer)
    assert r.status_code == 400 and error_code(r) == "PASSKEY_CHALLENGE_EXPIRED"
    assert passkeys_of(factors_app) == []


@pytest.mark.parametrize(
    "answer",
    [
        "a string",
        {},
        {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
        {
            "id": "!!",
            "rawId": "!!",
            "type": "public-key",
            "response": {"clientDataJSON": "!!", "attestationObject": "!!"},
        },
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {"clientDataJSON": "e30", "attestationObject": "AA"},
        },
        {"id": "AA", "rawId": "AA", "type": "nope", "response": {"clientDataJSON": [], "attestationObject": 1}},
    ],
)
def test_garbage_answers_get_a_clean_4xx(factors_app: Any, ada: Any, answer: Any) -> None:
    registration_answer(ada, SoftAuthenticator())
    r = post_answer(ada, answer)
    assert r.status_code in (400, 422), r.data
    assert error_code(r) in ("PASSKEY_INVALID", "VALIDATION_ERROR")
    assert passkeys_of(factors_app) == []


def test_a_huge_client_data_json_is_refused(factors_app: Any, ada: Any) -> None:
    authenticator = SoftAuthenticator()
    answer = registration_answer(ada, authenticator)
    answer["response"]["clientDataJSON"] = "A" * 20_000
    r = post_answer(ada, answer)
    assert r.status_code == 400 and error_code(r) == "PASSKEY_INVALID"
    answer["response"]["clientDataJSON"] = "A" * 200_000  # over REGISTRATION_MAX_BODY_SIZE
    r = post_answer(ada, answer)
    assert r.status_code == 413 and error_code(r) == "PAYLOAD_TOO_LARGE"


# Checking a passkey (what the login step calls), in one request context: the session
# holds the challenge from the options to the answer.


@pytest.fixture
def registered(factors_app: Any, ada: Any) -> tuple[Any, SoftAuthenticator, int]:
    """Ada's passkey (the authenticator) and her id."""
    authenticator = SoftAuthenticator()
    assert add_passkey(ada, authenticator).status_code == 201
    return factors_app, authenticator, 1


def check(app: Any, uid: int | None, make_answer: Any, *, between: Any = None) -> Any:
    """Ask for options (for user ``uid``, or a discoverable login), answer them with
    ``make_answer(options)``; return the user id, passkey id and name
    :func:`finish_passkey_login` found."""
    with app.test_request_context("/", base_url="http://localhost"):
        user = get_state().store.get(uid) if uid is not None else None
        options = passkey_login_options(user)
        if between is not None:
            between(options)
        owner, passkey = finish_passkey_login(make_answer(options), user)
        return owner.id, passkey.id, passkey.name


def test_a_passkey_checks_as_a_second_factor_and_as_a_discoverable_login(registered: Any) -> None:
    app, authenticator, uid = registered
    user_id, passkey_id, name = check(app, uid, authenticator.get)
    assert user_id == uid and name == "Laptop"
    user_id, _, _ = check(app, None, authenticator.get)  # no user named: the passkey says who
    assert user_id == uid
    with app.app_context():
        row = db.session.get(Factor, passkey_id)
        assert row is not None
        assert row.data["sign_count"] == 2 and row.last_used_at is not None


def test_a_discoverable_login_needs_user_verification(registered: Any) -> None:
    app, authenticator, uid = registered
    with pytest.raises(FactorError) as refused:
        check(app, None, lambda options: authenticator.get(options, flags=0x01))
    assert getattr(refused.value, "code", None) == "PASSKEY_INVALID"
    user_id, _, _ = check(app, uid, lambda options: authenticator.get(options, flags=0x01))  # 2nd factor: presence
    assert user_id == uid


def refusal(app: Any, uid: int | None, make_answer: Any, **kw: Any) -> tuple[int, str]:
    from flask_registration import RegistrationError

    with pytest.raises(RegistrationError) as refused:
        check(app, uid, make_answer, **kw)
    return refused.value.status, refused.value.code


def test_a_forged_signature_is_refused(registered: Any) -> None:
    app, authenticator, uid = registered
    forger = SoftAuthenticator()
    forger.credential_id, forger.user_handle = authenticator.credential_id, authenticator.user_handle
    assert refusal(app, uid, forger.get) == (400, "PASSKEY_INVALID")


def test_a_replayed_assertion_is_refused_even_with_an_old_session(registered: Any) -> None:
    app, authenticator, uid = registered
    with app.test_request_context("/", base_url="http://localhost"):
        from flask import session

        user = get_state().store.get(uid)
        options = passkey_login_options(user)
        saved = dict(session[CEREMONY_KEY])  # a copy of the cookie, challenge and all
        answer = authenticator.get(options)
        finish_passkey_login(answer, user)
        with pytest.raises(FactorError) as again:
            finish_passkey_login(answer, user)  # the challenge is gone
        assert getattr(again.value, "code", None) == "PASSKEY_NO_CHALLENGE"
        session[CEREMONY_KEY] = saved  # the old cookie comes back with the same answer
        with pytest.raises(FactorError) as replayed:
            finish_passkey_login(answer, user)
        assert getattr(replayed.value, "code", None) == "PASSKEY_REPLAYED"


def test_a_sign_counter_that_goes_back_is_refused(registered: Any) -> None:
    app, authenticator, uid = registered
    check(app, uid, authenticator.get)
    authenticator.sign_count = 0
    assert refusal(app, uid, authenticator.get) == (400, "PASSKEY_INVALID")


@pytest.mark.parametrize(
    ("answer_kw", "code"),
    [
        ({"origin": "http://evil.example"}, "PASSKEY_WRONG_ORIGIN"),
        ({"rp_id": "evil.example"}, "PASSKEY_WRONG_RP_ID"),
        ({"client_data": b'{"type": "webauthn.create"}'}, "PASSKEY_INVALID"),
        ({"client_data": b"x" * 50_000}, "PASSKEY_INVALID"),
    ],
)
def test_an_answer_for_another_site_or_purpose_is_refused(registered: Any, answer_kw: Any, code: Any) -> None:
    app, authenticator, uid = registered
    assert refusal(app, uid, lambda options: authenticator.get(options, **answer_kw)) == (400, code)


def test_an_expired_authentication_challenge_is_refused(registered: Any) -> None:
    app, authenticator, uid = registered
    within = app.config["REGISTRATION_WEBAUTHN_CHALLENGE_WITHIN"].total_seconds()

    def age(_options: Any) -> None:
        from flask import session

        session[CEREMONY_KEY]["at"] -= int((within + 1) * 1e9)

    assert refusal(app, uid, authenticator.get, between=age) == (400, "PASSKEY_CHALLENGE_EXPIRED")


def test_another_users_passkey_does_not_check_for_this_user(registered: Any) -> None:
    app, authenticator, _uid = registered
    bob = add_user(app, "bob@example.com")
    client = app.test_client()
    api_login(client, "bob@example.com")
    bobs = SoftAuthenticator()
    assert add_passkey(client, bobs).status_code == 201
    # Bob's options, Ada's passkey: refused, as an unknown one would be.
    assert refusal(app, bob, authenticator.get) == (400, "PASSKEY_UNKNOWN")
    # A passkey nobody registered.
    assert refusal(app, None, SoftAuthenticator().get) == (400, "PASSKEY_UNKNOWN")


def test_an_account_without_passkeys_gets_no_options(factors_app: Any) -> None:
    uid = add_user(factors_app)
    with factors_app.test_request_context("/", base_url="http://localhost"):
        from flask_registration.factors import FactorError

        with pytest.raises(FactorError) as refused:
            passkey_login_options(get_state().store.get(uid))
        assert refused.value.code == "PASSKEY_UNKNOWN"


def test_deleting_the_user_deletes_the_passkeys(registered: Any) -> None:
    app, _authenticator, uid = registered
    with app.app_context():
        state = get_state()
        state.store.delete_user(state.store.get(uid))
    assert passkeys_of(app) == []


@pytest.mark.app_config(
    REGISTRATION_WEBAUTHN_ORIGINS=["https://app.example.com"], REGISTRATION_WEBAUTHN_RP_ID="example.com"
)
def test_configured_origins_and_rp_id_are_what_counts(factors_app: Any, ada: Any) -> None:
    options = json_with_csrf(ada, "POST", "/api/users/me/passkeys/options").get_json()
    assert options["rp"]["id"] == "example.com"
    authenticator = SoftAuthenticator(origin="https://app.example.com", rp_id="example.com")
    r = post_answer(ada, authenticator.create(options))
    assert r.status_code == 201
    r = post_answer(ada, registration_answer(ada, SoftAuthenticator()))  # the request's own origin no longer counts
    assert r.status_code == 400 and error_code(r) == "PASSKEY_WRONG_ORIGIN"


def test_settings_that_cannot_work_are_refused_at_init_app(database_url: Any, mailbox: Any) -> None:
    from tests.conftest import factors_app_for

    base = {"SQLALCHEMY_DATABASE_URI": database_url}
    for bad in (
        {"REGISTRATION_WEBAUTHN_ORIGINS": ["example.com"]},
        {"REGISTRATION_WEBAUTHN_ORIGINS": ["https://example.com/path"]},
        {"REGISTRATION_WEBAUTHN_RP_ID": "https://example.com"},
        {"REGISTRATION_WEBAUTHN_RP_ID": "example.com", "REGISTRATION_WEBAUTHN_ORIGINS": ["https://example.org"]},
    ):
        with pytest.raises(RuntimeError, match="REGISTRATION_WEBAUTHN"):
            with factors_app_for({**base, **bad}):
                pass


def test_every_factor_route_is_in_the_apps_openapi_document(factors_app: Any, app: Any) -> None:
    doc = factors_app.test_client().get("/api/users/openapi.json").get_json()
    routes = {
        (re.sub(r"<(\w+)>", r"{id}", rule.rule), method.lower())
        for rule in factors_app.url_map.iter_rules()
        if rule.endpoint.startswith("registration_factors_api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes and routes <= documented
    schemas = doc["components"]["schemas"]
    assert {"Passkey", "Factors", "TotpSetup", "RecoveryCodes"} <= set(schemas)
    # An app without a factor model documents none of them.
    plain = app.test_client().get("/api/users/openapi.json").get_json()
    assert not any("passkeys" in path or "totp" in path for path in plain["paths"])


# The security page's forms (the browser test drives the script; these, the refusals).


def test_the_pages_forms_rename_refuse_and_send_to_reauthenticate(factors_app: Any, ada: Any) -> None:
    from tests.helpers import csrf_token, html_login_with_second_factor

    authenticator = SoftAuthenticator()
    assert add_passkey(ada, authenticator).status_code == 201
    client = factors_app.test_client()
    assert html_login_with_second_factor(client, authenticator=authenticator).status_code == 302
    page = client.get("/account/security").get_data(as_text=True)
    token = csrf_token(page)
    assert 'aria-label="Remove passkey Laptop"' in page and "add-passkey-form" in page

    r = client.post("/account/security/passkeys/1/rename", data={"csrf_token": token, "name": "Desk"})
    assert r.status_code == 302 and passkeys_of(factors_app) == [("Desk", 1)]
    r = client.post("/account/security/passkeys/1/rename", data={"csrf_token": token, "name": "x" * 65})
    assert r.status_code == 422 and "at most 64 characters" in r.get_data(as_text=True)
    r = client.post("/account/security/passkeys/9/rename", data={"csrf_token": token, "name": "Mine"})
    assert r.status_code == 404

    r = client.post("/account/security/passkeys", data={"csrf_token": token, "name": "New", "credential": ""})
    assert r.status_code == 400 and "No passkey answer came with the form" in r.get_data(as_text=True)
    r = client.post("/account/security/passkeys", data={"csrf_token": token, "credential": "{not json"})
    assert r.status_code == 400 and "could not be read" in r.get_data(as_text=True)
    r = client.post("/account/security/1/remove", data={})  # no CSRF token
    assert r.status_code == 400 and passkeys_of(factors_app) == [("Desk", 1)]

    forget_reauth(client)
    r = client.post("/account/security/1/remove", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].startswith("/reauthenticate?next=")
    assert passkeys_of(factors_app) == [("Desk", 1)]
