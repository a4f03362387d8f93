"""Changing the address: the new one is pending until the link sent to it is followed;
the old one is told, without a link. Only an address whose link was followed is applied."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.helpers import add_user, can_log_in, hidden, link_params, made_ago
from tests.models import User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse"
NEW = "ada@new.example"
NO_ENUMERATION = pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False)


def access_token(app: Flask, email: str = "ada@example.com") -> str:
    r = app.test_client().post("/api/users/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200
    return str(r.json["id"])


@pytest.fixture
def auth(app: Flask) -> dict[str, str]:
    """Ada, verified, and an access token of hers as request headers."""
    add_user(app)
    return {"Authorization": f"Bearer {access_token(app)}"}


def ask(app: Flask, auth: Any, new_email: str = NEW, password: str = PASSWORD) -> Any:
    return app.test_client().post(
        "/api/users/change-email", json={"newEmail": new_email, "password": password}, headers=auth
    )


def query_of(link: str) -> str:
    return urlsplit(link).query


def confirm_json(app: Flask, link: str) -> Any:
    """Follow a link through the JSON API, from a client without cookies."""
    return app.test_client().post("/api/users/confirm-email", json=link_params(link))


def confirm_html(app: Flask, link: str) -> Any:
    """Follow a link as a browser does: open the page, press its button."""
    browser = app.test_client()
    parts = urlsplit(link)
    fields = hidden(browser, f"{parts.path}?{parts.query}")
    return browser.post("/confirm-email", data=fields)


def link_to(mailbox: Mailbox, address: str) -> str:
    (msg,) = [m for m in mailbox.messages if m["To"] == address and m["Subject"] == "Confirm your new email address"]
    return mailbox.link(msg, "/confirm-email")


def account(app: Flask, user_id: int | None = None, email: str | None = None) -> dict:
    with app.app_context():
        query = db.select(User).filter_by(id=user_id) if user_id else db.select(User).filter_by(email=email)
        u = db.session.scalars(query).one()
        return {"id": u.id, "email": u.email, "pending": u.pending_email, "verified": u.email_verified}


def me(app: Flask, auth: Any) -> dict:
    r = app.test_client().get("/api/users/me", headers=auth)
    assert r.status_code == 200
    return dict(r.json)


def test_request_keeps_the_old_address_in_force_until_the_link_is_followed(
    app: Flask, auth: Any, mailbox: Mailbox
) -> None:
    r = ask(app, auth)
    assert r.status_code == 202 and r.json["emailSent"] is True
    mailbox.wait_for(2)
    assert can_log_in(app, email="ada@example.com") and not can_log_in(app, email=NEW)
    body = me(app, auth)
    assert body["email"] == "ada@example.com" and body["pendingEmail"] == NEW


def test_new_address_gets_the_link_and_the_old_one_a_notice_without_a_link(
    app: Flask, auth: Any, mailbox: Mailbox
) -> None:
    assert ask(app, auth).status_code == 202
    messages = mailbox.wait_for(2)
    assert sorted(m["To"] for m in messages) == sorted([NEW, "ada@example.com"])
    assert link_to(mailbox, NEW).startswith("http://localhost/confirm-email?")
    (notice,) = [m for m in messages if m["To"] == "ada@example.com"]
    assert NEW in mailbox.text(notice)
    for part in (mailbox.text(notice), mailbox.html(notice)):
        assert "/confirm-email" not in part and "token=" not in part
    # Only the account page, where the owner can cancel the change.
    assert mailbox.links(notice) == ["http://localhost/account"]


@pytest.mark.app_config(REGISTRATION_EMAIL_VERIFICATION_REQUIRED=False)
@pytest.mark.parametrize("follow", [confirm_json, confirm_html], ids=["json", "html"])
def test_following_the_link_applies_the_address_verified(app: Flask, mailbox: Mailbox, follow: Any) -> None:
    add_user(app, verified=False)
    auth = {"Authorization": f"Bearer {access_token(app)}"}
    assert ask(app, auth).status_code == 202
    mailbox.wait_for(2)
    r = follow(app, link_to(mailbox, NEW))
    assert r.status_code == (200 if follow is confirm_html else 204)
    assert account(app, email=NEW) == {"id": me(app, auth)["id"], "email": NEW, "pending": None, "verified": True}
    assert can_log_in(app, email=NEW) and not can_log_in(app, email="ada@example.com")


@pytest.mark.app_config(REGISTRATION_LOOPBACK_CONFIRM_LINKS=True)
def test_json_link_follows_a_local_redirect_only(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    assert ask(app, auth).status_code == 202
    mailbox.wait_for(2)
    link = link_to(mailbox, NEW)
    r = app.test_client().get("/api/users/confirm-email?" + query_of(link) + "&redirect=https://evil.example/")
    assert r.status_code == 204 and "Location" not in r.headers
    assert account(app, email=NEW)["pending"] is None


def test_link_used_twice_is_refused_the_second_time(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    assert ask(app, auth).status_code == 202
    mailbox.wait_for(2)
    link = link_to(mailbox, NEW)
    assert confirm_json(app, link).status_code == 204
    r = confirm_json(app, link)
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"
    assert me(app, auth)["email"] == NEW


def test_a_second_request_makes_the_first_link_useless(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    assert ask(app, auth).status_code == 202
    assert ask(app, auth, "ada@second.example").status_code == 202
    mailbox.wait_for(4)
    first, second = link_to(mailbox, NEW), link_to(mailbox, "ada@second.example")
    r = confirm_json(app, first)
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"
    assert me(app, auth)["email"] == "ada@example.com"
    assert confirm_json(app, second).status_code == 204
    assert me(app, auth)["email"] == "ada@second.example"


def test_link_with_another_users_id_is_refused(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    add_user(app, "grace@example.com")
    grace = account(app, email="grace@example.com")
    assert ask(app, auth).status_code == 202
    mailbox.wait_for(2)
    token = parse_qs(query_of(link_to(mailbox, NEW)))["token"][0]
    r = app.test_client().post("/api/users/confirm-email", json={"uid": str(grace["id"]), "token": token})
    assert r.status_code == 400
    assert account(app, grace["id"])["email"] == "grace@example.com"
    assert me(app, auth)["email"] == "ada@example.com"


def test_racing_requests_never_apply_an_address_nobody_confirmed(app: Flask, mailbox: Mailbox) -> None:
    # Devise CVE-2026-32700: two change requests at once must not leave the account on
    # an address that a link sent elsewhere confirms.
    add_user(app)
    heads = [{"Authorization": f"Bearer {access_token(app)}"} for _ in range(2)]
    targets = ["ada@first.example", "ada@second.example"]
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            r = client.post(
                "/api/users/change-email", json={"newEmail": targets[i], "password": PASSWORD}, headers=heads[i]
            )
            statuses.append(r.status_code)
        except BaseException as exc:  # a 5xx propagates here under TESTING
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and statuses == [202, 202]
    mailbox.wait_for(4)
    assert me(app, heads[0])["email"] == "ada@example.com"
    assert me(app, heads[0])["pendingEmail"] in targets

    applied = [t for t in targets if confirm_json(app, link_to(mailbox, t)).status_code == 204]
    assert len(applied) == 1
    final = me(app, heads[0])
    assert final["email"] == applied[0] and final["pendingEmail"] is None
    other = next(t for t in targets if t != applied[0])
    assert confirm_json(app, link_to(mailbox, other)).status_code == 400
    assert me(app, heads[0])["email"] == applied[0]


def test_taken_address_answers_alike_tells_its_owner_and_changes_nothing(
    app: Flask, auth: Any, mailbox: Mailbox
) -> None:
    add_user(app, "grace@example.com")
    free = ask(app, auth, "free@example.com")
    mailbox.wait_for(2)
    mailbox.clear()
    taken = ask(app, auth, "Grace@Example.com")
    assert taken.status_code == free.status_code == 202 and taken.json == free.json
    # The owner of the taken address gets a notice; the requester's old address gets the
    # same notice as for a free address.
    messages = mailbox.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["ada@example.com", "grace@example.com"]
    notice = next(m for m in messages if m["To"] == "grace@example.com")
    assert "/confirm-email" not in mailbox.text(notice) and "/confirm-email" not in mailbox.html(notice)
    assert account(app, email="grace@example.com")["pending"] is None
    assert me(app, auth)["email"] == "ada@example.com"


def test_taken_address_shows_the_requester_what_a_free_one_shows(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    # With enumeration prevention on, what the requester can read back must not say
    # whether the address has an account: after a free one, /me shows it pending.
    add_user(app, "grace@example.com")
    assert ask(app, auth, "free@example.com").status_code == 202
    assert me(app, auth)["pendingEmail"] == "free@example.com"
    assert ask(app, auth, "grace@example.com").status_code == 202
    assert me(app, auth).get("pendingEmail", "grace@example.com") == "grace@example.com"


def test_taken_address_makes_the_earlier_link_useless_as_a_free_one_does(
    app: Flask, auth: Any, mailbox: Mailbox
) -> None:
    # After a second request to a free address the first link is dead (tested above);
    # if a taken address left it alive, following it would tell the address is taken.
    add_user(app, "grace@example.com")
    assert ask(app, auth, "free@example.com").status_code == 202
    mailbox.wait_for(2)
    assert ask(app, auth, "grace@example.com").status_code == 202
    r = confirm_json(app, link_to(mailbox, "free@example.com"))
    assert r.status_code == 400
    assert me(app, auth)["email"] == "ada@example.com"


@NO_ENUMERATION
def test_taken_address_is_a_422_when_enumeration_is_allowed(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    add_user(app, "grace@example.com")
    r = ask(app, auth, "grace@example.com")
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"newEmail": ["uniqueness"]}
    assert mailbox.messages == [] and me(app, auth)["pendingEmail"] is None


def test_address_taken_between_request_and_confirm_is_a_422_and_changes_nothing(
    app: Flask, auth: Any, mailbox: Mailbox
) -> None:
    assert ask(app, auth).status_code == 202
    mailbox.wait_for(2)
    link = link_to(mailbox, NEW)
    r = app.test_client().post("/api/users", json={"email": NEW, "password": "someone else's"})
    assert r.status_code == 202
    r = confirm_json(app, link)
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"newEmail": ["uniqueness"]}
    assert me(app, auth)["email"] == "ada@example.com"
    assert can_log_in(app, email="ada@example.com")


def test_cancel_makes_the_link_stop_working(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    assert ask(app, auth).status_code == 202
    mailbox.wait_for(2)
    r = app.test_client().post("/api/users/change-email/cancel", headers=auth)
    assert r.status_code == 204
    assert me(app, auth)["pendingEmail"] is None
    r = confirm_json(app, link_to(mailbox, NEW))
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"
    assert me(app, auth)["email"] == "ada@example.com"


def test_wrong_password_is_refused_and_sends_nothing(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    r = ask(app, auth, password="wrong horse")
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_PASSWORD"
    assert mailbox.messages == [] and me(app, auth)["pendingEmail"] is None


@pytest.mark.parametrize("same", ["ada@example.com", "ADA@Example.com"])
def test_the_current_address_is_a_422(app: Flask, auth: Any, mailbox: Mailbox, same: Any) -> None:
    r = ask(app, auth, same)
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"newEmail": ["same"]}
    assert mailbox.messages == []


def test_not_logged_in_is_a_401(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    r = client.post("/api/users/change-email", json={"newEmail": NEW, "password": PASSWORD})
    assert r.status_code == 401 and r.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert mailbox.messages == []


def test_expired_link_is_refused_as_expired(app: Flask, auth: Any, mailbox: Mailbox) -> None:
    # Aging the link without waiting two days: stamp it three days ago.
    with made_ago(int(timedelta(days=3).total_seconds())):
        assert ask(app, auth).status_code == 202
    mailbox.wait_for(2)
    r = confirm_json(app, link_to(mailbox, NEW))
    assert r.status_code == 400 and r.json["error"]["code"] == "TOKEN_EXPIRED"
    assert me(app, auth)["email"] == "ada@example.com"
