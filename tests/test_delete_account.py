"""Deleting an account at once (no grace period), through ``DELETE /api/users/{id}``,
``DELETE /api/users/me`` and the ``/account/delete`` page: only its owner, only after a
recent re-authentication; the user, its access tokens, sessions and linked identities,
and whatever the ``before_delete`` hooks delete, go in one transaction (SQLite and
PostgreSQL); a refusal leaves everything; a last email; the address can sign up again
as a brand-new account."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, text, update

from flask_registration import ValidationError, get_state, signals
from flask_registration.flows.deletion import DeletedUser
from tests.helpers import (
    PASSWORD,
    add_user,
    api_login,
    csrf_headers,
    csrf_token,
    forget_reauth,
    full_app,
    hidden,
    html_login,
    rows_of,
)
from tests.models import AccessToken, Factor, LoginSession, User, db
from tests.oauth_provider import OAuth

MODELS = (AccessToken, LoginSession, OAuth)
NOTHING = {"users": 0, "access_tokens": 0, "login_sessions": 0, "oauth": 0}


@pytest.fixture
def site_app(database_url: str, mailbox: Any) -> Iterator[Flask]:
    with full_app(database_url, mailbox) as app:
        yield app


def hooks(app: Any) -> Any:
    return app.extensions["registration"].extension


def link_identity(app: Any, user_id: int, sub: str) -> None:
    with app.app_context():
        token = {"access_token": f"provider-secret-of-{sub}", "token_type": "bearer"}
        db.session.add(OAuth(provider="local", provider_user_id=sub, user_id=user_id, token=token))
        db.session.commit()


def error(r: Any) -> tuple[int, str]:
    return r.status_code, r.get_json()["error"]["code"]


def test_an_anonymous_request_gets_401_and_deletes_nothing(site_app: Flask) -> None:
    ada = add_user(site_app)
    client = site_app.test_client()
    for path in (f"/api/users/{ada}", "/api/users/me"):
        assert error(client.delete(path)) == (401, "AUTHORIZATION_REQUIRED")
    assert rows_of(site_app, ada)["users"] == 1


def test_another_users_id_gets_the_answer_of_an_id_that_does_not_exist(site_app: Flask) -> None:
    ada = add_user(site_app)
    bob = add_user(site_app, "bob@example.com")
    client = site_app.test_client()
    api_login(client)
    headers = csrf_headers(client)
    answers = [client.delete(f"/api/users/{user_id}", headers=headers) for user_id in (bob, bob + 1000)]
    assert [error(r) for r in answers] == [(401, "AUTHORIZATION_REQUIRED")] * 2
    assert len({r.data for r in answers}) == 1  # nothing tells which ids exist
    # What is no id at all names no account: the API's JSON 404.
    assert error(client.delete("/api/users/bob", headers=headers)) == (404, "NOT_FOUND")
    assert rows_of(site_app, ada)["users"] == 1 and rows_of(site_app, bob)["users"] == 1


def test_deleting_needs_a_recent_reauthentication_in_the_browser(site_app: Flask) -> None:
    ada = add_user(site_app)
    client = site_app.test_client()
    api_login(client)
    forget_reauth(client)  # a session restored from a cookie: the password was not typed here
    assert error(client.delete("/api/users/me", headers=csrf_headers(client))) == (401, "REAUTHENTICATION_REQUIRED")
    # An access token alone never counts as a re-authentication.
    token = api_login(site_app.test_client())
    bearer = {"Authorization": f"Bearer {token}"}
    assert error(site_app.test_client().delete(f"/api/users/{ada}", headers=bearer)) == (
        401,
        "REAUTHENTICATION_REQUIRED",
    )
    # A cookie-authenticated request without the CSRF header is refused before anything.
    assert error(client.delete("/api/users/me")) == (403, "CSRF_FAILED")
    assert rows_of(site_app, ada, AccessToken)["access_tokens"] == 2

    r = client.post("/api/users/reauthenticate", json={"password": PASSWORD}, headers=csrf_headers(client))
    assert r.status_code == 204
    r = client.delete(f"/api/users/{ada}", headers=csrf_headers(client))
    assert r.status_code == 200 and r.get_json() == {"count": 1, "emailSent": True}
    assert rows_of(site_app, ada, *MODELS) == NOTHING


def test_a_token_client_proves_it_is_the_owner_with_the_password(site_app: Flask) -> None:
    ada = add_user(site_app)
    bearer = {"Authorization": f"Bearer {api_login(site_app.test_client())}"}
    client = site_app.test_client()
    r = client.delete("/api/users/me", json={"password": "not the password"}, headers=bearer)
    assert error(r) == (400, "INVALID_PASSWORD")
    r = client.delete("/api/users/me", json={"password": 12345678}, headers=bearer)
    assert error(r) == (422, "VALIDATION_ERROR") and r.get_json()["error"]["details"]["codes"] == {"password": ["type"]}
    r = client.delete("/api/users/me", json={"password": PASSWORD, "force": True}, headers=bearer)
    assert error(r) == (422, "VALIDATION_ERROR")
    assert rows_of(site_app, ada)["users"] == 1

    r = client.delete("/api/users/me", json={"password": PASSWORD}, headers=bearer)
    assert r.status_code == 200 and r.get_json()["count"] == 1
    assert rows_of(site_app, ada, *MODELS) == NOTHING
    assert client.get("/api/users/me", headers=bearer).status_code == 401


def test_the_account_and_every_row_of_it_go_and_no_one_elses(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    bob = add_user(site_app, "bob@example.com")
    link_identity(site_app, ada, "ada-idp")
    link_identity(site_app, bob, "bob-idp")
    client = site_app.test_client()
    api_login(client)
    api_login(site_app.test_client())  # a second session and token of ada's
    api_login(site_app.test_client(), "bob@example.com")
    with site_app.app_context():  # a second factor's row (the plug-in's table) of each
        db.session.add_all([Factor(kind="totp", user_id=user_id, data={"secret": "s"}) for user_id in (ada, bob)])
        db.session.commit()
    every = (*MODELS, Factor)
    assert rows_of(site_app, ada, *every) == {
        "users": 1,
        "access_tokens": 2,
        "login_sessions": 2,
        "oauth": 1,
        "factors": 1,
    }
    bobs = rows_of(site_app, bob, *every)

    r = client.delete(f"/api/users/{ada}", headers=csrf_headers(client))
    assert r.status_code == 200 and r.get_json() == {"count": 1, "emailSent": True}
    assert rows_of(site_app, ada, *every) == {**NOTHING, "factors": 0}
    assert bobs == {"users": 1, "access_tokens": 1, "login_sessions": 1, "oauth": 1, "factors": 1}
    assert rows_of(site_app, bob, *every) == bobs
    assert client.get("/api/users/me").status_code == 401  # this browser is logged out
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "ada@example.com" and msg["Subject"] == "Your account was deleted"
    assert "The account ada@example.com was deleted" in mailbox.text(msg)
    assert "ada@example.com was deleted" in mailbox.html(msg)


def test_a_vetoing_hook_leaves_everything_in_place(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    link_identity(site_app, ada, "ada-idp")
    client = site_app.test_client()
    api_login(client)
    before = rows_of(site_app, ada, *MODELS)
    deleted: list[Any] = []

    @hooks(site_app).before_delete
    def open_orders(user: Any) -> None:
        # Work done in the transaction before the refusal is undone with it.
        db.session.execute(delete(AccessToken).where(AccessToken.user_id == user.id))
        raise ValidationError("Close your open orders before deleting your account.")

    with signals.user_deleted.connected_to(lambda sender, **kw: deleted.append(kw), sender=site_app):
        r = client.delete("/api/users/me", headers=csrf_headers(client))
    assert error(r) == (422, "VALIDATION_ERROR")
    assert r.get_json()["error"]["message"] == "Close your open orders before deleting your account."
    assert rows_of(site_app, ada, *MODELS) == before
    assert client.get("/api/users/me").status_code == 200  # still logged in
    assert deleted == [] and mailbox.messages == []


@pytest.fixture
def notes(site_app: Flask) -> Iterator[None]:
    """A table of the app's that points at its users without ``ON DELETE CASCADE``."""
    with site_app.app_context():
        db.session.execute(
            text("CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))")
        )
        db.session.commit()
    try:
        yield
    finally:
        with site_app.app_context():
            db.session.execute(text("DROP TABLE notes"))
            db.session.commit()


def count_notes(app: Any) -> int:
    with app.app_context():
        return int(db.session.execute(text("SELECT count(*) FROM notes")).scalar_one())


def test_before_delete_removes_the_apps_rows_in_the_same_transaction(site_app: Flask, notes: None) -> None:
    ada = add_user(site_app)
    with site_app.app_context():
        db.session.execute(text("INSERT INTO notes (id, user_id) VALUES (1, :u), (2, :u)"), {"u": ada})
        db.session.commit()
    client = site_app.test_client()
    api_login(client)

    # Without a hook, the database refuses: a 409, and nothing of the account is gone.
    before = rows_of(site_app, ada, *MODELS)
    assert error(client.delete("/api/users/me", headers=csrf_headers(client))) == (409, "DELETE_CONFLICT")
    assert rows_of(site_app, ada, *MODELS) == before and count_notes(site_app) == 2

    @hooks(site_app).before_delete
    def delete_notes(user: Any) -> None:
        db.session.execute(text("DELETE FROM notes WHERE user_id = :u"), {"u": user.id})

    assert client.delete("/api/users/me", headers=csrf_headers(client)).status_code == 200
    assert rows_of(site_app, ada, *MODELS) == NOTHING and count_notes(site_app) == 0


def test_after_delete_hooks_and_the_signal_see_what_the_account_held(site_app: Flask) -> None:
    ada = add_user(site_app)
    with site_app.app_context():
        db.session.execute(update(User).where(User.id == ada).values(username="ada"))
        db.session.commit()
    seen: list[Any] = []

    @hooks(site_app).after_delete
    def after(snapshot: Any) -> None:
        seen.append(("hook", snapshot, db.session.get(User, snapshot.id)))

    def receiver(sender: Any, user: Any, **extra: Any) -> None:
        seen.append(("signal", user, db.session.get(User, user.id)))

    client = site_app.test_client()
    api_login(client)
    with signals.user_deleted.connected_to(receiver, sender=site_app):
        assert client.delete("/api/users/me", headers=csrf_headers(client)).status_code == 200
    assert [(kind, row) for kind, _, row in seen] == [("signal", None), ("hook", None)]  # after the commit
    snapshot = seen[0][1]
    assert isinstance(snapshot, DeletedUser) and seen[1][1] is snapshot
    assert (snapshot.id, snapshot.email, snapshot.username) == (ada, "ada@example.com", "ada")
    assert snapshot.email_verified_at is not None and snapshot.created_at is not None
    assert not hasattr(snapshot, "password_hash") and not hasattr(snapshot, "auth_stamp")


def test_the_address_signs_up_again_as_a_new_account(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    link_identity(site_app, ada, "ada-idp")
    old = site_app.test_client()
    token = api_login(old)
    assert old.delete("/api/users/me", headers=csrf_headers(old)).status_code == 200
    mailbox.wait_for(1)
    mailbox.clear()

    r = site_app.test_client().post("/api/users", json={"email": "ada@example.com", "password": "another password"})
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert msg["Subject"] == "Confirm your email address"  # a signup, not "You already have an account"
    with site_app.app_context():
        new = get_state().store.find_by_email("ada@example.com")
        assert new is not None and new.id != ada and not new.email_verified and new.username is None
        new_id = new.id
    assert rows_of(site_app, new_id, *MODELS) == {**NOTHING, "users": 1}
    # Nothing of the old account reaches the new one: not its cookie, token or password.
    assert old.get("/api/users/me").status_code == 401
    assert site_app.test_client().get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    r = site_app.test_client().post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert error(r) == (401, "LOGIN_FAILED")


def test_the_delete_page_asks_to_reauthenticate_then_deletes(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    client = site_app.test_client()
    html_login(client)
    forget_reauth(client)
    page = client.get("/account/delete")
    assert page.status_code == 200
    text_ = page.get_data(as_text=True)
    assert "/reauthenticate?next=/account/delete" in text_ and 'action="/account/delete"' not in text_
    token = csrf_token(client.get("/account").data)
    # The button pressed without a recent re-authentication leads there too.
    r = client.post("/account/delete", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].startswith("/reauthenticate?next=")
    r = client.post(
        "/reauthenticate", data={**hidden(client, "/reauthenticate?next=/account/delete"), "password": PASSWORD}
    )
    assert r.status_code == 302 and r.headers["Location"] == "/account/delete"
    page = client.get("/account/delete")
    assert 'action="/account/delete"' in page.get_data(as_text=True)
    assert client.post("/account/delete", data={}).status_code == 400  # no CSRF token: nothing happens
    assert rows_of(site_app, ada)["users"] == 1

    r = client.post("/account/delete", data={"csrf_token": csrf_token(page.data)})
    assert r.status_code == 200 and "Your account was deleted" in r.get_data(as_text=True)
    assert rows_of(site_app, ada, *MODELS) == NOTHING
    assert client.get("/account").status_code == 302  # logged out
    (msg,) = mailbox.wait_for(1)
    assert msg["Subject"] == "Your account was deleted"


def test_the_delete_page_shows_a_hooks_refusal(site_app: Flask) -> None:
    ada = add_user(site_app)

    @hooks(site_app).before_delete
    def refuse(user: Any) -> None:
        raise ValidationError("Close your open orders before deleting your account.")

    client = site_app.test_client()
    html_login(client)
    page = client.get("/account/delete")
    r = client.post("/account/delete", data={"csrf_token": csrf_token(page.data)})
    assert r.status_code == 422 and "Close your open orders" in r.get_data(as_text=True)
    assert rows_of(site_app, ada)["users"] == 1


def test_the_account_page_links_to_deleting_and_exporting(site_app: Flask) -> None:
    add_user(site_app)
    client = site_app.test_client()
    html_login(client)
    page = client.get("/account").get_data(as_text=True)
    assert 'href="/account/delete"' in page and 'href="/account/export"' in page
