"""Exporting an account's data (``GET /api/users/{id}/export``, ``GET
/api/users/me/export`` and the ``/account/export`` page): only the owner; a JSON file
with the profile, dates, pending change, live sessions and tokens (metadata only) and
linked identities (no OAuth token), plus the app's rows from ``export_data`` hooks and
plug-ins' sections; never a secret; rate-limited per user."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import update

from flask_registration.flows import export
from flask_registration.models import as_utc
from flask_registration.session_store import session_digest
from flask_registration.store import token_digest
from tests.helpers import (
    PASSWORD,
    add_user,
    api_login,
    csrf_token,
    full_app,
    html_login,
    limited_app,
    user_row,
)
from tests.models import User, db
from tests.oauth_provider import OAuth

PROVIDER_TOKEN = "gho_the-providers-secret-token-1234"


@pytest.fixture
def site_app(database_url: str, mailbox: Any) -> Iterator[Flask]:
    with full_app(database_url, mailbox) as app:
        yield app


def error(r: Any) -> tuple[int, str]:
    return r.status_code, r.get_json()["error"]["code"]


def session_id_of(app: Any, client: Any) -> str:
    """The session id (a secret) in ``client``'s session cookie."""
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return str(serializer.loads(cookie.value)["_user_id"].rsplit(":", 1)[1])


def prepare_ada(app: Any) -> int:
    """Ada, verified, with a username, a pending change of address and a linked provider."""
    ada = add_user(app)
    with app.app_context():
        db.session.execute(update(User).where(User.id == ada).values(username="ada", pending_email="ada@new.example"))
        token = {"access_token": PROVIDER_TOKEN, "refresh_token": "refresh-secret-5678", "token_type": "bearer"}
        db.session.add(OAuth(provider="local", provider_user_id="ada-at-local", user_id=ada, token=token))
        db.session.commit()
    return ada


def test_only_the_owner_exports(site_app: Flask) -> None:
    ada = add_user(site_app)
    bob = add_user(site_app, "bob@example.com")
    anonymous = site_app.test_client()
    for path in ("/api/users/me/export", f"/api/users/{ada}/export"):
        assert error(anonymous.get(path)) == (401, "AUTHORIZATION_REQUIRED")
    client = site_app.test_client()
    api_login(client)
    answers = [client.get(f"/api/users/{user_id}/export") for user_id in (bob, bob + 1000)]
    assert [error(r) for r in answers] == [(401, "AUTHORIZATION_REQUIRED")] * 2
    assert len({r.data for r in answers}) == 1  # nothing tells which ids exist
    assert error(client.get("/api/users/bob/export")) == (404, "NOT_FOUND")
    assert client.get(f"/api/users/{ada}/export").status_code == 200


def test_the_export_holds_what_the_library_stores(site_app: Flask) -> None:
    ada = prepare_ada(site_app)
    client = site_app.test_client()
    api_login(client)
    token = api_login(site_app.test_client())  # a second session and token
    r = client.get(f"/api/users/{ada}/export")
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["Content-Disposition"].startswith(f'attachment; filename="account-{ada}-')
    assert r.headers["Cache-Control"] == "no-store"
    data = json.loads(r.data)
    assert data["format"] == "flask-registration-export/1"
    created = as_utc(user_row(site_app, ada).created_at).isoformat()
    assert data["user"] == {
        "id": ada,
        "email": "ada@example.com",
        "emailVerified": True,
        "emailVerifiedAt": created,  # add_user verifies at creation
        "createdAt": created,
        "pendingEmail": "ada@new.example",
        "hasPassword": True,
        "username": "ada",
    }
    assert [s["current"] for s in data["sessions"]] == [True, False]
    assert all(set(s) == {"createdAt", "expiresAt", "current"} for s in data["sessions"])
    assert [t["current"] for t in data["accessTokens"]] == [False, False]  # this request used the cookie
    assert all(set(t) == {"createdAt", "ttl", "expiresAt", "current"} for t in data["accessTokens"])
    assert data["identities"] == [
        {"provider": "local", "providerUserId": "ada-at-local", "linkedAt": data["identities"][0]["linkedAt"]}
    ]
    assert data["identities"][0]["linkedAt"] is not None

    # With an access token, that token is the current one, and there is no current session.
    by_token = site_app.test_client().get("/api/users/me/export", headers={"Authorization": f"Bearer {token}"})
    data = json.loads(by_token.data)
    assert [t["current"] for t in data["accessTokens"]] == [False, True]
    assert not any(s["current"] for s in data["sessions"])


def test_the_export_holds_no_secret(site_app: Flask) -> None:
    ada = prepare_ada(site_app)
    client = site_app.test_client()
    token = api_login(client)
    other = site_app.test_client()
    other_token = api_login(other)
    body = client.get("/api/users/me/export").get_data(as_text=True)
    user = user_row(site_app, ada)
    assert user.password_hash is not None
    password_hash, stamp = user.password_hash, user.auth_stamp
    session_ids = [session_id_of(site_app, c) for c in (client, other)]
    secrets = {
        "the password": PASSWORD,
        "the password hash": password_hash,
        "the auth stamp": stamp,
        "the provider's token": PROVIDER_TOKEN,
        "the provider's refresh token": "refresh-secret-5678",
        **{f"access token {n}": t for n, t in enumerate((token, other_token))},
        **{f"access token digest {n}": token_digest(t) for n, t in enumerate((token, other_token))},
        **{f"session id {n}": s for n, s in enumerate(session_ids)},
        **{f"session digest {n}": session_digest(s) for n, s in enumerate(session_ids)},
    }
    assert all(len(value) >= 8 for value in secrets.values())
    assert [name for name, value in secrets.items() if value in body] == []
    assert "token" not in json.loads(body)["identities"][0]


def test_hooks_and_plugins_add_the_apps_rows(site_app: Flask) -> None:
    ada = add_user(site_app)

    @site_app.extensions["registration"].extension.export_data
    def orders(user: Any, data: dict[str, Any]) -> None:
        data["orders"] = [
            {"number": 7, "placed": datetime(2024, 5, 1, 12, 0, tzinfo=UTC), "total": Decimal("12.50")},
            {"number": 8, "placed": date(2024, 6, 2), "tags": ("gift",)},
        ]

    export.add_section(site_app, "factors", lambda user: [{"name": "authenticator app", "addedAt": None}])
    with pytest.raises(ValueError, match="already has a 'factors' section"):
        export.add_section(site_app, "factors", lambda user: [])
    with pytest.raises(ValueError, match="already has a 'user' section"):
        export.add_section(site_app, "user", lambda user: {})

    client = site_app.test_client()
    api_login(client)
    data = json.loads(client.get(f"/api/users/{ada}/export").data)
    assert data["orders"] == [
        {"number": 7, "placed": "2024-05-01T12:00:00+00:00", "total": "12.50"},
        {"number": 8, "placed": "2024-06-02", "tags": ["gift"]},
    ]
    assert data["factors"] == [{"name": "authenticator app", "addedAt": None}]


def test_the_export_page_downloads_the_file_with_a_post(site_app: Flask) -> None:
    add_user(site_app)
    client = site_app.test_client()
    assert client.get("/account/export").status_code == 302  # log in first
    html_login(client)
    page = client.get("/account/export")
    assert page.status_code == 200 and 'action="/account/export"' in page.get_data(as_text=True)
    r = client.post("/account/export", data={})
    assert r.status_code == 400 and r.mimetype == "text/html"  # no CSRF token: no file
    r = client.post("/account/export", data={"csrf_token": csrf_token(page.data)})
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment; ")
    assert json.loads(r.data)["user"]["email"] == "ada@example.com"


def test_exports_are_rate_limited_per_user(database_url: str, mailbox: Any) -> None:
    app = limited_app(database_url, mailbox, "memory://", REGISTRATION_RATE_LIMITS={"export_per_user": "2 per hour"})
    try:
        ada = add_user(app)
        add_user(app, "bob@example.com")
        client = app.test_client()
        api_login(client)
        token = api_login(app.test_client())
        assert client.get("/api/users/me/export").status_code == 200
        bearer = {"Authorization": f"Bearer {token}"}
        assert app.test_client().get(f"/api/users/{ada}/export", headers=bearer).status_code == 200
        # The third, whichever way it comes (the page too), is refused.
        r = client.get("/api/users/me/export")
        assert error(r) == (429, "TOO_MANY_REQUESTS") and int(r.headers["Retry-After"]) > 0
        r = client.post("/account/export", data={"submit": "1"})
        assert r.status_code == 429 and "Too many attempts" in r.get_data(as_text=True)
        # Another user has a bucket of their own.
        bob = app.test_client()
        api_login(bob, "bob@example.com")
        assert bob.get("/api/users/me/export").status_code == 200
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
