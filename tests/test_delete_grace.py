"""Deleting with ``REGISTRATION_DELETE_GRACE``: the account is disabled at once (no login,
session or token works), the last email's link restores it within the grace period
(opening the link changes nothing; its button does), the link cannot be replayed, and
``flask registration purge-deleted`` deletes the accounts whose grace is over, and only
those. Meanwhile a signup with the address answers as for any taken address."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from flask import Flask
from sqlalchemy import update

from flask_registration import RegistrationError, get_state, signals
from flask_registration.flows import deletion
from flask_registration.flows.sessions import start_session
from flask_registration.models import as_utc, utcnow
from tests.helpers import (
    PASSWORD,
    add_user,
    api_login,
    csrf_headers,
    csrf_token,
    full_app,
    html_login,
    link_params,
    local,
    made_ago,
    rows_of,
    user_row,
)
from tests.models import AccessToken, LoginSession, User, db
from tests.oauth_provider import OAuth

MODELS = (AccessToken, LoginSession, OAuth)
GRACE = timedelta(days=7)


@pytest.fixture
def site_app(database_url: str, mailbox: Any) -> Iterator[Flask]:
    with full_app(database_url, mailbox, REGISTRATION_DELETE_GRACE=GRACE) as app:
        yield app


def error(r: Any) -> tuple[int, str]:
    return r.status_code, r.get_json()["error"]["code"]


def deleted_at(app: Any, user_id: int) -> Any:
    return user_row(app, user_id).deleted_at


def ask_to_delete(app: Any, mailbox: Any, email: str = "ada@example.com") -> tuple[Any, str]:
    """Log in as ``email`` and ask to delete the account; return the answer and the
    emailed restore link (as a local path)."""
    before = len(mailbox.messages)
    client = app.test_client()
    api_login(client, email)
    r = client.delete("/api/users/me", headers=csrf_headers(client))
    msg = mailbox.wait_for(before + 1)[before]
    assert msg["To"] == email and msg["Subject"] == "Your account will be deleted"
    return r, local(mailbox.link(msg, "/account/restore"))


def press_restore(client: Any, link: str) -> Any:
    page = client.get(link)
    assert page.status_code == 200, page.data[:300]
    return client.post("/account/restore", data={**link_params(link), "csrf_token": csrf_token(page.data)})


def test_the_account_is_disabled_at_once(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    with site_app.app_context():
        db.session.add(OAuth(provider="local", provider_user_id="ada-idp", user_id=ada, token={"access_token": "x"}))
        db.session.commit()
    other_browser = site_app.test_client()
    token = api_login(other_browser)
    client = site_app.test_client()
    api_login(client)

    r = client.delete(f"/api/users/{ada}", headers=csrf_headers(client))
    assert r.status_code == 202
    when = deleted_at(site_app, ada)
    assert r.get_json() == {"count": 0, "deleteAfter": (as_utc(when) + GRACE).isoformat(), "emailSent": True}
    # The row stays (to be restored), with its identity; every session and token is gone.
    assert rows_of(site_app, ada, *MODELS) == {"users": 1, "access_tokens": 0, "login_sessions": 0, "oauth": 1}
    for browser in (client, other_browser):
        assert browser.get("/api/users/me").status_code == 401
    assert site_app.test_client().get("/api/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    login = {"email": "ada@example.com", "password": PASSWORD}
    assert error(site_app.test_client().post("/api/users/login", json=login)) == (401, "ACCOUNT_PENDING_DELETION")
    wrong = {**login, "password": "not the password"}
    assert error(site_app.test_client().post("/api/users/login", json=wrong)) == (401, "LOGIN_FAILED")
    page = site_app.test_client()
    r = page.post("/login", data={"csrf_token": csrf_token(page.get("/login").data), **login})
    assert r.status_code == 401 and "This account is being deleted" in r.get_data(as_text=True)
    # A provider login (or an app's own) starts no session either.
    with site_app.test_request_context():
        with pytest.raises(RegistrationError) as refused:
            start_session(db.session.get(User, ada))
        assert refused.value.code == "ACCOUNT_PENDING_DELETION"

    (msg,) = mailbox.wait_for(1)
    assert "/account/restore?uid=" in mailbox.text(msg) and "/account/restore?uid=" in mailbox.html(msg)


def test_the_restore_link_shows_a_button_whose_post_restores(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    _, link = ask_to_delete(site_app, mailbox)
    client = site_app.test_client()
    page = client.get(link)
    assert page.status_code == 200 and "Restore my account" in page.get_data(as_text=True)
    assert deleted_at(site_app, ada) is not None  # opening the link changed nothing
    assert client.post("/account/restore", data=link_params(link)).status_code == 400  # no CSRF token
    restored: list[Any] = []
    with signals.user_restored.connected_to(lambda sender, user, **kw: restored.append(user.id), sender=site_app):
        r = press_restore(client, link)
    assert r.status_code == 200 and "Your account is restored" in r.get_data(as_text=True)
    assert deleted_at(site_app, ada) is None and restored == [ada]
    api_login(site_app.test_client())  # the owner logs in as before

    # The link has done its work.
    r = client.get(link)
    assert r.status_code == 400 and "This link does not work" in r.get_data(as_text=True)


def test_a_restore_link_cannot_be_replayed_after_a_second_deletion(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    _, first = ask_to_delete(site_app, mailbox)
    assert press_restore(site_app.test_client(), first).status_code == 200
    _, second = ask_to_delete(site_app, mailbox)
    assert site_app.test_client().get(first).status_code == 400
    r = site_app.test_client().post("/api/users/restore", json=link_params(first))
    assert error(r) == (400, "INVALID_TOKEN")
    assert deleted_at(site_app, ada) is not None
    assert press_restore(site_app.test_client(), second).status_code == 200
    assert deleted_at(site_app, ada) is None


def test_a_front_end_restores_through_the_api(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    _, link = ask_to_delete(site_app, mailbox)
    params = link_params(link)
    api = site_app.test_client()
    r = api.post("/api/users/restore", json={"uid": params["uid"]})
    assert r.status_code == 422 and r.get_json()["error"]["details"]["codes"] == {"token": ["presence"]}
    assert error(api.post("/api/users/restore", json={**params, "token": "a.b.c"})) == (400, "INVALID_TOKEN")
    r = api.post("/api/users/restore", json={"uid": int(params["uid"]), "token": params["token"]})
    assert r.status_code == 204 and deleted_at(site_app, ada) is None
    assert error(api.post("/api/users/restore", json=params)) == (400, "INVALID_TOKEN")


def test_a_link_past_the_grace_period_no_longer_restores(
    site_app: Flask, mailbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = add_user(site_app)
    # Asked for eight days ago: the deletion's time and the link's both lie in the past.
    eight_days = timedelta(days=8)
    monkeypatch.setattr(deletion, "utcnow", lambda: utcnow() - eight_days)
    with made_ago(int(eight_days.total_seconds())):
        _, link = ask_to_delete(site_app, mailbox)
    monkeypatch.undo()
    r = site_app.test_client().get(link)
    assert r.status_code == 400 and "This link does not work" in r.get_data(as_text=True)
    assert error(site_app.test_client().post("/api/users/restore", json=link_params(link))) == (400, "TOKEN_EXPIRED")
    assert deleted_at(site_app, ada) is not None


def age_deletion(app: Any, user_id: int, age: timedelta) -> None:
    """Move a disabled account's deletion request ``age`` into the past."""
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(deleted_at=utcnow() - age))
        db.session.commit()


def purge(app: Any, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=["registration", "purge-deleted", *args])
    assert result.exit_code == 0, result.output + result.stderr
    return result


def test_purge_deletes_only_the_accounts_whose_grace_is_over(site_app: Flask, mailbox: Any) -> None:
    due = [add_user(site_app, f"due{n}@example.com") for n in range(3)]
    waiting = add_user(site_app, "waiting@example.com")
    active = add_user(site_app, "active@example.com")
    for email in ("due0@example.com", "due1@example.com", "due2@example.com", "waiting@example.com"):
        ask_to_delete(site_app, mailbox, email)
    for user_id in due:
        age_deletion(site_app, user_id, GRACE + timedelta(minutes=1))
    hooks = site_app.extensions["registration"].extension
    seen: list[tuple[str, str]] = []
    hooks.before_delete(lambda user: seen.append(("before", user.email)))
    hooks.after_delete(lambda snapshot: seen.append(("after", snapshot.email)))
    mailbox.clear()

    result = purge(site_app, "--batch-size", "2")
    assert "Batch 1: 2 deleted, 0 kept so far." in result.output
    assert "Batch 2: 3 deleted, 0 kept so far." in result.output
    assert "Deleted 3 accounts whose grace period was over." in result.output
    for user_id in due:
        assert rows_of(site_app, user_id, *MODELS) == {"users": 0, "access_tokens": 0, "login_sessions": 0, "oauth": 0}
    assert rows_of(site_app, waiting)["users"] == 1 and deleted_at(site_app, waiting) is not None
    assert rows_of(site_app, active)["users"] == 1 and deleted_at(site_app, active) is None
    assert seen == [(when, f"due{n}@example.com") for n in range(3) for when in ("before", "after")]
    assert mailbox.messages == []  # the owner was told when the deletion was asked for
    assert "Deleted 0 accounts" in purge(site_app).output


def test_purge_keeps_an_account_a_hook_refuses_and_goes_on(site_app: Flask, mailbox: Any) -> None:
    kept, gone = add_user(site_app, "kept@example.com"), add_user(site_app, "gone@example.com")
    for user_id, email in ((kept, "kept@example.com"), (gone, "gone@example.com")):
        ask_to_delete(site_app, mailbox, email)
        age_deletion(site_app, user_id, GRACE * 2)

    @site_app.extensions["registration"].extension.before_delete
    def refuse(user: Any) -> None:
        if user.email == "kept@example.com":
            raise RegistrationError("This account has an unpaid invoice.", code="UNPAID", status=409)

    result = purge(site_app)
    assert f"Kept {kept}\tkept@example.com: This account has an unpaid invoice." in result.stderr
    assert "Deleted 1 account whose grace period was over." in result.output
    assert rows_of(site_app, kept)["users"] == 1 and rows_of(site_app, gone)["users"] == 0


def test_a_signup_during_the_grace_period_answers_as_for_any_taken_address(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    add_user(site_app, "bob@example.com")
    ask_to_delete(site_app, mailbox)
    mailbox.clear()
    answers = {}
    for email in ("ada@example.com", "bob@example.com"):
        r = site_app.test_client().post("/api/users", json={"email": email, "password": "a new password"})
        answers[email] = (r.status_code, sorted(r.get_json()))
    assert answers["ada@example.com"] == answers["bob@example.com"] == (202, ["email", "emailSent", "message"])
    messages = mailbox.wait_for(2)
    assert {m["Subject"] for m in messages} == {"You already have an account"}
    assert rows_of(site_app, ada)["users"] == 1

    # Once purged, the address makes a brand-new account.
    age_deletion(site_app, ada, GRACE * 2)
    purge(site_app)
    mailbox.clear()
    r = site_app.test_client().post("/api/users", json={"email": "ada@example.com", "password": "a new password"})
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert msg["Subject"] == "Confirm your email address"
    with site_app.app_context():
        new = get_state().store.find_by_email("ada@example.com")
        assert new is not None and new.id != ada and new.deleted_at is None and not new.email_verified


def test_the_delete_page_tells_the_grace_period(site_app: Flask, mailbox: Any) -> None:
    ada = add_user(site_app)
    client = site_app.test_client()
    html_login(client)
    page = client.get("/account/delete")
    assert "It will be deleted for good after 7 days" in page.get_data(as_text=True)
    r = client.post("/account/delete", data={"csrf_token": csrf_token(page.data)})
    assert r.status_code == 200 and "Your account will be deleted" in r.get_data(as_text=True)
    assert deleted_at(site_app, ada) is not None
    assert client.get("/account").status_code == 302
    (msg,) = mailbox.wait_for(1)
    assert msg["Subject"] == "Your account will be deleted"


MIGRATION = Path(__file__).resolve().parent.parent / "examples" / "migrations" / "add_deleted_at.py"


def migrate(app: Any, step: str) -> set[str]:
    """Run the example migration's ``step`` on the app's database; return the users
    table's columns and indexes after it."""
    spec = importlib.util.spec_from_file_location("add_deleted_at", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with app.app_context():
        with db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
            getattr(module, step)()
        inspector = sa.inspect(db.engine)
        names = {c["name"] for c in inspector.get_columns("users")}
        names |= {i["name"] or "" for i in inspector.get_indexes("users")}
        db.engine.dispose()
    return names


def test_the_migration_step_adds_the_column_to_an_existing_table(site_app: Flask, mailbox: Any) -> None:
    assert {"deleted_at", "ix_users_deleted_at"} & migrate(site_app, "downgrade") == set()
    assert {"deleted_at", "ix_users_deleted_at"} <= migrate(site_app, "upgrade")
    ada = add_user(site_app)
    r, _ = ask_to_delete(site_app, mailbox)
    assert r.status_code == 202
    age_deletion(site_app, ada, GRACE * 2)
    assert "Deleted 1 account " in purge(site_app).output
    assert rows_of(site_app, ada)["users"] == 0
