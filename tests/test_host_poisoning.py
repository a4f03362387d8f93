"""Emailed links are never built from an unchecked Host header (password-reset poisoning)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.models import make_app
from tests.smtp import Mailbox


def test_init_app_refuses_an_app_that_would_trust_any_host(database_url: str) -> None:
    with pytest.raises(RuntimeError, match="SERVER_NAME or TRUSTED_HOSTS"):
        make_app({"TESTING": False, "SERVER_NAME": None, "SQLALCHEMY_DATABASE_URI": database_url})


def test_trusted_hosts_or_server_name_satisfy_it(database_url: str) -> None:
    for extra in ({"TRUSTED_HOSTS": ["example.com"]}, {"SERVER_NAME": "example.com"}):
        app = make_app({"TESTING": False, "SERVER_NAME": None, "SQLALCHEMY_DATABASE_URI": database_url, **extra})
        assert "registration" in app.extensions


@pytest.mark.app_config(SERVER_NAME=None, TRUSTED_HOSTS=["example.com"])
def test_a_reset_asked_with_a_foreign_host_sends_no_link(app: Flask, client: Any, mailbox: Mailbox) -> None:
    from tests.models import User, db

    with app.app_context():
        db.session.add(User(email="victim@example.com", password_hash=None))
        db.session.commit()
    r = client.post("/api/users/reset", json={"email": "victim@example.com"}, headers={"Host": "evil.example"})
    assert r.status_code == 400
    r = client.post("/api/users/reset", json={"email": "victim@example.com"}, headers={"Host": "example.com"})
    assert r.status_code == 204
    (msg,) = mailbox.wait_for(1)
    link = mailbox.link(msg, "/reset-password")
    assert link.startswith("http://example.com/reset-password?token=")
    assert all("evil.example" not in m.as_string() for m in mailbox.messages)
