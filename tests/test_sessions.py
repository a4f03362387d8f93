"""Sessions end on the server: logout ends the session (and its copies), "log out
everywhere" ends them all, a remember cookie expires and follows ``SECRET_KEY_FALLBACKS``,
and every login starts a new cookie session (the CSRF token from before stops working)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy import func, select, update
from wtforms.validators import ValidationError as WTFValidationError

from flask_registration import Registration
from tests.helpers import add_user
from tests.models import AccessToken, User, db, make_app
from tests.smtp import Mailbox

PASSWORD = "correct horse"
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


@pytest.fixture
def ada(app: Flask) -> int:
    return add_user(app)


def log_in(client: Any, **extra: Any) -> Any:
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD, **extra})
    assert r.status_code == 200, r.json
    return r


def csrf(client: Any) -> str:
    return str(client.get("/api/users/csrf-token").json["csrfToken"])


def me(client: Any, **headers: Any) -> int:
    return int(client.get("/api/users/me", headers=headers).status_code)


def copy_of(app: Flask, client: Any, *names: str) -> Any:
    """Another browser that holds a copy of ``client``'s cookies ``names`` (a thief)."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, f"no {name} cookie"
        thief.set_cookie(name, cookie.value)
    return thief


def logout(client: Any) -> None:
    assert client.post("/api/users/logout", headers={"X-CSRFToken": csrf(client)}).status_code == 204


def page_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def session_rows(app: Flask, user_id: int) -> int:
    from tests.models import LoginSession

    with app.app_context():
        query = select(func.count()).select_from(LoginSession).where(LoginSession.user_id == user_id)
        return int(db.session.execute(query).scalar_one())


# Logout.


def test_logout_ends_the_session_and_every_copy_of_its_cookie(app: Flask, client: Any, ada: Any) -> None:
    log_in(client)
    thief = copy_of(app, client, "session")
    laptop = app.test_client()
    log_in(laptop)
    assert me(thief) == 200
    logout(client)
    assert me(client) == 401
    assert me(thief) == 401
    assert me(laptop) == 200  # another login of the same user goes on
    assert session_rows(app, ada) == 1


def test_logout_ends_a_copied_remember_cookie(app: Flask, client: Any, ada: Any) -> None:
    log_in(client, remember=True)
    thief = copy_of(app, client, "remember_token")
    assert me(thief) == 200
    logout(client)
    assert client.get_cookie("remember_token") is None
    assert me(thief) == 401


def test_logout_from_the_page_ends_the_copied_cookies(app: Flask, client: Any, ada: Any) -> None:
    token = page_token(client.get("/login").text)
    form = {"email": "ada@example.com", "password": PASSWORD, "remember": "y", "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    thief = copy_of(app, client, "session", "remember_token")
    assert me(thief) == 200
    page = client.get("/account/password")
    assert client.post("/logout", data={"csrf_token": page_token(page.text)}).status_code == 302
    assert me(thief) == 401


def test_session_ids_are_never_logged(app: Flask, client: Any, ada: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log_in(client, remember=True)
    with app.test_request_context():
        data = app.session_interface.get_signing_serializer(app).loads(client.get_cookie("session").value)
    user_id, _stamp, session_id = data["_user_id"].split(":")
    assert user_id == str(ada) and len(session_id) >= 43
    logout(client)
    assert session_id not in caplog.text
    assert all(session_id not in str(record.args) for record in caplog.records)


# Expiry, and the remember cookie's keys.


def test_a_session_ends_when_its_row_expires(app: Flask, client: Any, ada: Any) -> None:
    from tests.models import LoginSession

    log_in(client, remember=True)
    remembered = copy_of(app, client, "remember_token")
    with app.app_context():
        db.session.execute(update(LoginSession).values(expires_at=LONG_AGO))
        db.session.commit()
    assert me(client) == 401
    assert me(remembered) == 401
    assert session_rows(app, ada) == 0  # an expired row is deleted when it is presented


def test_a_remember_cookie_older_than_its_duration_is_refused(app: Flask, client: Any, ada: Any) -> None:
    from flask_registration import _compat

    log_in(client, remember=True)
    value = client.get_cookie("remember_token").value
    with app.test_request_context():
        signer = _compat.remember_signer()
        payload = signer.unsign(value)
        signer.get_timestamp = lambda: int(LONG_AGO.timestamp())  # type: ignore[method-assign]
        old = signer.sign(payload).decode()
    browser = app.test_client()
    browser.set_cookie("remember_token", old)
    assert me(browser) == 401
    browser.set_cookie("remember_token", value)
    assert me(browser) == 200


def test_remember_cookies_honour_secret_key_fallbacks(app: Flask, client: Any, ada: Any) -> None:
    log_in(client, remember=True)
    old_key = app.config["SECRET_KEY"]
    app.config.update(SECRET_KEY="the suite's rotated secret key", SECRET_KEY_FALLBACKS=[old_key])
    assert me(copy_of(app, client, "remember_token")) == 200
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert me(copy_of(app, client, "remember_token")) == 401


def test_the_remember_cookie_is_ours_not_flask_logins(app: Flask, client: Any, ada: Any) -> None:
    # _compat replaces two methods of Flask-Login's LoginManager: if Flask-Login renames
    # them, its own unsigned-in-time cookie comes back and this fails.
    from flask_login import LoginManager
    from flask_login.utils import decode_cookie

    from flask_registration import _compat

    for name in _compat.REMEMBER_COOKIE_METHODS:
        assert callable(getattr(LoginManager, name, None)), name
    log_in(client, remember=True)
    value = client.get_cookie("remember_token").value
    with app.test_request_context():
        assert decode_cookie(value) is None
        assert _compat.remember_signer().unsign(value).decode().startswith(f"{ada}:")


# Log out everywhere.


def test_log_out_everywhere_ends_every_session_remember_cookie_and_token(app: Flask, client: Any, ada: Any) -> None:
    token = log_in(client, remember=True).json["id"]
    laptop = app.test_client()
    log_in(laptop, remember=True)
    copies = [copy_of(app, laptop, "session"), copy_of(app, laptop, "remember_token")]
    assert client.post("/api/users/logout-all").json["error"]["code"] == "CSRF_FAILED"
    assert me(laptop) == 200
    r = client.post("/api/users/logout-all", headers={"X-CSRFToken": csrf(client)})
    assert r.status_code == 204 and r.data == b""
    for browser in (client, laptop, *copies):
        assert me(browser) == 401
    assert me(app.test_client(), Authorization=f"Bearer {token}") == 401
    assert session_rows(app, ada) == 0
    log_in(client)  # the password still works
    assert me(client) == 200


def test_log_out_everywhere_needs_a_user(client: Any, ada: Any) -> None:
    r = client.post("/api/users/logout-all")
    assert r.status_code == 401 and r.json["error"]["code"] == "AUTHORIZATION_REQUIRED"


def test_log_out_everywhere_with_an_access_token(app: Flask, client: Any, ada: Any) -> None:
    token = log_in(app.test_client()).json["id"]
    log_in(client)
    r = app.test_client().post("/api/users/logout-all", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    assert me(client) == 401
    assert me(app.test_client(), Authorization=f"Bearer {token}") == 401


def test_the_log_out_everywhere_button(app: Flask, client: Any, ada: Any) -> None:
    laptop = app.test_client()
    log_in(laptop, remember=True)
    log_in(client)
    page = client.get("/account/password")
    assert 'action="/logout-everywhere"' in page.text
    assert client.post("/logout-everywhere", data={}).status_code == 400
    assert me(laptop) == 200
    r = client.post("/logout-everywhere", data={"csrf_token": page_token(page.text)})
    assert r.status_code == 302 and r.headers["Location"] == app.config["REGISTRATION_POST_LOGOUT_REDIRECT"]
    assert me(client) == 401 and me(laptop) == 401


def test_a_password_change_keeps_only_the_current_session(app: Flask, client: Any, ada: Any) -> None:
    log_in(client, remember=True)
    laptop = app.test_client()
    log_in(laptop)
    body = {"oldPassword": PASSWORD, "newPassword": "a brand new password"}
    r = client.post("/api/users/change-password", json=body, headers={"X-CSRFToken": csrf(client)})
    assert r.status_code == 204
    assert me(client) == 200 and me(laptop) == 401
    assert me(copy_of(app, client, "remember_token")) == 200  # the new remember cookie names this session
    assert session_rows(app, ada) == 1


# A new cookie session at login (session fixation).


def test_a_csrf_token_from_before_the_login_stops_working(client: Any, ada: Any) -> None:
    before = csrf(client)
    body = {"email": "ada@example.com", "password": PASSWORD}
    assert client.post("/api/users/login", json=body, headers={"X-CSRFToken": before}).status_code == 200
    r = client.post("/api/users/logout", headers={"X-CSRFToken": before})
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"
    logout(client)


def test_the_login_page_starts_a_new_cookie_session(client: Any, ada: Any) -> None:
    token = page_token(client.get("/login").text)
    form = {"email": "ada@example.com", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    assert client.post("/logout", data={"csrf_token": token}).status_code == 400
    assert me(client) == 200


def test_a_provider_login_starts_a_new_cookie_session(database_url: str, mailbox: Mailbox) -> None:
    from flask_registration.oauth import flows as oauth_flow
    from flask_registration.oauth.providers import Identity
    from tests.oauth_provider import OAuth

    registration = Registration(db=db, user_model=User, token_model=AccessToken, oauth_model=OAuth)
    app = make_app(_config(database_url, mailbox), registration=registration)
    with app.app_context():
        db.create_all()
    try:
        ada = add_user(app)
        with app.app_context():
            db.session.add(OAuth(provider="local", provider_user_id="ada-at-local", user_id=ada, token={}))
            db.session.commit()
        with app.test_request_context("/login/local/authorized"):
            before = generate_csrf()
            identity = Identity(provider="local", provider_user_id="ada-at-local")
            assert oauth_flow.login_with_identity(identity, {"access_token": "x"}).outcome == oauth_flow.LOGGED_IN
            with pytest.raises(WTFValidationError):
                validate_csrf(before)
            validate_csrf(generate_csrf())  # a form rendered now gets the new session's token
    finally:
        _drop(app)


# Without a session model.


def _config(database_url: str, mailbox: Mailbox) -> dict[str, object]:
    return {"SQLALCHEMY_DATABASE_URI": database_url, "MAIL_SERVER": mailbox.host, "MAIL_PORT": mailbox.port}


def _drop(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def app_without_session_model(database_url: str, mailbox: Mailbox) -> Iterator[Flask]:
    registration = Registration(db=db, user_model=User, token_model=AccessToken)
    app = make_app(_config(database_url, mailbox), registration=registration)
    with app.app_context():
        db.create_all()
    yield app
    _drop(app)


def test_without_a_session_model_logout_ends_every_session_of_the_user(app_without_session_model: Any) -> None:
    app = app_without_session_model
    add_user(app)
    client, laptop = app.test_client(), app.test_client()
    token = log_in(client, remember=True).json["id"]
    log_in(laptop, remember=True)
    thief = copy_of(app, client, "session", "remember_token")
    remembered = copy_of(app, laptop, "remember_token")
    logout(client)
    assert me(thief) == 401
    assert me(laptop) == 401  # no record of each session: the user's stamp changed
    assert me(remembered) == 401
    assert laptop.get_cookie("remember_token") is None  # a cookie that lets nobody in is deleted
    assert me(app.test_client(), Authorization=f"Bearer {token}") == 200  # tokens are rows of their own
    log_in(client)
    assert me(client) == 200
