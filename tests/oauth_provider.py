"""The real parts of the OAuth tests: the local Authlib provider of ``examples/oauth``
served on a loopback port, the app served on another, and a dance run with ``requests``
the way a browser runs it (redirects followed, each server's cookies kept).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import select

from flask_registration import OAuthMixin, Registration
from tests.conftest import free_port, serve
from tests.models import AccessToken, User, db, make_app
from tests.smtp import Mailbox

PASSWORD = "a long enough password"

PROVIDER_FILE = Path(__file__).resolve().parent.parent / "examples" / "oauth" / "provider.py"


def load_provider_module() -> Any:
    """``examples/oauth/provider.py``, imported once."""
    name = "flask_registration_example_provider"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PROVIDER_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class OAuth(db.Model, OAuthMixin):  # type: ignore[name-defined]
    """The tests' OAuth model, beside tests.models.User."""

    __tablename__ = "oauth"
    __user_tablename__ = "users"


def consent(
    http: requests.Session,
    page: requests.Response,
    *,
    sub: str,
    email: str | None = None,
    verified: bool = False,
    name: str = "",
    decision: str = "allow",
    **kwargs: Any,
) -> requests.Response:
    """Answer the provider's consent page as a person would; follow every redirect."""
    assert page.status_code == 200, page.text
    assert "wants to know who you are" in page.text, page.text[:500]
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    url = urljoin(page.url, action.group(1).replace("&amp;", "&"))
    form = {"sub": sub, "name": name, "email": email or "", "decision": decision}
    if verified:
        form["email_verified"] = "1"
    return http.post(url, data=form, **kwargs)


def dance(http: requests.Session, start: str, **person: Any) -> requests.Response:
    """Start at ``start`` (``.../login/local``), consent as ``person``, end where the app sends us."""
    headers = person.pop("headers", None)
    page = http.get(start, headers=headers)
    return consent(http, page, headers=headers, **person)


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@dataclass
class Site:
    """The app and the provider, both served."""

    app: Flask
    url: str
    provider: Flask
    provider_url: str
    registration: Registration

    def login_url(self, **query: str) -> str:
        return f"{self.url}/login/local" + (f"?{urlencode(query)}" if query else "")

    def users(self) -> list[Any]:
        with self.app.app_context():
            found = list(db.session.scalars(select(User).order_by(User.id)))
            db.session.expunge_all()
            return found

    def identities(self) -> list[tuple[str, str, int]]:
        with self.app.app_context():
            rows = db.session.scalars(select(OAuth).order_by(OAuth.id))
            return [(r.provider, r.provider_user_id, r.user_id) for r in rows]

    def token_of(self, provider_user_id: str) -> dict[str, Any]:
        with self.app.app_context():
            row = db.session.scalars(select(OAuth).filter_by(provider_user_id=provider_user_id)).one()
            return dict(row.token)

    def add_user(self, email: str, *, verified: bool, password: str | None = PASSWORD) -> int:
        with self.app.app_context():
            state = self.app.extensions["registration"]
            user = User(
                email=email,
                password_hash=state.passwords.hash(password) if password else None,
                email_verified_at=None,
            )
            db.session.add(user)
            db.session.commit()
            if verified:
                state.store.mark_verified(user)
            return int(user.id)

    def me(self, http: requests.Session) -> requests.Response:
        return http.get(f"{self.url}/api/users/me", headers={"Accept": "application/json"})

    def press_oauth_link(self, http: requests.Session, link: str) -> requests.Response:
        """Open a pending login's emailed link in ``http`` and press its button."""
        page = http.get(link)
        assert page.status_code == 200, page.text
        token = parse_qs(urlsplit(link).query)["token"][0]
        return http.post(link.split("?")[0], data={"csrf_token": csrf_token(page.text), "token": token})

    def log_in(self, http: requests.Session, email: str, password: str = PASSWORD) -> None:
        r = http.post(f"{self.url}/api/users/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text


def local_settings(provider_url: str) -> dict[str, Any]:
    """``REGISTRATION_OAUTH_PROVIDERS["local"]`` for the local provider served at
    ``provider_url``, registered with the client ``the-client``/``the-secret``."""
    return {
        "title": "Local provider",
        "client_id": "the-client",
        "client_secret": "the-secret",
        "authorization_url": f"{provider_url}/authorize",
        "token_url": f"{provider_url}/token",
        "userinfo_url": f"{provider_url}/userinfo",
        "scope": ["openid", "profile", "email"],
    }


def serve_site(mailbox: Mailbox, database_url: str, request: pytest.FixtureRequest) -> Iterator[Site]:
    """The app (with third-party login, the test's ``app_config`` markers applied) and
    the local provider, both served on loopback ports; for a fixture to yield from."""
    provider_module = load_provider_module()
    provider = provider_module.create_provider()
    provider_port, app_port = free_port(), free_port()
    settings = local_settings(f"http://127.0.0.1:{provider_port}")
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
        "SERVER_NAME": f"127.0.0.1:{app_port}",
        "REGISTRATION_POST_LOGIN_REDIRECT": "/",
    }
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        config.update(marker.kwargs)
    settings.update(config.pop("local_settings", {}))
    config["REGISTRATION_OAUTH_PROVIDERS"] = {"local": settings}
    registration = Registration(db=db, user_model=User, token_model=AccessToken, oauth_model=OAuth)
    app = make_app(config, registration=registration)
    with app.app_context():
        db.create_all()
    with serve(provider, provider_port) as provider_base, serve(app, app_port) as base:
        # The client's real redirect URI, now that the app has its port.
        provider_module.register_client(provider, "the-client", "the-secret", [f"{base}/login/local/authorized"])
        yield Site(app, base, provider, provider_base, registration)
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()
