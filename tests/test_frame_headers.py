"""Every answer of the library's blueprints says that only this site may frame it
(clickjacking), and a header the app set itself is kept."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_registration import Registration
from tests.models import AccessToken, User, db, make_app
from tests.oauth_provider import OAuth

CSP = "frame-ancestors 'self'"
LOCAL = {
    "client_id": "id",
    "client_secret": "secret",
    "authorization_url": "http://127.0.0.1:9/authorize",
    "token_url": "http://127.0.0.1:9/token",
    "userinfo_url": "http://127.0.0.1:9/userinfo",
}


@pytest.fixture
def oauth_app(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Any:
    """An app with every blueprint of the library: the pages, the API, a provider
    (flask-dance), the address page and the connections pages."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    registration = Registration(db=db, user_model=User, token_model=AccessToken, oauth_model=OAuth)
    app = make_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "REGISTRATION_OAUTH_PROVIDERS": {"local": LOCAL}},
        registration=registration,
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def _library_requests(app: Any) -> list[tuple[str, str]]:
    """One (method, path) per route of the library's blueprints, GET when it takes one."""
    ours = app.extensions["registration"].blueprints
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.rpartition(".")[0] not in ours:
            continue
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"HEAD", "OPTIONS"})[0]
        values = {name: "local" if name == "provider" else "1" for name in rule.arguments}  # "1": also an <int:id>
        path = app.url_map.bind("localhost").build(rule.endpoint, values, method=method)
        found.append((method, path))
    return found


def test_every_library_route_answers_with_both_headers(oauth_app: Flask) -> None:
    requests = _library_requests(oauth_app)
    blueprints = oauth_app.extensions["registration"].blueprints
    # All of them: our pages and API, the OAuth and connections ones, flask-dance's.
    assert {"registration", "registration_api", "registration_oauth", "registration_connections", "local"} <= blueprints
    assert len(requests) > 20
    for method, path in requests:
        r = oauth_app.test_client().open(path, method=method)
        assert r.headers.get("Content-Security-Policy") == CSP, (method, path, r.status_code)
        assert r.headers.get("X-Frame-Options") == "SAMEORIGIN", (method, path, r.status_code)


def test_the_pages_a_person_sees_carry_them(client: Any) -> None:
    for path in ("/signup", "/login", "/resend", "/forgot", "/confirm?uid=1&token=x", "/api/users/nothing-here"):
        r = client.get(path)
        assert r.headers["Content-Security-Policy"] == CSP and r.headers["X-Frame-Options"] == "SAMEORIGIN", path


def test_the_apps_own_pages_are_left_alone(client: Any) -> None:
    r = client.get("/")
    assert "Content-Security-Policy" not in r.headers and "X-Frame-Options" not in r.headers


def test_headers_the_app_set_are_kept(app: Flask, client: Any) -> None:
    @app.after_request
    def own_policy(response: Any) -> Any:
        response.headers["Content-Security-Policy"] = "default-src 'self'"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    r = client.get("/signup")
    assert r.headers["Content-Security-Policy"] == "default-src 'self'"
    assert r.headers["X-Frame-Options"] == "DENY"
