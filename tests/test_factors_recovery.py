"""Recovery codes: ten single-use codes, shown once, stored as keyed digests; spending
one emails the owner (with a warning when few are left); a new set voids the old one;
and the operator's ``flask registration reset-factors``. Over the real SMTP server and
database."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from flask_registration import signals
from flask_registration.factors import FactorError, verify_second_factor
from flask_registration.state import get_state
from tests.helpers import (
    PASSWORD,
    add_user,
    api_login,
    csrf_token,
    forget_reauth,
    html_login_with_second_factor,
    json_with_csrf,
)
from tests.models import Factor, db


def error_code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


def check(app: Any, code: Any, uid: int = 1) -> str:
    with app.test_request_context("/", base_url="http://localhost"):
        return verify_second_factor(get_state().store.get(uid), code)


@pytest.fixture
def ada(factors_app: Any) -> Any:
    """A logged-in, recently re-authenticated client of ada@example.com."""
    add_user(factors_app)
    client = factors_app.test_client()
    api_login(client)
    return client


@pytest.fixture
def codes(factors_app: Any, ada: Any, mailbox: Any) -> list[str]:
    """Ada's recovery codes, made with her authenticator app."""
    secret = json_with_csrf(ada, "POST", "/api/users/me/totp").get_json()["secret"]
    r = json_with_csrf(ada, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 201
    mailbox.wait_for(1)
    mailbox.clear()
    return list(r.get_json()["recoveryCodes"])


def test_a_code_works_once_and_the_owner_is_told(factors_app: Any, codes: Any, mailbox: Any) -> None:
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    used: list[Any] = []
    with signals.recovery_code_used.connected_to(lambda sender, **kw: used.append(kw["left"]), factors_app):
        assert check(factors_app, codes[0]) == "recovery_code"
    assert used == [9]
    (notice,) = mailbox.wait_for(1)
    assert notice["Subject"] == "A recovery code was used on your account"
    text = mailbox.text(notice)
    assert "9 recovery codes are left" in text and "That is few" not in text
    with pytest.raises(FactorError) as again:
        check(factors_app, codes[0])
    assert (again.value.status, again.value.code) == (401, "SECOND_FACTOR_INVALID")


def test_codes_are_read_as_typed(factors_app: Any, codes: Any) -> None:
    assert check(factors_app, f"  {codes[1].upper().replace('-', ' ')} ") == "recovery_code"
    assert check(factors_app, codes[2].replace("-", "")) == "recovery_code"


def test_few_left_is_said_in_the_email(factors_app: Any, codes: Any, mailbox: Any) -> None:
    for code in codes[:7]:
        check(factors_app, code)
    last = mailbox.wait_for(7)[-1]
    assert "3 recovery codes are left" in mailbox.text(last) and "That is few" in mailbox.text(last)
    assert "That is few" in mailbox.html(last)


def test_codes_are_stored_as_digests_only(factors_app: Any, codes: Any) -> None:
    with factors_app.app_context():
        row = db.session.scalars(db.select(Factor).where(Factor.kind == "recovery_codes")).one()
        stored = row.data["digests"]
        assert len(stored) == 10 and all(re.fullmatch(r"[0-9a-f]{64}", d) for d in stored)
        text = str(row.data)
        assert not any(code.replace("-", "") in text or code in text for code in codes)


def test_codes_survive_a_secret_key_rotation(factors_app: Any, codes: Any) -> None:
    old = factors_app.config["SECRET_KEY"]
    factors_app.config.update(SECRET_KEY="a brand new secret key of the app", SECRET_KEY_FALLBACKS=[old])
    assert check(factors_app, codes[0]) == "recovery_code"
    factors_app.config.update(SECRET_KEY_FALLBACKS=[])
    with pytest.raises(FactorError):
        check(factors_app, codes[1])


def test_a_new_set_voids_the_old_one(factors_app: Any, ada: Any, codes: Any) -> None:
    forget_reauth(ada)
    r = json_with_csrf(ada, "POST", "/api/users/me/recovery-codes")
    assert r.status_code == 401 and error_code(r) == "REAUTHENTICATION_REQUIRED"
    assert json_with_csrf(ada, "POST", "/api/users/reauthenticate", {"password": PASSWORD}).status_code == 204
    r = json_with_csrf(ada, "POST", "/api/users/me/recovery-codes")
    assert r.status_code == 201
    fresh = r.get_json()["recoveryCodes"]
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    with pytest.raises(FactorError):
        check(factors_app, codes[0])
    assert check(factors_app, fresh[0]) == "recovery_code"


def test_codes_need_another_factor(factors_app: Any, ada: Any) -> None:
    r = json_with_csrf(ada, "POST", "/api/users/me/recovery-codes")
    assert r.status_code == 409 and error_code(r) == "NO_SECOND_FACTOR"
    r = json_with_csrf(ada, "DELETE", "/api/users/me/recovery-codes")
    assert r.status_code == 404 and error_code(r) == "FACTOR_NOT_FOUND"


def test_removing_the_codes_keeps_the_app(factors_app: Any, ada: Any, codes: Any, mailbox: Any) -> None:
    assert json_with_csrf(ada, "DELETE", "/api/users/me/recovery-codes").status_code == 204
    assert ada.get("/api/users/me/factors").get_json()["recoveryCodesLeft"] is None
    assert "Your recovery codes was removed" in mailbox.text(mailbox.wait_for(1)[0])
    with pytest.raises(FactorError):
        check(factors_app, codes[0])


def test_a_use_that_loses_a_race_changes_nothing(factors_app: Any, codes: Any) -> None:
    """Two requests with one code: the second one's conditional UPDATE finds the row
    changed, and its change is refused."""
    with factors_app.test_request_context("/"):
        store = get_state().factors.store  # type: ignore[union-attr]
        row = store.one(get_state().store.get(1), "recovery_codes")
        db.session.expunge(row)  # what the second request read, before the first one's change
        assert check(factors_app, codes[0]) == "recovery_code"
        assert store.update(row, {"digests": []}) is False
        fresh = store.one(get_state().store.get(1), "recovery_codes")
        assert fresh is not None and len(fresh.data["digests"]) == 9


def test_the_pages_show_new_codes_once(factors_app: Any, codes: Any) -> None:
    client = factors_app.test_client()
    assert html_login_with_second_factor(client, code=codes[0]).status_code == 302
    page = client.get("/account/security").get_data(as_text=True)
    assert "You have 9 unused recovery codes" in page
    r = client.post("/account/security/recovery-codes", data={"csrf_token": csrf_token(page)})
    assert r.status_code == 200
    shown = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", r.get_data(as_text=True))
    assert len(shown) == 10 and "will not be shown again" in r.get_data(as_text=True)
    assert not any(code in client.get("/account/security").get_data(as_text=True) for code in shown)


# The operator's command.


def test_reset_factors_asks_then_removes_everything_and_tells_the_owner(
    factors_app: Any, codes: Any, mailbox: Any, caplog: Any
) -> None:
    runner = factors_app.test_cli_runner()
    r = runner.invoke(args=["registration", "reset-factors", "ada@example.com"], input="n\n")
    assert r.exit_code == 1 and "Remove the 2 second factor(s) of ada@example.com?" in r.output
    with factors_app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Factor)) == 2
    with caplog.at_level("WARNING", logger="flask_registration"):
        r = runner.invoke(args=["registration", "reset-factors", "ada@example.com"], input="y\n")
    assert r.exit_code == 0, r.output
    assert "Removed 2 second factors of ada@example.com" in r.output
    assert "An operator removed every second factor of user 1 (2)." in caplog.text
    with factors_app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Factor)) == 0
    (notice,) = mailbox.wait_for(1)
    assert "An authenticator app, Your recovery codes were removed" in mailbox.text(notice)
    r = runner.invoke(args=["registration", "reset-factors", "ada@example.com", "--yes"])
    assert r.exit_code == 0 and "has no second factor" in r.output
    r = runner.invoke(args=["registration", "reset-factors", "nobody@example.com", "--yes"])
    assert r.exit_code == 1 and "No account uses nobody@example.com" in r.output


def test_reset_factors_without_a_factor_model(app: Any) -> None:
    r = app.test_cli_runner().invoke(args=["registration", "reset-factors", "ada@example.com", "--yes"])
    assert r.exit_code == 1 and "no factor model" in r.output
