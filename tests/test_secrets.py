"""Secrets stay secret: no password, link token, access token or SECRET_KEY in any log
line (every logger at DEBUG, werkzeug's request log included) or error answer during a
whole flow served over HTTP; a weak SECRET_KEY is refused; the demo's cookies are Secure,
HttpOnly and SameSite."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from flask_registration.logs import redact
from tests.conftest import free_port, serve
from tests.helpers import link_params
from tests.models import CHEAP_ARGON2, db, make_app
from tests.smtp import Mailbox

OLD_PASSWORD = "first secret password"
NEW_PASSWORD = "second secret password"


@pytest.fixture
def served(mailbox: Any, database_url: str) -> Iterator[tuple[Any, str]]:
    port = free_port()
    app = make_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "SERVER_NAME": f"127.0.0.1:{port}",
            "TESTING": False,
            "SECRET_KEY": "a secret key nobody may ever log 7f3a",
        }
    )
    with app.app_context():
        db.create_all()
    with serve(app, port) as base:
        yield app, base
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def test_a_whole_flow_logs_no_secret(served: Any, mailbox: Mailbox, caplog: pytest.LogCaptureFixture) -> None:
    app, base = served
    caplog.set_level(logging.DEBUG)  # every logger: the library's, werkzeug's, SQLAlchemy's...
    secrets: dict[str, str] = {"SECRET_KEY": app.config["SECRET_KEY"], "old": OLD_PASSWORD, "new": NEW_PASSWORD}
    errors: list[str] = []

    # Sign up and verify.
    r = requests.post(f"{base}/api/users", json={"email": "ada@example.com", "password": OLD_PASSWORD}, timeout=10)
    assert r.status_code == 202
    link = mailbox.link(mailbox.wait_for(1)[0], "/confirm")
    secrets["verify token"] = token_of(link)
    assert requests.get(link, timeout=10).status_code == 200  # the page with the button
    r = requests.post(f"{base}/api/users/confirm", json={**link_params(link), "password": OLD_PASSWORD}, timeout=10)
    assert r.status_code == 204

    # Log in, with a wrong password first.
    r = requests.post(f"{base}/api/users/login", json={"email": "ada@example.com", "password": "wrong"}, timeout=10)
    assert r.status_code == 401
    errors.append(r.text)
    r = requests.post(
        f"{base}/api/users/login", json={"email": "ada@example.com", "password": OLD_PASSWORD}, timeout=10
    )
    assert r.status_code == 200
    secrets["access token"] = r.json()["id"]

    # Forgot the password: the link, its page, the new password; the link once more.
    mailbox.clear()
    assert requests.post(f"{base}/api/users/reset", json={"email": "ada@example.com"}, timeout=10).status_code == 204
    link = mailbox.link(mailbox.wait_for(1)[0], "/reset-password")
    secrets["reset token"] = token_of(link)
    assert requests.get(link, timeout=10).status_code == 200
    body = {"token": secrets["reset token"], "newPassword": NEW_PASSWORD}
    assert requests.post(f"{base}/api/users/reset-password", json=body, timeout=10).status_code == 204
    r = requests.post(f"{base}/api/users/reset-password", json=body, timeout=10)
    assert r.status_code == 400
    errors.append(r.text)
    r = requests.get(link, timeout=10)  # the used link's page
    assert r.status_code == 400
    errors.append(r.text)

    # Log in again; change the address with the access token; follow the link.
    r = requests.post(
        f"{base}/api/users/login", json={"email": "ada@example.com", "password": NEW_PASSWORD}, timeout=10
    )
    assert r.status_code == 200
    secrets["second access token"] = r.json()["id"]
    mailbox.clear()
    r = requests.post(
        f"{base}/api/users/change-email",
        json={"newEmail": "ada@new.example", "password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {secrets['second access token']}"},
        timeout=10,
    )
    assert r.status_code == 202
    (msg,) = [m for m in mailbox.wait_for(2) if m["To"] == "ada@new.example"]
    link = mailbox.link(msg, "/confirm-email")
    secrets["change-email token"] = token_of(link)
    assert requests.get(link, timeout=10).status_code == 200  # the page with the button
    r = requests.post(f"{base}/api/users/confirm-email", json=link_params(link), timeout=10)
    assert r.status_code == 204

    # Tampered links and a stale token answer errors that do not repeat them.
    r = requests.get(f"{base}/confirm", params={"uid": "1", "token": secrets["verify token"][:-3] + "xyz"}, timeout=10)
    assert r.status_code == 400
    errors.append(r.text)
    for route, token in (
        ("/api/users/confirm", secrets["verify token"]),
        ("/api/users/confirm-email", secrets["change-email token"]),
    ):
        r = requests.post(f"{base}{route}", json={"uid": "1", "token": token[:-3] + "xyz"}, timeout=10)
        assert r.status_code == 400
        errors.append(r.text)
    r = requests.get(f"{base}/api/users/me", headers={"Authorization": f"Bearer {secrets['access token']}"}, timeout=10)
    assert r.status_code == 401  # the reset revoked it
    errors.append(r.text)

    # Every logger of the app's side. The test's own parts are left out: aiosmtpd's
    # "mail.log" (the receiving mail server logs the mail itself) and urllib3 (the
    # visitor's HTTP client logs the links it follows).
    harness = ("mail.log", "urllib3")
    records = [record for record in caplog.records if not record.name.startswith(harness)]
    logged = "\n".join(
        [logging.Formatter("%(name)s %(message)s %(exc_info)s").format(record) for record in records]
        + [str(record.exc_info) for record in records if record.exc_info]
    )
    assert any('"GET /confirm?uid=' in record.getMessage() for record in records), "no request log captured"
    assert "token=[redacted]" in logged
    for name, value in secrets.items():
        assert value not in logged, f"the {name} is in the logs"
        for page in errors:
            assert value not in page, f"the {name} is in an error answer"
        for tampered in (value[:-3] + "xyz",):
            assert tampered not in logged


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 - - "GET /confirm?uid=1&token=abc.def.ghi HTTP/1.1" 200 -',
        '"GET /reset-password?token=abc HTTP/1.1" 200 -',
        '"GET /login/callback?state=xyz&code=123&scope=email HTTP/1.1" 302 -',
        '"GET /x?TOKEN=abc;access_token=def HTTP/1.1" 200 -',
    ],
)
def test_request_lines_lose_their_secret_values(line: Any) -> None:
    out = redact(line)
    for secret in ("abc", "def", "xyz", "123"):
        assert f"={secret}" not in out
    assert "scope=email" in out or "scope" not in line


# SECRET_KEY.


FIX = "Set it to a long random value, e.g. python -c 'import secrets; print(secrets.token_hex(32))'."


@pytest.mark.parametrize("key", [None, "", "   ", "dev", "Change me", "change-me", "secret", "SECRET_KEY", b"changeme"])
def test_a_missing_or_placeholder_key_is_refused_in_production(key: Any) -> None:
    with pytest.raises(RuntimeError, match="SECRET_KEY is (empty|a well-known placeholder)") as excinfo:
        make_app({"TESTING": False, "SECRET_KEY": key})
    # The message is one of two fixed sentences: it never shows the key.
    assert str(excinfo.value).split(". ", 1)[1] == FIX


@pytest.mark.parametrize("key", ["short key 15 ch.", "x" * 15])
def test_a_short_key_is_refused_in_production(key: Any) -> None:
    key = key[:15]
    with pytest.raises(RuntimeError, match="SECRET_KEY is shorter than 16 characters") as excinfo:
        make_app({"TESTING": False, "SECRET_KEY": key})
    assert key not in str(excinfo.value)


@pytest.mark.parametrize("setting", [{"TESTING": True}, {"TESTING": False, "DEBUG": True}])
def test_testing_and_debug_take_any_key(setting: Any) -> None:
    make_app({**setting, "SECRET_KEY": "dev"})


def test_a_long_random_key_is_taken() -> None:
    make_app({"TESTING": False, "SECRET_KEY": "f" * 8 + "0123456789abcdef"})


# The demo's cookies.


def _demo() -> Any:
    path = Path(__file__).resolve().parent.parent / "examples" / "basic" / "app.py"
    spec = importlib.util.spec_from_file_location("flask_registration_demo", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def test_the_demo_sets_secure_httponly_samesite_cookies(tmp_path: Path) -> None:
    app = _demo().create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite'}",
            "SECRET_KEY": "the demo test's secret key",
            **CHEAP_ARGON2,
            "REGISTRATION_EMAIL_VERIFICATION_REQUIRED": False,
        }
    )
    client = app.test_client()
    assert client.post("/api/users", json={"email": "ada@example.com", "password": OLD_PASSWORD}).status_code == 202
    r = app.test_client().post(
        "/api/users/login", json={"email": "ada@example.com", "password": OLD_PASSWORD, "remember": True}
    )
    assert r.status_code == 200
    cookies = {c.split("=", 1)[0]: c for c in r.headers.getlist("Set-Cookie")}
    assert {"session", "remember_token"} <= set(cookies)
    for cookie in (cookies["session"], cookies["remember_token"]):
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
        assert "secure" in attributes and "httponly" in attributes
        assert attributes["samesite"].lower() == "samesite=lax"
