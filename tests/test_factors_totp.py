"""The authenticator app (TOTP): enrolment over the JSON API and the HTML pages (the
secret as text and as an SVG QR code, confirmed by a first code computed with pyotp),
checking a code (reuse refused, wrong codes counted per account), removal; hooks,
signals and emails. Over the real SMTP server and database."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from flask_registration import RateLimited, ValidationError, signals
from flask_registration.factors import FactorError, verify_second_factor
from flask_registration.state import get_state
from tests.helpers import PASSWORD, add_user, api_login, csrf_token, forget_reauth, html_login, json_with_csrf
from tests.models import Factor, db


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


def kinds(app: Any) -> list[str]:
    with app.app_context():
        return sorted(row.kind for row in db.session.scalars(db.select(Factor)))


@pytest.fixture
def ada(factors_app: Any) -> Any:
    """A logged-in, recently re-authenticated client of ada@example.com."""
    add_user(factors_app)
    client = factors_app.test_client()
    api_login(client)
    return client


def enrol(client: Any) -> str:
    """Turn the authenticator app on over the JSON API; return its secret."""
    r = json_with_csrf(client, "POST", "/api/users/me/totp")
    assert r.status_code == 200, r.data
    secret = r.get_json()["secret"]
    r = json_with_csrf(client, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 201, r.data
    return str(secret)


def check(app: Any, code: Any, uid: int = 1) -> str:
    """:func:`verify_second_factor` for user ``uid``, in a request."""
    with app.test_request_context("/", base_url="http://localhost"):
        return verify_second_factor(get_state().store.get(uid), code)


def test_enrol_over_the_api(factors_app: Any, ada: Any, mailbox: Any) -> None:
    r = json_with_csrf(ada, "POST", "/api/users/me/totp")
    assert r.status_code == 200
    body = r.get_json()
    assert re.fullmatch(r"[A-Z2-7]{32}", body["secret"])
    assert body["uri"] == f"otpauth://totp/localhost:ada%40example.com?secret={body['secret']}&issuer=localhost"
    assert body["qrSvg"].startswith("<svg") and "<path" in body["qrSvg"]
    assert kinds(factors_app) == []  # nothing saved before the first code
    with ada.session_transaction() as session:  # the cookie holds a seed, not the secret
        assert body["secret"] not in str(dict(session)) and "seed" in session["registration_totp_pending"]

    r = json_with_csrf(ada, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(body["secret"]).now()})
    assert r.status_code == 201
    assert len(r.get_json()["recoveryCodes"]) == 10
    assert kinds(factors_app) == ["recovery_codes", "totp"]
    (added,) = mailbox.wait_for(1)
    assert added["Subject"] == "A second factor was added to your account"
    assert "An authenticator app was added" in mailbox.text(added)
    assert ada.get("/api/users/me/factors").get_json()["totp"]["id"] == 1


def test_a_wrong_first_code_adds_nothing(factors_app: Any, ada: Any) -> None:
    secret = json_with_csrf(ada, "POST", "/api/users/me/totp").get_json()["secret"]
    wrong = str((int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000).zfill(6)
    for code in (wrong, "12345", "abcdef", " "):
        r = json_with_csrf(ada, "POST", "/api/users/me/totp/confirm", {"code": code})
        assert r.status_code == 422 and error_code(r) == "VALIDATION_ERROR"
        assert "code" in r.get_json()["error"]["details"]["codes"]
    assert kinds(factors_app) == []


def test_confirm_without_a_setup_and_a_second_app(factors_app: Any, ada: Any) -> None:
    r = json_with_csrf(ada, "POST", "/api/users/me/totp/confirm", {"code": "123456"})
    assert r.status_code == 400 and error_code(r) == "TOTP_NOT_STARTED"
    enrol(ada)
    r = json_with_csrf(ada, "POST", "/api/users/me/totp")
    assert r.status_code == 409 and error_code(r) == "TOTP_ALREADY_ENABLED"


def test_enrolment_needs_a_recent_reauthentication(factors_app: Any, ada: Any) -> None:
    forget_reauth(ada)
    r = json_with_csrf(ada, "POST", "/api/users/me/totp")
    assert r.status_code == 401 and error_code(r) == "REAUTHENTICATION_REQUIRED"


def test_a_code_checks_once(factors_app: Any, ada: Any) -> None:
    secret = enrol(ada)
    totp = pyotp.TOTP(secret)
    # The enrolment used the current step: its code, and any earlier one, no longer work.
    with pytest.raises(FactorError) as reused:
        check(factors_app, totp.now())
    assert (reused.value.status, reused.value.code) == (401, "SECOND_FACTOR_REUSED")
    assert reused.value.fields["code"][0][0] == "invalid"
    # The next step's code (a phone a little ahead) works, once.
    ahead = totp.at(_now(), counter_offset=1)
    assert check(factors_app, ahead) == "totp"
    with pytest.raises(FactorError) as again:
        check(factors_app, ahead)
    assert again.value.code == "SECOND_FACTOR_REUSED"


def _now() -> Any:
    """Now, for pyotp to compute the codes of the steps around it (the app's check reads
    the same clock)."""
    import datetime

    return datetime.datetime.now(datetime.UTC)


def test_wrong_codes_and_no_code(factors_app: Any, ada: Any) -> None:
    enrol(ada)
    for code in ("000000x", "12 34", "not a code"):
        with pytest.raises(FactorError) as wrong:
            check(factors_app, code)
        assert (wrong.value.status, wrong.value.code) == (401, "SECOND_FACTOR_INVALID")
    with pytest.raises(ValidationError) as empty:
        check(factors_app, "")
    assert empty.value.status == 422 and "code" in empty.value.fields


def test_an_account_without_the_app_accepts_no_code(factors_app: Any) -> None:
    add_user(factors_app)
    with pytest.raises(FactorError) as refused:
        check(factors_app, "123456")
    assert refused.value.code == "SECOND_FACTOR_INVALID"


@pytest.mark.app_config(
    REGISTRATION_RATE_LIMITS_ENABLED=True,
    REGISTRATION_RATE_LIMITS={"second_factor_per_email": "3 per 5 minutes", "failed_login_per_email": None},
)
def test_wrong_codes_are_rate_limited_per_account(factors_app: Any, ada: Any) -> None:
    secret = enrol(ada)
    totp = pyotp.TOTP(secret)
    ahead = totp.at(_now(), counter_offset=1)
    wrong = str((int(ahead) + 500_000) % 1_000_000).zfill(6)
    for _ in range(3):
        with pytest.raises(FactorError):
            check(factors_app, wrong)
    with pytest.raises(RateLimited) as limited:
        check(factors_app, ahead)  # even the right code waits now
    assert limited.value.status == 429 and int(limited.value.headers()["Retry-After"]) >= 1


@pytest.mark.app_config(
    REGISTRATION_RATE_LIMITS_ENABLED=True, REGISTRATION_RATE_LIMITS={"second_factor_per_email": "2 per 5 minutes"}
)
def test_right_codes_do_not_count(factors_app: Any, ada: Any) -> None:
    secret = enrol(ada)
    totp = pyotp.TOTP(secret)
    ahead = totp.at(_now(), counter_offset=1)
    wrong = str((int(ahead) + 500_000) % 1_000_000).zfill(6)
    assert check(factors_app, ahead) == "totp"
    for _ in range(2):
        with pytest.raises(FactorError):
            check(factors_app, wrong)
    with pytest.raises(RateLimited):
        check(factors_app, wrong)


def test_remove_the_app(factors_app: Any, ada: Any, mailbox: Any) -> None:
    enrol(ada)
    mailbox.wait_for(1)
    forget_reauth(ada)
    r = json_with_csrf(ada, "DELETE", "/api/users/me/totp")
    assert r.status_code == 401 and error_code(r) == "REAUTHENTICATION_REQUIRED"
    assert json_with_csrf(ada, "POST", "/api/users/reauthenticate", {"password": PASSWORD}).status_code == 204
    r = json_with_csrf(ada, "DELETE", "/api/users/me/totp")
    assert r.status_code == 204
    assert kinds(factors_app) == []
    notice = mailbox.wait_for(2)[1]
    assert "An authenticator app, Your recovery codes were removed" in mailbox.text(notice)
    r = json_with_csrf(ada, "DELETE", "/api/users/me/totp")
    assert r.status_code == 404 and error_code(r) == "FACTOR_NOT_FOUND"


def test_hooks_can_refuse_and_signals_observe(factors_app: Any, ada: Any) -> None:
    registration = factors_app.extensions["registration"].extension
    seen: list[tuple[str, Any]] = []

    def refuse(user: Any, kind: str) -> None:
        seen.append(("before", kind))
        if len(seen) == 1:
            raise ValidationError("Not on this plan.", field="code", field_code="plan")

    registration.hooks.register("before_add_factor", refuse)
    registration.hooks.register("after_add_factor", lambda user, row: seen.append(("after", row.kind)))
    registration.hooks.register("after_remove_factor", lambda user, kind: seen.append(("removed", kind)))
    secret = json_with_csrf(ada, "POST", "/api/users/me/totp").get_json()["secret"]
    r = json_with_csrf(ada, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 422 and r.get_json()["error"]["details"]["messages"]["code"] == ["Not on this plan."]
    assert kinds(factors_app) == []
    added: list[Any] = []
    with signals.factor_added.connected_to(lambda sender, **kw: added.append(kw["kind"]), factors_app):
        r = json_with_csrf(ada, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 201
    assert added == ["totp"]
    assert json_with_csrf(ada, "DELETE", "/api/users/me/totp").status_code == 204
    assert seen == [("before", "totp"), ("before", "totp"), ("after", "totp"), ("removed", "totp")]


# The pages.


def test_the_setup_page_shows_the_secret_and_a_qr_code(factors_app: Any, mailbox: Any) -> None:
    add_user(factors_app)
    client = factors_app.test_client()
    html_login(client)
    account = client.get("/account").get_data(as_text=True)
    assert 'href="/account/security"' in account

    page = client.get("/account/security/totp")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    shown = re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert shown is not None
    secret = shown.group(1).replace(" ", "")
    assert "<svg" in html and 'aria-label="QR code to scan with your authenticator app"' in html
    assert client.get("/account/security/totp").get_data(as_text=True).count(secret[:4]) >= 1  # the same setup

    r = client.post("/account/security/totp", data={"csrf_token": csrf_token(html), "code": "000000x"})
    assert r.status_code == 422 and "That code is not right" in r.get_data(as_text=True)
    r = client.post("/account/security/totp", data={"csrf_token": csrf_token(html), "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 200
    text = r.get_data(as_text=True)
    assert (
        "Authenticator app added" in text
        and len(re.findall(r"<li><code>[a-z2-9]{5}-[a-z2-9]{5}</code></li>", text)) == 10
    )
    security = client.get("/account/security").get_data(as_text=True)
    assert "Remove the authenticator app" in security and "You have 10 unused recovery codes" in security


def test_without_a_recent_reauthentication_the_pages_send_to_reauthenticate(factors_app: Any) -> None:
    add_user(factors_app)
    client = factors_app.test_client()
    html_login(client)
    forget_reauth(client)
    r = client.get("/account/security/totp")
    assert r.status_code == 302 and r.headers["Location"].startswith("/reauthenticate?next=")
    page = client.get("/account/security").get_data(as_text=True)
    assert "confirm it is you" in page and "add-passkey-form" not in page


def test_the_security_page_needs_a_login(factors_app: Any) -> None:
    r = factors_app.test_client().get("/account/security")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
