"""The tutorial's final code works as docs/tutorial.rst says, over the real SMTP server."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import press_confirm

TUTORIAL = Path(__file__).resolve().parent.parent / "examples" / "tutorial" / "app.py"


@pytest.fixture(scope="module")
def tutorial() -> Any:
    spec = importlib.util.spec_from_file_location("flask_registration_tutorial", TUTORIAL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def notes_app(tutorial, tmp_path, mailbox):
    return tutorial.create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'notes.sqlite'}",
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "MAIL_SUPPRESS_SEND": False,
            "WTF_CSRF_ENABLED": False,
            "REGISTRATION_ARGON2_TIME_COST": 1,
            "REGISTRATION_ARGON2_MEMORY_COST": 8,
            "REGISTRATION_ARGON2_PARALLELISM": 1,
        }
    )


def _signup(client, **data):
    form = {"email": "lin@example.com", "password": "notes password", "password_confirm": "notes password"}
    return client.post("/signup", data={**form, **data})


def test_signup_verify_login_and_see_the_welcome_note(notes_app, mailbox):
    client = notes_app.test_client()
    assert client.get("/notes").status_code == 302  # login required
    r = _signup(client, name="  Lin Wei  ")
    assert r.status_code == 200 and b"Check your email" in r.data
    (msg,) = mailbox.wait_for(1)
    link = re.sub(r"^https?://[^/]+", "", mailbox.link(msg))
    assert press_confirm(client, link).status_code == 200
    r = client.post("/login", data={"email": "lin@example.com", "password": "notes password"})
    assert r.status_code == 302 and r.headers["Location"] == "/notes"
    page = client.get("/notes").data.decode()
    assert "Lin Wei's notes" in page.replace("&#39;", "'") and "Welcome, Lin Wei! This is your first note." in page


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "This field is required."), ("lin", "please tell us your name, not your address.")],
)
def test_the_custom_rule_refuses_a_missing_or_lazy_name(notes_app, mailbox, name, message):
    r = _signup(notes_app.test_client(), name=name)
    assert r.status_code == 422
    assert message in r.data.decode().replace("&#39;", "'")
    assert mailbox.messages == []
