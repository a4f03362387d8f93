"""REGISTRATION_MAX_BODY_SIZE covers every route of the library, the OAuth and
connections pages included: a body one byte over it is a 413 (LoopBack's
``PAYLOAD_TOO_LARGE`` under the API prefix, a plain page elsewhere), whatever the method,
before a form or a JSON body is read. The app's own routes keep their own limits.

The routes are found by walking ``app.url_map``, so a new one cannot be forgotten."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

from flask_registration import Registration
from tests.models import CHEAP_ARGON2, AccessToken, User, db, make_app
from tests.oauth_provider import OAuth

#: A provider of the app's own (flask-dance's generic blueprint) and a built-in one.
PROVIDERS = {
    "local": {
        "client_id": "id",
        "client_secret": "secret",
        "authorization_url": "http://127.0.0.1:9/authorize",
        "token_url": "http://127.0.0.1:9/token",
        "userinfo_url": "http://127.0.0.1:9/userinfo",
    },
    "github": {"client_id": "gh-id", "client_secret": "gh-secret"},
}

#: Every blueprint the library registers on an app with OAuth set up.
LIBRARY_BLUEPRINTS = {
    "registration",
    "registration_api",
    "registration_oauth",
    "registration_connections",
    "registration_connections_api",
    "registration_profile",
    "registration_profile_api",
    "registration_lifecycle",
    "registration_lifecycle_api",
    "local",
    "github",
}


def oauth_app(database_url: str, **config: Any) -> Flask:
    registration = Registration(db=db, user_model=User, token_model=AccessToken, oauth_model=OAuth)
    app = make_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "REGISTRATION_OAUTH_PROVIDERS": PROVIDERS, **config},
        registration=registration,
    )

    @app.post("/upload")
    def upload() -> str:
        return str(len(request.get_data()))

    with app.app_context():
        db.create_all()
    return app


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = oauth_app(database_url)
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def library_requests(app: Flask) -> list[tuple[str, str, str]]:
    """(blueprint, method, URL) for every method of every route the library registered."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if "." not in rule.endpoint:  # the app's own routes (and static) have no blueprint
            continue
        blueprint = rule.endpoint.rsplit(".", 1)[0]
        values = {name: "local" if name == "provider" else "1" for name in rule.arguments}
        url = adapter.build(rule.endpoint, values)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((blueprint, method, url))
    return found


def too_large(app: Flask) -> bytes:
    limit = int(app.config["REGISTRATION_MAX_BODY_SIZE"])
    return b"email=" + b"x" * (limit + 1 - len(b"email="))


def test_every_library_route_refuses_a_body_over_the_limit(app: Flask) -> None:
    routes = library_requests(app)
    assert {blueprint for blueprint, _, _ in routes} == LIBRARY_BLUEPRINTS
    body = too_large(app)
    assert len(body) == app.config["REGISTRATION_MAX_BODY_SIZE"] + 1
    api_prefix = app.config["REGISTRATION_API_PREFIX"]
    wrong = []
    for blueprint, method, url in routes:
        r = app.test_client().open(url, method=method, data=body, content_type="application/x-www-form-urlencoded")
        if r.status_code != 413:
            wrong.append((blueprint, method, url, r.status_code))
            continue
        assert b"Traceback" not in r.data
        if url.startswith(api_prefix + "/") or url == api_prefix:
            assert r.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE", url
        else:
            assert r.mimetype == "text/html", url
    assert wrong == []


@pytest.mark.parametrize("path", ["/login/local/email", "/account/connections/local/unlink"])
def test_a_body_at_the_limit_is_read(app: Flask, path: Any) -> None:
    # One byte less gets past the size check, to the page's own answer.
    body = too_large(app)[:-1]
    r = app.test_client().post(path, data=body, content_type="application/x-www-form-urlencoded")
    assert r.status_code != 413


def test_the_apps_own_routes_keep_their_own_limit(app: Flask) -> None:
    body = b"x" * (4 * app.config["REGISTRATION_MAX_BODY_SIZE"])
    r = app.test_client().post("/upload", data=body, content_type="application/octet-stream")
    assert r.status_code == 200 and r.data == str(len(body)).encode()


def test_the_limit_holds_when_csrfprotect_was_set_up_first(database_url: str) -> None:
    """CSRFProtect reads the form of every POST to find its token: set up before the
    extension, its check runs first, and would read the whole body before a limit set in
    a ``before_request`` of ours."""
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="test secret key of the suite",
        SERVER_NAME="localhost",
        SQLALCHEMY_DATABASE_URI=database_url,
        REGISTRATION_RATE_LIMITS_ENABLED=False,
        **CHEAP_ARGON2,
    )
    CSRFProtect(app)
    db.init_app(app)
    Registration(db=db, user_model=User).init_app(app)
    limit = int(app.config["REGISTRATION_MAX_BODY_SIZE"])
    # A file part: the form parser spools it, whatever its size, where no limit is set.
    data = {"email": "a@example.com", "file": (io.BytesIO(b"x" * limit), "big.bin")}
    r = app.test_client().post("/login", data=data, content_type="multipart/form-data")
    assert r.status_code == 413
