"""The demo app in examples/basic works as the README promises."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import press_confirm
from tests.models import CHEAP_ARGON2
from tests.smtp import Mailbox

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
        **CHEAP_ARGON2,
        **extra,
    }


def test_demo_without_mail_server_shows_emails_and_the_whole_flow_works(
    demo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_OUTBOX", "1")  # as scripts/demo.sh does
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

    # The browser that signed up only presses the button.
    assert press_confirm(client, link.group(0)).status_code == 200

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


def test_demo_refuses_a_taken_username(demo: Any, tmp_path: Path) -> None:
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


def test_demo_with_mail_server_sends_real_mail(demo: Any, tmp_path: Path, mailbox: Mailbox) -> None:
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


def test_demo_shows_the_outbox_only_in_debug_testing_or_when_the_demo_command_asks(
    demo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEMO_OUTBOX", raising=False)
    app = demo.create_app(_demo_config(tmp_path))
    client = app.test_client()
    assert client.get("/dev/outbox").status_code == 404
    assert b"/dev/outbox" not in client.get("/").data
    for extra in ({"DEBUG": True}, {"TESTING": True}):
        app = demo.create_app(_demo_config(tmp_path, **extra))
        assert app.test_client().get("/dev/outbox").status_code == 200, extra
    monkeypatch.setenv("DEMO_OUTBOX", "1")
    app = demo.create_app(_demo_config(tmp_path))
    assert app.test_client().get("/dev/outbox").status_code == 200
    assert b"/dev/outbox" in app.test_client().get("/").data


def test_the_demo_command_asks_for_the_outbox_on_loopback_only() -> None:
    script = (DEMO.parents[2] / "scripts" / "demo.sh").read_text()
    (line,) = [line for line in script.splitlines() if "DEMO_OUTBOX=1" in line and not line.startswith("#")]
    for host, expected in (("", "1"), ("127.0.0.1", "1"), ("localhost", "1"), ("::1", "1"), ("0.0.0.0", "")):
        env = {"PATH": "/usr/bin:/bin", **({"HOST": host} if host else {})}
        command = f'{line}\necho "${{DEMO_OUTBOX:-}}"'
        out = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == expected, (host, out.stderr)
    assert "demo.sh" in (DEMO.parents[2] / "README.rst").read_text() and "/dev/outbox" in script


def test_demo_trusts_its_ipv6_loopback_address(
    demo: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMO_OUTBOX", "1")
    app = demo.create_app(_demo_config(tmp_path, WTF_CSRF_ENABLED=False))
    assert "[::1]" in app.config["TRUSTED_HOSTS"]
    client = app.test_client()
    assert client.get("/", headers={"Host": "[::1]:5000"}).status_code == 200
    assert client.get("/", headers={"Host": "[::1]"}).status_code == 200
    assert client.get("/", headers={"Host": "[::2]:5000"}).status_code == 400
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400
    # A signup over IPv6 gets a link to the same address and port.
    r = client.post(
        "/api/users",
        json={"email": "six@example.com", "password": "six password"},
        headers={"Host": "[::1]:5000"},
        environ_overrides={"SERVER_PORT": "5000"},
    )
    assert r.status_code == 202
    assert "http://[::1]:5000/confirm?" in capsys.readouterr().err
