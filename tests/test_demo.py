"""The demo app in examples/basic works as the README promises."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

DEMO = Path(__file__).resolve().parent.parent / "examples" / "basic" / "app.py"


@pytest.fixture(scope="module")
def demo() -> Any:
    spec = importlib.util.spec_from_file_location("flask_registration_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # SQLAlchemy resolves the model's annotations there
    spec.loader.exec_module(module)
    return module


def _csrf(page: bytes) -> str:
    match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1).decode()


def _demo_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "SECRET_KEY": "demo test secret key, long enough",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite'}",
        "REGISTRATION_ARGON2_TIME_COST": 1,
        "REGISTRATION_ARGON2_MEMORY_COST": 8,
        "REGISTRATION_ARGON2_PARALLELISM": 1,
        **extra,
    }


def test_demo_without_mail_server_shows_emails_and_the_whole_flow_works(demo, tmp_path, capsys):
    app = demo.create_app(_demo_config(tmp_path))
    client = app.test_client()
    assert b"/dev/outbox" in client.get("/").data

    page = client.get("/signup").data
    assert b'name="username"' in page
    r = client.post(
        "/signup",
        data={
            "csrf_token": _csrf(page),
            "email": "Demo@Example.com",
            "username": "demo",
            "password": "demo password",
            "password_confirm": "demo password",
        },
    )
    assert r.status_code == 200 and b"Check your email" in r.data

    printed = capsys.readouterr().err
    link = re.search(r"http://localhost/confirm\?\S+", printed)
    assert link, printed
    outbox = client.get("/dev/outbox").data.decode()
    assert link.group(0).replace("&", "&amp;") in outbox

    assert client.get(link.group(0).replace("http://localhost", "")).status_code == 200

    page = client.get("/login").data
    r = client.post(
        "/login", data={"csrf_token": _csrf(page), "email": "demo@example.com", "password": "demo password"}
    )
    assert r.status_code == 302
    home = client.get("/").data
    assert b"Logged in as <strong>demo@example.com</strong>" in home and b"(demo)" in home

    r = client.post("/logout", data={"csrf_token": _csrf(home)})
    assert r.status_code == 302
    assert b"Logged in as" not in client.get("/").data


def test_demo_refuses_a_taken_username(demo, tmp_path):
    app = demo.create_app(_demo_config(tmp_path, WTF_CSRF_ENABLED=False))
    client = app.test_client()
    for n, expected in ((1, 200), (2, 422)):
        r = client.post(
            "/signup",
            data={
                "email": f"user{n}@example.com",
                "username": "same",
                "password": "long enough",
                "password_confirm": "long enough",
            },
        )
        assert r.status_code == expected
    assert b"is already taken" in r.data


def test_demo_with_mail_server_sends_real_mail(demo, tmp_path, mailbox):
    app = demo.create_app(
        _demo_config(tmp_path, MAIL_SERVER=mailbox.host, MAIL_PORT=mailbox.port, MAIL_SUPPRESS_SEND=False)
    )
    client = app.test_client()
    assert client.get("/dev/outbox").status_code == 404
    r = client.post("/api/users", json={"email": "real@example.com", "password": "real password"})
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "real@example.com"
    assert "/confirm?uid=" in mailbox.link(msg)
