"""The account pages as a browser drives them, with the real CSRF tokens parsed from
each page: forgot and reset password, change password, change and cancel an address,
and the confirm-email button."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.helpers import (
    account,
    add_user,
    can_log_in,
    forms,
    hidden,
    html_login,
    inputs,
    local,
    made_ago,
    request_change,
    reset_link,
)
from tests.smtp import Mailbox

PASSWORD = "correct horse"
NEW = "battery staple"


def test_login_page_links_to_forgot(client: Any) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/forgot"' in page


def test_forgot_page_sends_a_link_and_answers_alike_for_an_unknown_address(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    page = client.get("/forgot").get_data(as_text=True)
    assert inputs(page)["email"]["type"] == "email" and "/forgot" in forms(page)
    unknown = client.post("/forgot", data={**hidden(client, "/forgot"), "email": "nobody@example.com"})
    known = client.post("/forgot", data={**hidden(client, "/forgot"), "email": "ada@example.com"})
    assert unknown.status_code == known.status_code == 200
    assert b"Check your email" in unknown.data and unknown.data == known.data
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "ada@example.com"


def test_forgot_page_without_the_csrf_token_sends_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    client.get("/forgot")
    r = client.post("/forgot", data={"email": "ada@example.com"})
    assert r.status_code == 422 and b'role="alert"' in r.data
    assert mailbox.messages == []


def test_reset_page_shows_the_form_with_the_token_hidden(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    link = reset_link(app, client, mailbox)
    r = client.get(local(link))
    assert r.status_code == 200
    fields = inputs(r.get_data(as_text=True))
    assert fields["token"]["type"] == "hidden" and fields["token"]["value"] in link
    assert fields["password"]["type"] == fields["password_confirm"]["type"] == "password"
    assert can_log_in(app, PASSWORD)


def test_reset_page_sets_the_password_once(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    link = reset_link(app, client, mailbox)
    fields = hidden(client, local(link))
    r = client.post("/reset-password", data={**fields, "password": NEW, "password_confirm": NEW})
    assert r.status_code == 200 and b"Password changed" in r.data and 'href="/login"' in r.get_data(as_text=True)
    assert can_log_in(app, NEW)
    r = client.get(local(link))
    assert r.status_code == 400 and b'href="/forgot"' in r.data


def test_reset_page_with_mismatched_passwords_changes_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    fields = hidden(client, local(reset_link(app, client, mailbox)))
    r = client.post("/reset-password", data={**fields, "password": NEW, "password_confirm": "another"})
    assert r.status_code == 422
    assert inputs(r.get_data(as_text=True))["password_confirm"]["aria-invalid"] == "true"
    assert can_log_in(app, PASSWORD)


@pytest.mark.parametrize("query", ["?token=garbage", "", "?token="], ids=["garbage", "missing", "empty"])
def test_a_bad_reset_link_shows_an_error_page_linking_to_forgot(client: Any, query: Any) -> None:
    r = client.get("/reset-password" + query)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "This link is not valid" in page and 'href="/forgot"' in page
    assert "csrf_token" not in page


def test_an_expired_reset_link_says_it_expired(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    with made_ago(7200):  # two hours old, without waiting for it
        link = reset_link(app, client, mailbox)
    r = client.get(local(link))
    assert r.status_code == 400 and b"This link has expired" in r.data and b'href="/forgot"' in r.data


def test_change_password_page_needs_a_login_then_works_with_its_csrf_token(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    assert urlsplit(client.get("/account/password").headers["Location"]).path == "/login"
    html_login(client)
    page = client.get("/account/password").get_data(as_text=True)
    assert {"old_password", "password", "password_confirm", "csrf_token"} <= set(inputs(page))
    data = {**hidden(client, "/account/password"), "old_password": PASSWORD, "password": NEW, "password_confirm": NEW}
    r = client.post("/account/password", data=data)
    assert r.status_code == 200 and b"Password changed" in r.data
    assert client.get("/api/users/me").status_code == 200
    assert can_log_in(app, NEW)


def test_change_email_page_shows_the_pending_address_and_a_cancel_button(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    html_login(client)
    page = client.get("/account/email").get_data(as_text=True)
    assert "ada@example.com" in page and "/account/email/cancel" not in forms(page)
    request_change(client, mailbox)
    page = client.get("/account/email").get_data(as_text=True)
    assert "ada@new.example" in page
    assert forms(page) == ["/account/email", "/account/email/cancel"]  # the change first, cancel after
    assert account(app) == ("ada@example.com", "ada@new.example")


def test_change_email_page_with_a_wrong_password_shows_it_and_sends_nothing(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    html_login(client)
    data = {**hidden(client, "/account/email"), "new_email": "ada@new.example", "password": "wrong"}
    r = client.post("/account/email", data=data)
    assert r.status_code == 400 and inputs(r.get_data(as_text=True))["password"]["aria-invalid"] == "true"
    assert mailbox.messages == [] and account(app) == ("ada@example.com", None)


def test_cancel_button_forgets_the_pending_address_and_kills_the_link(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    html_login(client)
    link = request_change(client, mailbox)
    r = client.post("/account/email/cancel", data=hidden(client, "/account/email"))
    assert r.status_code == 200 and b"Change cancelled" in r.data
    assert account(app) == ("ada@example.com", None)
    browser = app.test_client()
    r = browser.get(local(link))
    assert r.status_code == 400 and b"This link" in r.data and b'name="uid"' not in r.data
    assert account(app) == ("ada@example.com", None)


def test_cancel_without_the_csrf_token_keeps_the_change(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    request_change(client, mailbox)
    r = client.post("/account/email/cancel")
    assert r.status_code == 400
    assert account(app) == ("ada@example.com", "ada@new.example")


def test_confirm_email_get_shows_a_button_and_changes_nothing_then_post_applies(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    html_login(client)
    link = request_change(client, mailbox)
    browser = app.test_client()
    r = browser.get(local(link))
    assert r.status_code == 200
    fields = inputs(r.get_data(as_text=True))
    assert fields["submit"]["type"] == "submit"
    assert {fields["uid"]["type"], fields["token"]["type"]} == {"hidden"}
    assert fields["token"]["value"] in link
    assert account(app) == ("ada@example.com", "ada@new.example")

    r = browser.post("/confirm-email", data={n: a.get("value", "") for n, a in fields.items() if n != "submit"})
    assert r.status_code == 200 and b"ada@new.example" in r.data
    assert account(app) == ("ada@new.example", None)


def test_confirm_email_post_without_the_csrf_token_changes_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    html_login(client)
    link = request_change(client, mailbox)
    browser = app.test_client()
    fields = hidden(browser, local(link))
    del fields["csrf_token"]
    r = browser.post("/confirm-email", data=fields)
    assert r.status_code == 400 and b'role="alert"' in r.data
    assert account(app) == ("ada@example.com", "ada@new.example")
