"""A provider login of an account with a second factor asks for it, as a password login
does: the provider (Authlib, on a loopback port) stands for the first factor only. The
app and the provider are both served; the browser is ``requests``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import requests
from flask import Flask

from flask_registration import Registration, signals
from flask_registration.state import get_state
from tests.conftest import free_port, serve
from tests.helpers import csrf_token, forget_totp_step
from tests.models import AccessToken, Factor, LoginSession, User, db, make_app
from tests.oauth_provider import OAuth, consent, load_provider_module, local_settings

PASSWORD = "a long enough password"


@pytest.fixture
def served(mailbox: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """The app with third-party login and second factors, and the local provider."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http on loopback
    module = load_provider_module()
    provider = module.create_provider()
    provider_port, app_port = free_port(), free_port()
    local = local_settings(f"http://127.0.0.1:{provider_port}")
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
        "SERVER_NAME": f"127.0.0.1:{app_port}",
        "REGISTRATION_OAUTH_PROVIDERS": {"local": local},
    }
    registration = Registration(
        db=db,
        user_model=User,
        token_model=AccessToken,
        session_model=LoginSession,
        oauth_model=OAuth,
        factor_model=Factor,
    )
    app = make_app(config, registration=registration)
    with app.app_context():
        db.create_all()
    try:
        with serve(provider, provider_port), serve(app, app_port) as base:
            module.register_client(provider, "the-client", "the-secret", [f"{base}/login/local/authorized"])
            yield app, base
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def ada_with_the_app_and_the_provider(app: Flask, base: str) -> str:
    """Ada, verified, logs in with her password, sets the authenticator app up and links
    the provider; return the app's secret."""
    with app.app_context():
        state = get_state(app)
        user = state.store.create({"email": "ada@example.com", "password_hash": state.passwords.hash(PASSWORD)})
        state.store.mark_verified(user)
    with requests.Session() as http:
        assert http.post(f"{base}/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).ok
        csrf = {"X-CSRFToken": http.get(f"{base}/api/users/csrf-token").json()["csrfToken"]}
        secret = str(http.post(f"{base}/api/users/me/totp", headers=csrf).json()["secret"])
        code = pyotp.TOTP(secret).now()
        assert http.post(f"{base}/api/users/me/totp/confirm", json={"code": code}, headers=csrf).status_code == 201
        linked = consent(http, http.get(f"{base}/login/local"), sub="ada-at-provider", email="ada@example.com")
        assert linked.status_code == 200 and linked.url.endswith("/account/connections")
    return secret


def test_a_provider_login_asks_for_the_second_factor(served: Any) -> None:
    app, base = served
    secret = ada_with_the_app_and_the_provider(app, base)
    forget_totp_step(app)  # the enrolment used this time step: the login below may use it

    with requests.Session() as http:
        asked: list[Any] = []
        with signals.second_factor_required.connected_to(lambda _s, **kw: asked.append(kw["provider"]), app):
            page = consent(http, http.get(f"{base}/login/local"), sub="ada-at-provider", email="ada@example.com")
        assert asked == ["local"]
        assert page.status_code == 200 and page.url == f"{base}/login/second-factor"
        assert "Finish logging in" in page.text
        assert http.get(f"{base}/api/users/me").status_code == 401  # not yet

        logged: list[Any] = []
        with signals.oauth_logged_in.connected_to(lambda _s, **kw: logged.append(kw["provider"]), app):
            done = http.post(
                f"{base}/login/second-factor",
                data={"csrf_token": csrf_token(page.text), "code": pyotp.TOTP(secret).now()},
                allow_redirects=False,
            )
        assert done.status_code == 302 and logged == ["local"]
        assert http.get(f"{base}/api/users/me").json()["email"] == "ada@example.com"


def test_a_provider_login_asks_over_json_too(served: Any) -> None:
    app, base = served
    ada_with_the_app_and_the_provider(app, base)
    with requests.Session() as http:
        json_headers = {"Accept": "application/json"}
        answer = consent(
            http,
            http.get(f"{base}/login/local", headers=json_headers),
            sub="ada-at-provider",
            email="ada@example.com",
            headers=json_headers,
        )
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "SECOND_FACTOR_REQUIRED" and error["details"]["methods"] == ["totp", "recovery_code"]
        assert http.get(f"{base}/api/users/me").status_code == 401
