"""examples/quickstart/app.py, the code docs/quickstart.rst shows, works as the page says:
emails printed, the button pressed, login, logout; real mail once MAIL_SERVER is set."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import csrf_token, press_confirm
from tests.smtp import Mailbox

#: Half a second or more per test: out of the fast loop (``-m "not slow"``).
pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart" / "app.py"
ENV = ("SECRET_KEY", "MAIL_SERVER", "MAIL_PORT", "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_USE_TLS")


def load(folder: Path, name: str = "quickstart_app") -> Any:
    """Import a copy of the quickstart's app.py from ``folder``, so its instance folder
    (database, secret key) is ``folder/instance``."""
    shutil.copy(QUICKSTART, folder / "app.py")
    spec = importlib.util.spec_from_file_location(f"{name}_{folder.name}", folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # SQLAlchemy resolves the models' annotations there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in ENV:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_the_quickstart_prints_the_email_and_signup_confirm_login_logout_work(
    tmp_path: Path, clean_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    app = load(tmp_path).app
    client = app.test_client()
    assert b"Sign up" in client.get("/").data
    assert client.get("/private").status_code == 302

    page = client.get("/signup").data
    form = {"email": "new@example.com", "password": "quickstart pw", "password_confirm": "quickstart pw"}
    r = client.post("/signup", data={**form, "csrf_token": csrf_token(page)})
    assert r.status_code == 200 and b"Check your email" in r.data

    printed = capsys.readouterr().out
    assert "--- email to new@example.com" in printed
    link = re.search(r"http://localhost/confirm\?\S+", printed)
    assert link, printed
    assert press_confirm(client, link.group(0)).status_code == 200

    page = client.get("/login").data
    r = client.post(
        "/login", data={"csrf_token": csrf_token(page), "email": "new@example.com", "password": "quickstart pw"}
    )
    assert r.status_code == 302
    home = client.get("/")
    assert b"Hello new@example.com" in home.data
    assert client.get("/private").data == b"Only for logged-in users."

    r = client.post("/logout", data={"csrf_token": csrf_token(home.data)})
    assert r.status_code == 302
    assert b"Sign up" in client.get("/").data
    assert client.get("/private").status_code == 302


def test_the_quickstart_keeps_its_secret_key_so_links_survive_a_restart(tmp_path: Path, clean_env: Any) -> None:
    first = load(tmp_path, "first").app
    again = load(tmp_path, "again").app
    assert first.config["SECRET_KEY"] == again.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
    clean_env.setenv("SECRET_KEY", "a key from the environment, long enough")
    assert load(tmp_path, "env").app.config["SECRET_KEY"] == "a key from the environment, long enough"


def test_the_quickstart_sends_real_mail_once_mail_server_is_set(
    tmp_path: Path, clean_env: Any, mailbox: Mailbox, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("MAIL_SERVER", mailbox.host)
    clean_env.setenv("MAIL_PORT", str(mailbox.port))
    app = load(tmp_path).app
    r = app.test_client().post("/api/users", json={"email": "smtp@example.com", "password": "quickstart pw"})
    assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "smtp@example.com" and "/confirm?uid=" in mailbox.link(msg)
    assert "--- email to" not in capsys.readouterr().out
