"""The HTML pages as a browser drives them, with Flask-WTF's CSRF tokens left on."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask

from tests.helpers import add_user, hidden, inputs
from tests.models import User, db
from tests.smtp import Mailbox


def users(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(User.email)))


def signup_data(client: Any, **fields: str) -> dict[str, str]:
    data = {"email": "ada@example.com", "password": "correct horse", "password_confirm": "correct horse"}
    return {**hidden(client, "/signup"), **data, **fields}


def logged_in_email(client: Any) -> str | None:
    r = client.get("/api/users/me")
    return r.json["email"] if r.status_code == 200 else None


def test_signup_page_has_a_csrf_token_and_labelled_fields(client: Any) -> None:
    page = client.get("/signup").get_data(as_text=True)
    fields = inputs(page)
    assert fields["csrf_token"]["type"] == "hidden" and len(fields["csrf_token"]["value"]) > 20
    for name in ("email", "password", "password_confirm"):
        field_id = fields[name]["id"]
        assert re.search(rf'<label for="{re.escape(field_id)}">[^<]+</label>', page), name
    assert fields["password"]["type"] == fields["password_confirm"]["type"] == "password"


def test_signup_without_the_csrf_token_creates_nobody(app: Flask, client: Any, mailbox: Mailbox) -> None:
    data = signup_data(client)
    del data["csrf_token"]
    r = client.post("/signup", data=data)
    assert r.status_code == 422
    assert "Create an account" in r.get_data(as_text=True)
    assert users(app) == [] and mailbox.messages == []


def test_signup_with_a_forged_csrf_token_creates_nobody(app: Flask, client: Any, mailbox: Mailbox) -> None:
    r = client.post("/signup", data=signup_data(client, csrf_token="forged"))
    assert r.status_code == 422
    assert users(app) == []


def test_signup_without_the_csrf_token_says_why(client: Any) -> None:
    data = signup_data(client)
    del data["csrf_token"]
    page = client.post("/signup", data=data).get_data(as_text=True)
    # A re-rendered form with no message leaves the person guessing what went wrong.
    assert 'role="alert"' in page


def test_signup_with_the_csrf_token_works(app: Flask, client: Any, mailbox: Mailbox) -> None:
    r = client.post("/signup", data=signup_data(client))
    assert r.status_code == 200
    assert b"Check your email" in r.data and b"ada@example.com" in r.data
    assert users(app) == ["ada@example.com"]
    assert mailbox.wait_for(1)[0]["To"] == "ada@example.com"


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"password_confirm": "another horse"}, "password_confirm", "The passwords do not match."),
        ({"password": "short", "password_confirm": "short"}, "password", "must be at least 8 characters long."),
        ({"email": "not-an-email"}, "email", "This email address is not valid: it must have an @-sign."),
    ],
    ids=["mismatched-passwords", "short-password", "bad-email"],
)
def test_signup_error_is_tied_to_its_field(
    app: Flask, client: Any, mailbox: Mailbox, fields: Any, field: Any, message: Any
) -> None:
    r = client.post("/signup", data=signup_data(client, **fields))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    attrs = inputs(page)[field]
    assert attrs["aria-invalid"] == "true"
    described = attrs["aria-describedby"]
    errors = re.search(rf'<ul class="error" id="{re.escape(described)}">(.*?)</ul>', page, re.S)
    assert errors is not None and message in html.unescape(errors.group(1))
    assert "correct horse" not in page  # passwords are never echoed back
    assert users(app) == []


def test_login_with_a_wrong_password_shows_an_error(app: Flask, client: Any) -> None:
    add_user(app)
    data = {**hidden(client, "/login"), "email": "ada@example.com", "password": "wrong horse"}
    r = client.post("/login", data=data)
    assert r.status_code == 401
    assert "the email address or the password is wrong" in r.get_data(as_text=True)
    assert logged_in_email(client) is None


def test_login_of_an_unverified_user_links_to_resend(app: Flask, client: Any) -> None:
    add_user(app, verified=False)
    data = {**hidden(client, "/login"), "email": "ada@example.com", "password": "correct horse"}
    r = client.post("/login", data=data)
    assert r.status_code == 401
    page = r.get_data(as_text=True)
    assert "the email address or the password is wrong" in page and 'href="/resend"' in page
    assert logged_in_email(client) is None


def test_login_without_the_csrf_token_does_not_log_in(app: Flask, client: Any) -> None:
    add_user(app)
    r = client.post("/login", data={"email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 422
    assert logged_in_email(client) is None


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"])
def test_login_ignores_a_hostile_next(app: Flask, client: Any, target: Any) -> None:
    add_user(app)
    form = hidden(client, "/login?" + urlencode({"next": target}))
    assert form["next"] == target  # carried through the form, checked only when followed
    r = client.post("/login", data={**form, "email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert logged_in_email(client) == "ada@example.com"


@pytest.mark.app_config(REGISTRATION_POST_LOGIN_REDIRECT="/dashboard")
def test_login_with_a_hostile_next_goes_to_the_post_login_redirect(app: Flask, client: Any) -> None:
    add_user(app)
    form = hidden(client, "/login?next=//evil.com")
    r = client.post("/login", data={**form, "email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard"


def test_login_follows_a_local_next(app: Flask, client: Any) -> None:
    add_user(app)
    form = hidden(client, "/login?next=/inside")
    r = client.post("/login", data={**form, "email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 302 and r.headers["Location"] == "/inside"


def _log_in(app: Flask, client: Any) -> None:
    add_user(app)
    form = hidden(client, "/login")
    r = client.post("/login", data={**form, "email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 302 and logged_in_email(client) == "ada@example.com"


def test_logout_without_the_csrf_token_keeps_the_session(app: Flask, client: Any) -> None:
    _log_in(app, client)
    r = client.post("/logout")
    assert r.status_code == 400
    assert inputs(r.get_data(as_text=True))["csrf_token"]["value"]  # offers a button that works
    assert logged_in_email(client) == "ada@example.com"


def test_logout_with_the_csrf_token_ends_the_session(app: Flask, client: Any) -> None:
    _log_in(app, client)
    token = hidden(client, "/login")["csrf_token"]
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert logged_in_email(client) is None


def test_resend_page_sends_a_new_link_to_an_unverified_address(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app, verified=False)
    page = client.get("/resend").get_data(as_text=True)
    fields = inputs(page)
    assert fields["csrf_token"]["value"] and fields["email"]["type"] == "email"
    assert re.search(rf'<label for="{fields["email"]["id"]}">', page)

    r = client.post("/resend", data={**hidden(client, "/resend"), "email": "ada@example.com"})
    assert r.status_code == 200 and b"Check your email" in r.data
    (msg,) = mailbox.wait_for(1)
    link = urlsplit(mailbox.link(msg))
    assert client.get(f"{link.path}?{link.query}").status_code == 200


def test_resend_page_answers_alike_for_an_unknown_address(client: Any, mailbox: Mailbox) -> None:
    r = client.post("/resend", data={**hidden(client, "/resend"), "email": "nobody@example.com"})
    assert r.status_code == 200 and b"Check your email" in r.data
    assert mailbox.messages == []


def test_resend_without_the_csrf_token_sends_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app, verified=False)
    r = client.post("/resend", data={"email": "ada@example.com"})
    assert r.status_code == 422
    assert mailbox.messages == []


def test_confirm_with_a_garbage_token_shows_the_resend_form(client: Any) -> None:
    r = client.get("/confirm?uid=1&token=garbage")
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "not valid" in page
    assert '<form method="post" action="/resend"' in page
    fields = inputs(page)
    assert fields["csrf_token"]["value"] and "email" in fields
