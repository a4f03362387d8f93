"""Authenticator-app secrets are sealed at rest (AES-256-GCM, a key derived from
``SECRET_KEY``, bound to the account): a copy of the database does not hold them, a
sealed secret moved to another account does not open, ``SECRET_KEY_FALLBACKS`` open
those sealed before a rotation, and a secret stored in clear before sealing still
works; both are sealed with the current key at their next use. Real database, real
codes (pyotp)."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pyotp
import pytest
from flask import Flask

from flask_registration.factors import FactorError, verify_second_factor
from flask_registration.factors.models import TOTP
from flask_registration.factors.sealed import PREFIX, seal, unseal
from flask_registration.state import get_state
from tests.helpers import PASSWORD, add_user, api_login, json_with_csrf
from tests.models import Factor, db


def enrol(app: Flask, email: str = "ada@example.com") -> str:
    """Turn ``email``'s authenticator app on over the JSON API; return its secret."""
    add_user(app, email=email)
    client = app.test_client()
    api_login(client, email=email)
    secret = str(json_with_csrf(client, "POST", "/api/users/me/totp").get_json()["secret"])
    r = json_with_csrf(client, "POST", "/api/users/me/totp/confirm", {"code": pyotp.TOTP(secret).now()})
    assert r.status_code == 201, r.data
    return secret


def stored(app: Flask, uid: int = 1) -> str:
    with app.app_context():
        row = db.session.scalars(db.select(Factor).filter_by(user_id=uid, kind=TOTP)).one()
        return str(row.data["secret"])


def store(app: Flask, value: str, uid: int = 1) -> None:
    with app.app_context():
        row = db.session.scalars(db.select(Factor).filter_by(user_id=uid, kind=TOTP)).one()
        row.data = {**row.data, "secret": value}
        db.session.commit()


def next_code(secret: str) -> str:
    """The code of the step after the enrolment's (which is spent): a phone a little
    ahead. One check per test can use it."""
    return str(pyotp.TOTP(secret).at(datetime.datetime.now(datetime.UTC), counter_offset=1))


def check(app: Flask, code: str, uid: int = 1) -> str:
    with app.test_request_context("/", base_url="http://localhost"):
        return verify_second_factor(get_state().store.get(uid), code)


def opened(app: Flask, value: str, uid: int = 1) -> tuple[str | None, bool]:
    with app.app_context():
        return unseal(value, uid)


def test_the_database_holds_the_secret_sealed_and_codes_still_work(factors_app: Flask) -> None:
    secret = enrol(factors_app)
    value = stored(factors_app)
    assert value.startswith(PREFIX) and secret not in value
    with factors_app.app_context():
        # Nor anywhere else in the row, in any spelling.
        row = db.session.scalars(db.select(Factor).filter_by(kind=TOTP)).one()
        assert secret.lower() not in repr(row.data).lower()
    assert opened(factors_app, value) == (secret, True)
    assert check(factors_app, next_code(secret)) == "totp"
    assert stored(factors_app) == value  # sealed with the current key: left as it is


def test_each_sealing_is_different(factors_app: Flask) -> None:
    with factors_app.app_context():
        first, second = seal("JBSWY3DPEHPK3PXP", 1), seal("JBSWY3DPEHPK3PXP", 1)
    assert first != second  # a new nonce each time
    assert opened(factors_app, first) == opened(factors_app, second) == ("JBSWY3DPEHPK3PXP", True)


def test_a_sealed_secret_moved_to_another_account_does_not_open(factors_app: Flask) -> None:
    secret = enrol(factors_app)
    enrol(factors_app, email="bob@example.com")
    store(factors_app, stored(factors_app, uid=1), uid=2)  # ada's sealed secret on bob's row
    assert opened(factors_app, stored(factors_app, uid=2), uid=2) == (None, False)
    with pytest.raises(FactorError) as refused:
        check(factors_app, next_code(secret), uid=2)
    assert (refused.value.status, refused.value.code) == (401, "SECOND_FACTOR_INVALID")


def test_a_rotated_key_in_the_fallbacks_opens_and_the_secret_is_sealed_again(factors_app: Flask) -> None:
    secret = enrol(factors_app)
    before = stored(factors_app)
    old = factors_app.config["SECRET_KEY"]
    factors_app.config.update(SECRET_KEY="a new key of at least thirty-two characters", SECRET_KEY_FALLBACKS=[old])
    assert opened(factors_app, before) == (secret, False)  # opens, with a fallback
    assert check(factors_app, next_code(secret)) == "totp"
    after = stored(factors_app)
    assert after != before and opened(factors_app, after) == (secret, True)
    factors_app.config["SECRET_KEY_FALLBACKS"] = []  # the old key can now go
    assert opened(factors_app, after) == (secret, True)


def test_a_secret_stored_in_clear_works_and_is_sealed_at_its_next_use(factors_app: Flask) -> None:
    secret = enrol(factors_app)
    store(factors_app, secret)  # as a row written before secrets were sealed
    assert opened(factors_app, secret) == (secret, False)
    assert check(factors_app, next_code(secret)) == "totp"
    value = stored(factors_app)
    assert value.startswith(PREFIX) and opened(factors_app, value) == (secret, True)


@pytest.mark.parametrize(
    "value",
    [PREFIX, PREFIX + "not base64 !", PREFIX + "AAAA", PREFIX + "A" * 64, "", "sealed1", "not base32!"],
)
def test_a_damaged_value_opens_to_nothing_without_an_error(factors_app: Flask, value: str) -> None:
    secret = enrol(factors_app)
    store(factors_app, value)
    assert opened(factors_app, value) == (None, False)
    with pytest.raises(FactorError) as refused:
        check(factors_app, next_code(secret))
    assert refused.value.code == "SECOND_FACTOR_INVALID"


def test_a_key_changed_without_fallback_refuses_codes_and_logs_no_secret(
    factors_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    secret = enrol(factors_app)
    factors_app.config.update(SECRET_KEY="a new key of at least thirty-two characters", SECRET_KEY_FALLBACKS=[])
    with caplog.at_level(logging.WARNING, logger="flask_registration"):
        with pytest.raises(FactorError) as refused:
            check(factors_app, next_code(secret))
    assert refused.value.code == "SECOND_FACTOR_INVALID"
    assert "cannot be opened" in caplog.text
    assert secret not in caplog.text and stored(factors_app) not in caplog.text


def test_the_login_step_takes_a_code_of_a_sealed_secret(factors_app: Any) -> None:
    secret = enrol(factors_app)
    client = factors_app.test_client()
    body = {"email": "ada@example.com", "password": PASSWORD}
    r = client.post("/api/users/login", json=body)
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "SECOND_FACTOR_REQUIRED"
    # The same request with the code, as a client that kept no cookie sends it.
    r = factors_app.test_client().post("/api/users/login", json={**body, "code": next_code(secret)})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["userId"] == 1
