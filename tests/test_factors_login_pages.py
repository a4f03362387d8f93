"""The second-factor page of the HTML login: after the right password, a code from the
authenticator app (computed by pyotp from the secret), a recovery code or a passkey; the
``next`` path kept and checked; "trust this browser" (off by default; a signed cookie
that a change of factors revokes); a provider login asks for the second factor too.
Over the real SMTP server and database."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import pyotp
import pytest

from flask_registration import signals
from flask_registration.state import get_state
from tests.helpers import (
    PASSWORD,
    SoftAuthenticator,
    add_passkey,
    add_user,
    api_login,
    csrf_token,
    forget_totp_step,
    hidden,
    html_login_with_second_factor,
    inputs,
    json_with_csrf,
    pass_second_factor,
)

TRUSTED = "registration_trusted_browser"


def enrol(app: Any) -> tuple[str, list[str]]:
    """Ada with the authenticator app (set up in a session of its own): its secret and
    recovery codes. The step used to set it up is forgotten, so the tests may use it."""
    add_user(app)
    client = app.test_client()
    api_login(client)
    secret = str(json_with_csrf(client, "POST", "/api/users/me/totp").get_json()["secret"])
    r = json_with_csrf(client, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 201
    forget_totp_step(app)  # the enrolment used this time step
    return secret, list(r.get_json()["recoveryCodes"])


def password_step(client: Any, next_url: str = "") -> Any:
    data = {**hidden(client, "/login" + (f"?next={next_url}" if next_url else "")), "email": "ada@example.com"}
    return client.post("/login", data={**data, "password": PASSWORD})


def logged_in(client: Any) -> bool:
    return bool(client.get("/account").status_code == 200)


def test_the_password_leads_to_the_second_factor_page(factors_app: Any) -> None:
    secret, _codes = enrol(factors_app)
    client = factors_app.test_client()
    r = password_step(client)
    assert r.status_code == 302 and r.headers["Location"] == "/login/second-factor"
    assert not logged_in(client)
    page = client.get("/login/second-factor").get_data(as_text=True)
    fields = inputs(page)
    assert '<label for="code">Code</label>' in page and fields["code"]["autocomplete"] == "one-time-code"
    assert "or one of your recovery codes" in page
    assert "trust" not in fields  # off by default
    assert "Use a passkey" not in page  # the account has none

    r = pass_second_factor(client, code=pyotp.TOTP(secret).now())
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert logged_in(client)


def test_a_wrong_code_shows_the_page_again_and_the_login_still_waits(factors_app: Any) -> None:
    secret, _codes = enrol(factors_app)
    client = factors_app.test_client()
    password_step(client)
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    failed: list[Any] = []
    with signals.second_factor_failed.connected_to(lambda _s, **kw: failed.append(kw["code"]), factors_app):
        r = pass_second_factor(client, code=wrong)
    assert r.status_code == 401 and "That code is not right" in r.get_data(as_text=True)
    assert 'aria-invalid="true"' in r.get_data(as_text=True) and failed == ["SECOND_FACTOR_INVALID"]
    r = pass_second_factor(client, code="")
    assert r.status_code == 422 and "Enter the code." in r.get_data(as_text=True)
    r = client.post("/login/second-factor", data={"code": pyotp.TOTP(secret).now()})  # no CSRF token
    assert r.status_code == 422 and not logged_in(client)
    assert pass_second_factor(client, code=pyotp.TOTP(secret).now()).status_code == 302
    assert logged_in(client)


def test_a_recovery_code_works_on_the_page(factors_app: Any, mailbox: Any) -> None:
    _secret, codes = enrol(factors_app)
    mailbox.wait_for(1)
    mailbox.clear()
    client = factors_app.test_client()
    r = html_login_with_second_factor(client, code=codes[0].replace("-", " "))
    assert r.status_code == 302 and logged_in(client)
    (notice,) = mailbox.wait_for(1)
    assert notice["Subject"] == "A recovery code was used on your account"


def test_next_is_kept_and_checked(factors_app: Any) -> None:
    secret, _codes = enrol(factors_app)
    client = factors_app.test_client()
    r = password_step(client, "/account/security")
    assert r.headers["Location"] == "/login/second-factor?next=%2Faccount%2Fsecurity"
    r = pass_second_factor(client, code=pyotp.TOTP(secret).now(), next_url="%2Faccount%2Fsecurity")
    assert r.status_code == 302 and r.headers["Location"] == "/account/security"

    client = factors_app.test_client()
    r = password_step(client, "//evil.example/")
    assert r.headers["Location"] == "/login/second-factor"  # dropped at once
    forget_totp_step(factors_app)
    r = pass_second_factor(client, code=pyotp.TOTP(secret).now(), next_url="//evil.example/")
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_without_a_waiting_login_the_page_sends_to_the_login(factors_app: Any) -> None:
    client = factors_app.test_client()
    r = client.get("/login/second-factor")
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert "That login took too long" in client.get("/login").get_data(as_text=True)


def test_the_passkey_button_finishes_the_login(factors_app: Any) -> None:
    add_user(factors_app)
    owner = factors_app.test_client()
    api_login(owner)
    authenticator = SoftAuthenticator()
    assert add_passkey(owner, authenticator).status_code == 201
    client = factors_app.test_client()
    password_step(client)
    page = client.get("/login/second-factor").get_data(as_text=True)
    assert ">Use a passkey</button>" in page and "passkeys.js" in page
    assert pass_second_factor(client, authenticator=authenticator).status_code == 302
    assert logged_in(client)


def test_the_login_page_offers_passkeys(factors_app: Any, app: Any) -> None:
    page = factors_app.test_client().get("/login").get_data(as_text=True)
    assert inputs(page)["email"]["autocomplete"] == "username webauthn"
    assert ">Log in with a passkey</button>" in page and 'data-conditional="on"' in page
    plain = app.test_client().get("/login").get_data(as_text=True)  # no factor model: none of it
    assert "passkey" not in plain and inputs(plain)["email"]["autocomplete"] == "email"


# Trust this browser.


def trusted_cookie(response: Any) -> SimpleCookie:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(TRUSTED + "=")]
    assert len(headers) == 1, headers
    return SimpleCookie(headers[0])


@pytest.mark.app_config(REGISTRATION_TRUST_BROWSER_WITHIN=timedelta(days=30))
def test_a_trusted_browser_skips_the_step_until_the_factors_change(factors_app: Any) -> None:
    secret, _codes = enrol(factors_app)
    client = factors_app.test_client()
    password_step(client)
    page = client.get("/login/second-factor").get_data(as_text=True)
    assert "Trust this browser for 30 days" in page
    trusted: list[Any] = []
    with signals.browser_trusted.connected_to(lambda _s, **kw: trusted.append(kw["user"].id), factors_app):
        r = pass_second_factor(client, code=pyotp.TOTP(secret).now(), trust=True)
    assert r.status_code == 302 and trusted == [1]
    morsel = trusted_cookie(r)[TRUSTED]
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Lax"
    assert morsel["max-age"] == str(30 * 24 * 3600) and morsel["path"] == "/"
    assert "ada" not in morsel.value

    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").data)})
    assert not logged_in(client)
    r = password_step(client)
    assert r.headers["Location"] == "/login/second-factor"
    r = client.get("/login/second-factor")  # the cookie stands in for the code
    assert r.status_code == 302 and r.headers["Location"] == "/" and logged_in(client)

    # New recovery codes change the account's factors: the browser is not trusted any more.
    assert json_with_csrf(client, "POST", "/api/users/me/recovery-codes").status_code == 201
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/account").data)})
    password_step(client)
    assert client.get("/login/second-factor").status_code == 200


@pytest.mark.app_config(REGISTRATION_TRUST_BROWSER_WITHIN=timedelta(days=30))
def test_another_browser_or_a_new_password_is_not_trusted(factors_app: Any) -> None:
    secret, _codes = enrol(factors_app)
    client = factors_app.test_client()
    password_step(client)
    r = pass_second_factor(client, code=pyotp.TOTP(secret).now(), trust=True)
    value = trusted_cookie(r)[TRUSTED].value

    other = factors_app.test_client()  # the cookie of another account's browser, or forged
    password_step(other)
    other.set_cookie(TRUSTED, value[:-2] + ("aa" if not value.endswith("aa") else "bb"), domain="localhost")
    assert other.get("/login/second-factor").status_code == 200

    with factors_app.app_context():  # a new stamp: a password change, "log out everywhere"
        state = get_state()
        assert state.store.rotate_stamp(state.store.get(1))
        state.store.save()
    fresh = factors_app.test_client()
    fresh.set_cookie(TRUSTED, value, domain="localhost")
    password_step(fresh)
    assert fresh.get("/login/second-factor").status_code == 200


def test_without_the_setting_no_browser_is_trusted(factors_app: Any) -> None:
    secret, _codes = enrol(factors_app)
    client = factors_app.test_client()
    password_step(client)
    r = pass_second_factor(client, code=pyotp.TOTP(secret).now(), trust=True)
    assert r.status_code == 302
    assert not [h for h in r.headers.getlist("Set-Cookie") if h.startswith(TRUSTED)]


@pytest.mark.app_config(
    REGISTRATION_RATE_LIMITS_ENABLED=True, REGISTRATION_RATE_LIMITS={"second_factor_per_email": "2 per 5 minutes"}
)
def test_the_page_answers_429_once_the_account_has_had_too_many_wrong_codes(factors_app: Any) -> None:
    secret, _codes = enrol(factors_app)
    client = factors_app.test_client()
    password_step(client)
    wrong = str((int(pyotp.TOTP(secret).now()) + 1) % 1_000_000).zfill(6)
    assert pass_second_factor(client, code=wrong).status_code == 401
    assert pass_second_factor(client, code=wrong).status_code == 401
    r = pass_second_factor(client, code=pyotp.TOTP(secret).now())
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert not logged_in(client)


def test_a_before_login_hook_refuses_before_the_second_factor_is_asked(factors_app: Any) -> None:
    from flask_registration import ValidationError

    enrol(factors_app)
    asked: list[Any] = []

    @factors_app.extensions["registration"].extension.before_login
    def closed(user: Any, data: Any) -> None:
        raise ValidationError("Logins are closed today.", field="email", field_code="closed")

    with signals.second_factor_required.connected_to(lambda _s, **kw: asked.append(kw), factors_app):
        r = factors_app.test_client().post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 422 and r.get_json()["error"]["details"]["codes"] == {"email": ["closed"]}
    assert asked == []
