"""Changing the password while logged in: the old one confirms it, every other session
and access token ends, the one that asked stays, and the owner is told by email."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from tests.helpers import add_user, can_log_in, hidden
from tests.models import User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse"
NEW = "battery staple"


def session_client(app: Flask, *, remember: bool = False) -> Any:
    """A client logged in through the JSON API with a session cookie."""
    client = app.test_client()
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD, "remember": remember})
    assert r.status_code == 200
    return client


def access_token(app: Flask) -> str:
    r = app.test_client().post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200
    return str(r.json["id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf(client: Any) -> dict[str, str]:
    return {"X-CSRFToken": client.get("/api/users/csrf-token").json["csrfToken"]}


def me(client: Any, headers: dict[str, str] | None = None) -> int:
    return int(client.get("/api/users/me", headers=headers or {}).status_code)


def token_works(app: Flask, token: str) -> bool:
    return me(app.test_client(), bearer(token)) == 200


def change(client: Any, old: str = PASSWORD, new: str = NEW, headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/users/change-password", json={"oldPassword": old, "newPassword": new}, headers=headers)


def stored_hash(app: Flask) -> str:
    with app.app_context():
        return str(db.session.scalars(db.select(User.password_hash).filter_by(email="ada@example.com")).one())


def test_right_old_password_sets_the_new_one(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    r = change(app.test_client(), headers=bearer(access_token(app)))
    assert r.status_code == 204 and r.data == b""
    assert can_log_in(app, NEW) and not can_log_in(app, PASSWORD)


def test_wrong_old_password_is_refused_and_changes_nothing(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    other_session = session_client(app)
    other_token, token = access_token(app), access_token(app)
    before = stored_hash(app)
    r = change(app.test_client(), old="wrong horse", headers=bearer(token))
    assert r.status_code == 400
    assert r.json["error"]["code"] == "INVALID_PASSWORD"
    assert r.json["error"]["details"]["codes"] == {"oldPassword": ["invalid"]}
    assert stored_hash(app) == before
    assert can_log_in(app, PASSWORD) and not can_log_in(app, NEW)
    assert me(other_session) == 200 and token_works(app, other_token)
    assert mailbox.messages == []


def test_too_short_new_password_is_a_422_on_new_password(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    r = change(app.test_client(), new="short", headers=bearer(access_token(app)))
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"newPassword": ["length"]}
    assert can_log_in(app, PASSWORD)


def test_json_change_without_a_login_is_a_401(app: Flask, client: Any) -> None:
    add_user(app)
    r = change(client)
    assert r.status_code == 401 and r.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    r = change(client, headers=bearer("not-a-real-token-but-long-enough"))
    assert r.status_code == 401 and r.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert can_log_in(app, PASSWORD)


def test_html_change_page_without_a_login_redirects_to_login(app: Flask, client: Any) -> None:
    r = client.get("/account/password")
    assert r.status_code == 302
    location = urlsplit(r.headers["Location"])
    assert location.path == "/login" and "next=" in location.query


def test_change_by_session_keeps_that_session_and_ends_the_others(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    current, other = session_client(app), session_client(app)
    token = access_token(app)
    r = change(current, headers=csrf(current))
    assert r.status_code == 204
    assert me(current) == 200
    assert me(other) == 401
    assert not token_works(app, token)
    # The session keeps working for later state-changing calls too.
    r = current.post("/api/users/change-email/cancel", headers=csrf(current))
    assert r.status_code == 204


def test_change_by_session_keeps_its_remember_me(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    current = session_client(app, remember=True)
    assert current.get_cookie("remember_token") is not None
    assert change(current, headers=csrf(current)).status_code == 204
    current.delete_cookie("session")  # the browser restarts; "keep me logged in" was asked for
    assert me(current) == 200


def test_change_by_token_keeps_that_token_and_ends_the_others(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    other_session = session_client(app)
    current, other = access_token(app), access_token(app)
    assert change(app.test_client(), headers=bearer(current)).status_code == 204
    assert token_works(app, current)
    assert not token_works(app, other)
    assert me(other_session) == 401


def test_change_emails_a_notice_without_the_password(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    assert change(app.test_client(), headers=bearer(access_token(app))).status_code == 204
    (notice,) = mailbox.wait_for(1)
    assert notice["To"] == "ada@example.com"
    assert notice["Subject"] == "Your password was changed"
    assert NEW not in notice.as_string() and PASSWORD not in notice.as_string()


def test_cookie_call_without_the_csrf_header_is_refused(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    client = session_client(app)
    before = stored_hash(app)
    r = change(client)
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"
    r = change(client, headers={"X-CSRFToken": "forged"})
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"
    assert stored_hash(app) == before and me(client) == 200
    assert mailbox.messages == []


def html_login(client: Any) -> None:
    r = client.post("/login", data={**hidden(client, "/login"), "email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 302


def test_html_change_with_the_csrf_token_works_and_keeps_the_session(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    other = session_client(app)
    html_login(client)
    data = {**hidden(client, "/account/password"), "old_password": PASSWORD, "password": NEW, "password_confirm": NEW}
    r = client.post("/account/password", data=data)
    assert r.status_code == 200 and b"Password changed" in r.data
    assert me(client) == 200 and me(other) == 401
    assert can_log_in(app, NEW) and not can_log_in(app, PASSWORD)
    assert mailbox.wait_for(1)[0]["Subject"] == "Your password was changed"


def test_html_change_with_a_wrong_old_password_shows_it_on_that_field(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    html_login(client)
    before = stored_hash(app)
    data = {**hidden(client, "/account/password"), "old_password": "wrong", "password": NEW, "password_confirm": NEW}
    r = client.post("/account/password", data=data)
    assert r.status_code == 400  # the flow's INVALID_PASSWORD status, as in JSON
    page = r.get_data(as_text=True)
    assert 'id="old_password-errors"' in page and "The current password is not right." in page
    assert stored_hash(app) == before and me(client) == 200


def test_html_change_without_the_csrf_token_changes_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    before = stored_hash(app)
    data = {"old_password": PASSWORD, "password": NEW, "password_confirm": NEW}
    r = client.post("/account/password", data=data)
    assert r.status_code == 422
    assert stored_hash(app) == before and mailbox.messages == []
