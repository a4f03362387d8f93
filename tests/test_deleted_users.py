"""No credential outlives its user, on any database: deleting an account deletes its
linked identities, access tokens and session rows, SQLite enforces foreign keys, and a
user id is never given out twice (so nothing left behind can pass to the next signup)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from flask_registration import get_state
from tests.models import AccessToken, User, db
from tests.oauth_provider import OAuth
from tests.smtp import Mailbox

PASSWORD = "correct horse"
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def purge(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["registration", "purge-unverified", "--older-than", "30d"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_a_purged_account_passes_no_identity_or_token_to_the_next_signup(oauth_app: Flask, mailbox: Mailbox) -> None:
    app = oauth_app
    # Someone signs up with an address that is not theirs, links their provider account
    # and logs in with a token; the address is never verified.
    with app.app_context():
        state = get_state()
        squatter = state.store.create({"email": "victim@example.com", "password_hash": state.passwords.hash(PASSWORD)})
        db.session.add(OAuth(provider="local", provider_user_id="squatter", user_id=squatter.id, token={}))
        state.store.create_token(squatter, 3600)
        db.session.execute(update(User).where(User.id == squatter.id).values(created_at=LONG_AGO))
        db.session.commit()
        squatter_id = squatter.id
    assert "Deleted 1 unverified account" in purge(app)

    r = app.test_client().post("/api/users", json={"email": "next@example.com", "password": PASSWORD})
    assert r.status_code == 202
    with app.app_context():
        newcomer = get_state().store.find_by_email("next@example.com")
        assert newcomer.id != squatter_id  # an id is never given out twice
        assert get_state().oauth.identities.of_user(newcomer) == []
        assert count(OAuth) == 0 and count(AccessToken) == 0


def test_deleting_a_user_through_the_identity_store_deletes_its_credentials(oauth_app: Flask) -> None:
    app = oauth_app
    with app.app_context():
        state = get_state()
        user = state.store.create({"email": "ada@example.com", "password_hash": None})
        db.session.add(OAuth(provider="local", provider_user_id="ada", user_id=user.id, token={}))
        state.store.create_token(user, 3600)
        state.oauth.identities.delete_user(user)
        assert count(User) == 0 and count(OAuth) == 0 and count(AccessToken) == 0


def test_the_database_refuses_a_credential_of_no_user(oauth_app: Flask) -> None:
    # SQLite checks foreign keys only when told to: the extension tells every connection.
    with oauth_app.app_context():
        db.session.add(AccessToken(id="0" * 64, user_id=12345, ttl=60, created_at=LONG_AGO))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


@pytest.mark.app_config(REGISTRATION_EMAIL_VERIFICATION_REQUIRED=False)
def test_a_purged_account_leaves_no_session_row(app: Flask, client: Any) -> None:
    from tests.models import LoginSession

    r = client.post("/api/users", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 202
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD, "remember": True})
    assert r.status_code == 200
    with app.app_context():
        assert count(LoginSession) == 1
        db.session.execute(update(User).values(created_at=LONG_AGO))
        db.session.commit()
    assert "Deleted 1 unverified account" in purge(app)
    with app.app_context():
        assert count(LoginSession) == 0 and count(AccessToken) == 0
    assert client.get("/api/users/me").status_code == 401


def test_the_user_table_never_reuses_an_id_on_sqlite() -> None:
    # AUTOINCREMENT: SQLite otherwise gives the highest deleted id to the next row.
    assert User.__table__.dialect_options["sqlite"]["autoincrement"] is True
