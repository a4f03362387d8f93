"""First use as a person sees it: every error at once, an account page to come back to,
no dead ends, a GET /logout that answers, and plain wording (the issue "First use as a
person sees it"). The layout and accessibility checks in a browser are in test_a11y.py."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from flask import Flask

from tests.helpers import (
    PASSWORD,
    account,
    add_user,
    forms,
    hidden,
    html_login,
    inputs,
    local,
    request_change,
    reset_link,
)
from tests.models import User, db
from tests.smtp import Mailbox

NEW = "battery staple"


def error_of(page: str, name: str) -> str:
    """The error text tied to field ``name``: it must be marked invalid and described by
    the element that holds the text."""
    attrs = inputs(page)[name]
    assert attrs.get("aria-invalid") == "true", f"{name} is not marked invalid"
    described = attrs.get("aria-describedby")
    assert described, f"{name} has no aria-describedby"
    found = re.search(rf'<ul class="error" id="{re.escape(described)}">(.*?)</ul>', page, re.S)
    assert found is not None, f"nothing has the id {described}"
    text = html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip()
    assert text, f"{name}'s error is empty"
    return text


# 1. Every field's error at once.


def test_signup_shows_the_error_of_every_field_at_once(app: Flask, client: Any, mailbox: Mailbox) -> None:
    data = {**hidden(client, "/signup"), "email": "not-an-email", "password": "short", "password_confirm": "shorter"}
    r = client.post("/signup", data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "The passwords do not match." in error_of(page, "password_confirm")
    assert "8" in error_of(page, "password")  # the flow's length rule, whatever its wording
    assert error_of(page, "email")
    assert mailbox.messages == []
    with app.app_context():
        assert db.session.scalars(db.select(User)).first() is None


def test_signup_with_an_empty_address_still_checks_the_password(client: Any) -> None:
    data = {**hidden(client, "/signup"), "email": "", "password": "short", "password_confirm": "shorter"}
    page = client.post("/signup", data=data).get_data(as_text=True)
    assert error_of(page, "email") and error_of(page, "password") and error_of(page, "password_confirm")
    assert len(re.findall(r"<li>", error_of_block(page, "email"))) == 1  # one message, not the form's and the flow's


def error_of_block(page: str, name: str) -> str:
    described = inputs(page)[name]["aria-describedby"]
    found = re.search(rf'<ul class="error" id="{re.escape(described)}">(.*?)</ul>', page, re.S)
    assert found is not None
    return found.group(1)


def test_reset_page_shows_a_short_password_and_a_mismatch_together(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    fields = hidden(client, local(reset_link(app, client, mailbox)))
    r = client.post("/reset-password", data={**fields, "password": "short", "password_confirm": "other"})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "8" in error_of(page, "password") and error_of(page, "password_confirm")


def test_change_password_page_shows_every_error_at_once(app: Flask, client: Any) -> None:
    add_user(app)
    html_login(client)
    data = {**hidden(client, "/account/password"), "old_password": "", "password": "short", "password_confirm": "other"}
    r = client.post("/account/password", data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    for name in ("old_password", "password", "password_confirm"):
        assert error_of(page, name)


def test_change_email_page_shows_a_bad_address_and_a_missing_password_together(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    html_login(client)
    data = {**hidden(client, "/account/email"), "new_email": "not-an-email", "password": ""}
    r = client.post("/account/email", data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert error_of(page, "new_email") and error_of(page, "password")
    assert mailbox.messages == [] and account(app) == ("ada@example.com", None)


# 4. The checkbox and its label on one line (measured in test_a11y.py).


def test_the_remember_checkbox_and_its_label_share_a_checkbox_row(client: Any) -> None:
    page = client.get("/login").get_data(as_text=True)
    row = re.search(r'<div class="checkbox">(.*?)</div>', page, re.S)
    assert row is not None
    assert 'type="checkbox"' in row.group(1) and '<label for="remember">' in row.group(1)
    assert re.search(r"\.checkbox label \{[^}]*display: inline", page)


# 5. The account page, and no dead ends.


def test_the_account_page_needs_a_login(client: Any) -> None:
    r = client.get("/account")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_the_account_page_shows_the_address_links_and_logout_buttons(app: Flask, client: Any) -> None:
    add_user(app)
    html_login(client)
    r = client.get("/account")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "<h1>Your account</h1>" in page and "ada@example.com" in page
    assert 'href="/account/password"' in page and 'href="/account/email"' in page
    assert forms(page) == ["/logout", "/logout-everywhere"]
    assert "/account/connections" not in page  # OAuth is not set up in this app
    with app.test_request_context():
        from flask import url_for

        assert url_for("registration.account") == "/account"


def test_the_account_page_shows_a_pending_change_with_a_cancel_button(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    html_login(client)
    request_change(client, mailbox)
    page = client.get("/account").get_data(as_text=True)
    assert "ada@new.example" in page
    assert forms(page) == ["/account/email/cancel", "/logout", "/logout-everywhere"]
    r = client.post("/account/email/cancel", data=hidden(client, "/account"))
    assert r.status_code == 200 and account(app) == ("ada@example.com", None)


def test_with_oauth_the_account_page_lists_the_providers_and_links_to_connections(
    database_url: str, mailbox: Mailbox
) -> None:
    from flask_registration import Registration
    from tests.models import AccessToken, make_app
    from tests.oauth_provider import OAuth

    registration = Registration(db=db, user_model=User, token_model=AccessToken, oauth_model=OAuth)
    config = {"SQLALCHEMY_DATABASE_URI": database_url, "MAIL_SERVER": mailbox.host, "MAIL_PORT": mailbox.port}
    app = make_app(config, registration=registration)
    with app.app_context():
        db.create_all()
    try:
        add_user(app)
        with app.app_context():
            db.session.add(OAuth(provider="local", provider_user_id="ada-1", user_id=1, token={}))
            db.session.commit()
        client = app.test_client()
        html_login(client)
        page = client.get("/account").get_data(as_text=True)
        assert 'href="/account/connections"' in page and "You can also log in with local." in page
        assert 'href="/account"' in client.get("/account/connections").get_data(as_text=True)
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.mark.parametrize("path", ["/account/password", "/account/email", "/reauthenticate"])
def test_every_account_page_links_back_to_the_account_page(app: Flask, client: Any, path: Any) -> None:
    add_user(app)
    html_login(client)
    page = client.get(path).get_data(as_text=True)
    assert 'href="/account"' in page


def test_the_message_pages_link_on_to_the_account_page_or_the_login(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    data = {**hidden(client, "/account/password"), "old_password": PASSWORD, "password": NEW, "password_confirm": NEW}
    r = client.post("/account/password", data=data)
    assert b"Password changed" in r.data and b'href="/account"' in r.data
    mailbox.wait_for(1)  # the "password changed" notice
    mailbox.clear()
    data = {**hidden(client, "/account/email"), "new_email": "ada@new.example", "password": NEW}
    r = client.post("/account/email", data=data)
    assert b"Check your new inbox" in r.data and b'href="/account"' in r.data
    (msg,) = [m for m in mailbox.wait_for(2) if m["To"] == "ada@new.example"]
    link = mailbox.link(msg, "/confirm-email")
    other = app.test_client()  # the new address's owner, not logged in there
    r = other.post("/confirm-email", data=hidden(other, local(link)))
    assert b"Email address changed" in r.data and b'href="/login"' in r.data and b'href="/account"' not in r.data
    r = client.post("/account/email/cancel", data=hidden(client, "/account/email"))
    assert b"Change cancelled" in r.data and b'href="/account"' in r.data


def test_emails_that_mention_the_account_page_link_to_it(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    mailbox.clear()
    data = {**hidden(client, "/account/password"), "old_password": PASSWORD, "password": NEW, "password_confirm": NEW}
    assert client.post("/account/password", data=data).status_code == 200
    (msg,) = mailbox.wait_for(1)
    assert "http://localhost/account" in mailbox.links(msg)
    assert 'href="http://localhost/account"' in mailbox.html(msg)


def test_the_demo_home_links_to_the_account_page() -> None:
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "examples" / "basic" / "app.py"
    assert "url_for('registration.account')" in demo.read_text(encoding="utf-8")


# 6. The change-email page: the change first, cancel second; the confirm page names the address.


def test_change_email_page_puts_the_change_first_and_cancel_second(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    request_change(client, mailbox)
    page = client.get("/account/email").get_data(as_text=True)
    assert forms(page) == ["/account/email", "/account/email/cancel"]
    cancel = page.split('action="/account/email/cancel"', 1)[1].split("</form>", 1)[0]
    assert re.search(r'<button type="submit" class="secondary">Cancel the change</button>', cancel)


def test_confirm_email_page_names_the_address_it_confirms(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    link = request_change(client, mailbox)
    r = app.test_client().get(local(link))
    assert r.status_code == 200 and b"<strong>ada@new.example</strong>" in r.data
    assert account(app) == ("ada@example.com", "ada@new.example")  # opening it changed nothing


@pytest.mark.parametrize("query", ["uid=1&token=garbage", "", "uid=1"], ids=["garbage", "missing", "no-token"])
def test_a_bad_confirm_email_link_shows_the_error_page(client: Any, query: Any) -> None:
    r = client.get("/confirm-email?" + query)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "<h1>This link is not valid</h1>" in page and 'name="uid"' not in page


def test_a_replaced_confirm_email_link_shows_the_error_page(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    first = request_change(client, mailbox)
    mailbox.clear()
    request_change(client, mailbox, "ada@newer.example")
    r = app.test_client().get(local(first))
    assert r.status_code == 400 and b"ada@newer.example" not in r.data and b"ada@new.example" not in r.data


# 7. GET /logout.


def test_get_logout_offers_a_button_when_logged_in(app: Flask, client: Any) -> None:
    add_user(app)
    html_login(client)
    r = client.get("/logout")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert forms(page) == ["/logout"] and inputs(page)["csrf_token"]["value"]
    assert client.get("/api/users/me").status_code == 200  # opening the page logs nobody out
    r = client.post("/logout", data=hidden(client, "/logout"))
    assert r.status_code == 302 and client.get("/api/users/me").status_code == 401


def test_get_logout_redirects_when_not_logged_in(client: Any) -> None:
    r = client.get("/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/"


@pytest.mark.app_config(REGISTRATION_POST_LOGOUT_REDIRECT="/bye")
def test_get_logout_redirects_to_the_post_logout_redirect(client: Any) -> None:
    r = client.get("/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/bye"


# 9. Wording.


def test_forgot_pages_are_worded_plainly(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    page = client.get("/forgot").get_data(as_text=True)
    assert "Give the address" not in page and "Enter the email address of your account" in page
    r = client.post("/forgot", data={**hidden(client, "/forgot"), "email": "ada@example.com"})
    assert b"sent it a link" not in r.data and b"we have emailed a link to it" in r.data


def test_a_changed_password_is_announced_idiomatically(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    fields = hidden(client, local(reset_link(app, client, mailbox)))
    r = client.post("/reset-password", data={**fields, "password": NEW, "password_confirm": NEW})
    assert b"Your password is changed." not in r.data and b"Your password has been changed." in r.data


@pytest.mark.parametrize("path", ["/reset-password?token=garbage", "/confirm?uid=1&token=garbage"])
def test_a_bad_link_page_does_not_say_the_same_thing_twice(client: Any, path: Any) -> None:
    page = client.get(path).get_data(as_text=True)
    main = page.split("<main>", 1)[1]
    assert main.count("This link is not valid") == 1


def test_the_please_log_in_note_is_not_styled_as_a_success(app: Flask, client: Any) -> None:
    r = client.get("/account/password", follow_redirects=True)
    page = r.get_data(as_text=True)
    note = re.search(r'<p class="([^"]*)" role="status">([^<]*)</p>', page)
    assert note is not None
    classes, text = note.group(1).split(), note.group(2)
    assert text == "Please log in to see that page."
    assert "flash-info" in classes and "flash-success" not in classes
    # Only the success class is green.
    assert re.search(r"\.flash \{[^}]*#5a6272", page) and re.search(r"\.flash-success \{[^}]*#1e7b34", page)
