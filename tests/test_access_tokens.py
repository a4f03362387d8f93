"""Access tokens for JSON clients (LoopBack's ``AccessToken``): issued at login, stored
only as a SHA-256, accepted in the ``Authorization`` header, revoked at logout."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import flask_login
import pytest
from flask import Flask
from sqlalchemy import text

from flask_registration.models import as_utc, utcnow
from tests.helpers import add_user
from tests.models import AccessToken, db

PASSWORD = "correct horse"
YEAR = int(timedelta(days=365).total_seconds())


def log_in(client: Any, **extra: Any) -> Any:
    return client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD, **extra})


def new_token(app: Flask, **extra: Any) -> str:
    r = log_in(app.test_client(), **extra)
    assert r.status_code == 200
    return str(r.json["id"])


def me_status(app: Flask, authorization: str) -> int:
    return int(app.test_client().get("/api/users/me", headers={"Authorization": authorization}).status_code)


def rows(app: Flask) -> list[AccessToken]:
    with app.app_context():
        found = db.session.scalars(db.select(AccessToken)).all()
        db.session.expunge_all()
        return list(found)


@pytest.fixture
def ada(app: Flask) -> None:
    add_user(app)


def test_login_returns_loopbacks_access_token(app: Flask, client: Any, ada: Any) -> None:
    r = log_in(client)
    assert r.status_code == 200
    body = r.json
    assert set(body) == {"id", "ttl", "created", "userId", "user"}
    assert isinstance(body["id"], str) and len(body["id"]) >= 40
    assert body["ttl"] == 1209600
    created = datetime.fromisoformat(body["created"])
    assert created.utcoffset() == timedelta(0)
    assert created == as_utc(rows(app)[0].created_at)
    assert body["userId"] == body["user"]["id"] and body["user"]["email"] == "ada@example.com"


def test_each_login_gets_a_new_token(app: Flask, ada: Any) -> None:
    assert new_token(app) != new_token(app)
    assert len(rows(app)) == 2


def test_only_the_sha256_of_the_token_is_stored(app: Flask, ada: Any, database_url: str) -> None:
    token = new_token(app)
    (row,) = rows(app)
    assert row.id == hashlib.sha256(token.encode()).hexdigest()
    with app.app_context():
        stored = db.session.execute(text("SELECT * FROM access_tokens")).all()
    assert token not in repr(stored)
    if database_url.startswith("sqlite:///"):
        with open(database_url.removeprefix("sqlite:///"), "rb") as f:
            assert token.encode() not in f.read()


@pytest.mark.parametrize("scheme", ["Bearer {}", "bearer {}", "{}"], ids=["bearer", "lower-case-bearer", "raw"])
def test_token_in_the_authorization_header_authenticates(app: Flask, ada: Any, scheme: Any) -> None:
    token = new_token(app)
    r = app.test_client().get("/api/users/me", headers={"Authorization": scheme.format(token)})
    assert r.status_code == 200 and r.json["email"] == "ada@example.com"


@pytest.mark.parametrize(
    "value",
    ["Bearer garbage", "Bearer " + "x" * 43, "Basic YWRhOmNvcnJlY3QgaG9yc2U=", "Bearer "],
    ids=["short-garbage", "unknown", "basic-auth", "empty-bearer"],
)
def test_a_garbage_token_is_a_401(app: Flask, ada: Any, value: Any) -> None:
    new_token(app)
    assert me_status(app, value) == 401


def test_a_revoked_token_is_a_401(app: Flask, ada: Any) -> None:
    token = new_token(app)
    r = app.test_client().post("/api/users/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    assert me_status(app, f"Bearer {token}") == 401
    assert rows(app) == []


def test_an_expired_token_is_a_401_and_its_row_goes(app: Flask, ada: Any) -> None:
    token = new_token(app, ttl=60)
    assert me_status(app, f"Bearer {token}") == 200
    with app.app_context():
        db.session.execute(db.update(AccessToken).values(created_at=utcnow() - timedelta(seconds=61)))
        db.session.commit()
    assert me_status(app, f"Bearer {token}") == 401
    assert rows(app) == []


def test_a_token_just_inside_its_ttl_still_works(app: Flask, ada: Any) -> None:
    token = new_token(app, ttl=60)
    with app.app_context():
        db.session.execute(db.update(AccessToken).values(created_at=utcnow() - timedelta(seconds=50)))
        db.session.commit()
    assert me_status(app, f"Bearer {token}") == 200


def test_ttl_up_to_the_maximum_is_granted(app: Flask, ada: Any) -> None:
    r = log_in(app.test_client(), ttl=YEAR)
    assert r.status_code == 200 and r.json["ttl"] == YEAR
    assert rows(app)[0].ttl == YEAR


@pytest.mark.parametrize(
    "ttl", [YEAR + 1, 0, -5, 3600.5, "3600", True], ids=["over-max", "zero", "negative", "float", "string", "bool"]
)
def test_a_bad_ttl_is_a_422_and_starts_no_session(app: Flask, client: Any, ada: Any, ttl: Any) -> None:
    r = log_in(client, ttl=ttl)
    assert r.status_code == 422
    assert list(r.json["error"]["details"]["codes"]) == ["ttl"]
    assert client.get_cookie("session") is None
    assert client.get("/api/users/me").status_code == 401
    assert rows(app) == []


@pytest.mark.app_config(REGISTRATION_ACCESS_TOKEN_MAX_TTL=timedelta(weeks=3))
def test_the_maximum_ttl_is_configurable(app: Flask, client: Any, ada: Any) -> None:
    assert log_in(client, ttl=int(timedelta(weeks=3).total_seconds()) + 1).status_code == 422
    assert log_in(app.test_client(), ttl=int(timedelta(weeks=3).total_seconds())).status_code == 200


def test_logout_with_a_token_revokes_only_that_token(app: Flask, ada: Any) -> None:
    first, second = new_token(app), new_token(app)
    r = app.test_client().post("/api/users/logout", headers={"Authorization": first})
    assert r.status_code == 204
    assert me_status(app, f"Bearer {first}") == 401
    assert me_status(app, f"Bearer {second}") == 200
    assert len(rows(app)) == 1


def test_a_token_request_needs_no_csrf_token_even_with_a_session_cookie(app: Flask, client: Any, ada: Any) -> None:
    r = log_in(client)
    token = r.json["id"]
    assert client.get_cookie("session") is not None
    # The cookie alone is not enough without the CSRF header...
    assert client.post("/api/users/change-email/cancel").status_code == 403
    # ...but a request that carries the token is authenticated by it alone.
    r = client.post("/api/users/change-email/cancel", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204


def test_a_bad_token_beside_a_session_cookie_does_not_fall_back_to_the_cookie(
    app: Flask, client: Any, ada: Any
) -> None:
    assert log_in(client).status_code == 200
    assert client.get("/api/users/me").status_code == 200
    r = client.post("/api/users/change-email/cancel", headers={"Authorization": "Bearer not-a-token-at-all"})
    assert r.status_code == 401 and r.json["error"]["code"] == "AUTHORIZATION_REQUIRED"


def test_the_apps_own_login_required_route_accepts_a_token(app: Flask, ada: Any) -> None:
    @app.get("/mine")
    @flask_login.login_required
    def mine() -> str:
        return f"mine: {flask_login.current_user.email}"

    token = new_token(app)
    r = app.test_client().get("/mine", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.data == b"mine: ada@example.com"
    assert app.test_client().get("/mine").status_code == 302
    assert app.test_client().get("/mine", headers={"Authorization": "Bearer " + "x" * 43}).status_code == 302
    app.test_client().post("/api/users/logout", headers={"Authorization": token})
    assert app.test_client().get("/mine", headers={"Authorization": token}).status_code == 302
