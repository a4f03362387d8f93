"""CSRF everywhere: every HTML form that changes state carries a Flask-WTF token and does
nothing without it; every JSON route that changes state refuses a cookie-authenticated
request without the X-CSRFToken header, and needs none with an access token or no cookie."""

from __future__ import annotations

import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from flask_registration import get_state
from tests.helpers import add_user
from tests.models import User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new password"
#: The forms that are a button and no field to type in.
BUTTON_FORMS = {
    "cancel_email_change",
    "confirm",
    "confirm_email",
    "logout",
    "logout_everywhere",
    "reauthenticate_email",
    "reauthenticate_link",
}


class Forms(HTMLParser):
    """Every ``<form>`` of a page: its method, action and inputs (name -> value)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": (a.get("method") or "get").lower(), "action": a.get("action"), "inputs": {}})
        elif tag in ("input", "button", "select", "textarea") and self.forms and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1]["inputs"][a["name"]] = a.get("value") or ""


def post_forms(page: bytes) -> list[dict[str, Any]]:
    return [f for f in Forms(page.decode()).forms if f["method"] == "post"]


def log_in(client: Any, email: str = "ada@example.com") -> None:
    (form,) = post_forms(client.get("/login").data)
    r = client.post("/login", data={**form["inputs"], "email": email, "password": PASSWORD})
    assert r.status_code == 302


def state_of(app: Flask, mailbox: Any, client: Any) -> tuple[Any, ...]:
    """What a state-changing form could change: the users, the mail sent, the login."""
    with app.app_context():
        rows = db.session.execute(
            select(
                User.email, User.password_hash, User.email_verified_at, User.pending_email, User.auth_stamp
            ).order_by(User.id)
        ).all()
        db.session.remove()
    with client.session_transaction() as session:
        reauthenticated = session.get("registration_reauth")
    return tuple(map(tuple, rows)), len(mailbox.messages), client.get("/api/users/me").status_code, reauthenticated


def path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


# Each page with a state-changing form: how to reach it (returns the client that sees
# it and the page's path), and the values a person would type into it.
Scenario = Callable[[Flask, Any], tuple[Any, str]]


def anonymous(page: str) -> Scenario:
    return lambda app, mailbox: (app.test_client(), page)


def logged_in(page: str) -> Scenario:
    def reach(app: Flask, mailbox: Any) -> tuple[Any, str]:
        client = app.test_client()
        log_in(client)
        return client, page

    return reach


def bad_confirm_link(app: Flask, mailbox: Any) -> tuple[Any, str]:
    return app.test_client(), "/confirm?uid=1&token=not-a-token"  # the error page offers a new link


def reset_page(app: Flask, mailbox: Any) -> tuple[Any, str]:
    with app.test_request_context():
        from flask_registration.flows import request_password_reset

        request_password_reset("ada@example.com")
    link = mailbox.link(mailbox.wait_for(1)[-1], "/reset-password")
    mailbox.clear()
    return app.test_client(), path(link)


def pending_change(app: Flask, mailbox: Any) -> str:
    client = app.test_client()
    log_in(client)
    token = client.get("/api/users/csrf-token").get_json()["csrfToken"]
    r = client.post(
        "/api/users/change-email",
        json={"newEmail": "ada@new.example", "password": PASSWORD},
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 202
    (msg,) = [m for m in mailbox.wait_for(2) if m["To"] == "ada@new.example"]
    mailbox.clear()
    return mailbox.link(msg, "/confirm-email")


def confirm_email_page(app: Flask, mailbox: Any) -> tuple[Any, str]:
    return app.test_client(), path(pending_change(app, mailbox))


def change_email_page_with_pending(app: Flask, mailbox: Any) -> tuple[Any, str]:
    pending_change(app, mailbox)
    client = app.test_client()
    log_in(client)
    return client, "/account/email"


def reauth_page(app: Flask, mailbox: Any) -> tuple[Any, str]:
    client, page = logged_in("/reauthenticate")(app, mailbox)
    with client.session_transaction() as session:
        session.pop("registration_reauth", None)  # the login's own mark: the form must make one
    return client, page


def confirm_page(app: Flask, mailbox: Any) -> tuple[Any, str]:
    with app.test_request_context():
        from flask_registration.flows import send_verification

        send_verification(get_state(app).store.find_by_email("bob@example.com"))
    link = mailbox.link(mailbox.wait_for(1)[-1], "/confirm")
    mailbox.clear()
    return app.test_client(), path(link)  # another browser than the signup's: the password is asked


def reauth_link_page(app: Flask, mailbox: Any) -> tuple[Any, str]:
    client = app.test_client()
    log_in(client)
    (form,) = [f for f in post_forms(client.get("/reauthenticate").data) if f["action"] == "/reauthenticate/email"]
    assert client.post("/reauthenticate/email", data=form["inputs"]).status_code == 200
    link = mailbox.link(mailbox.wait_for(1)[-1], "/reauthenticate/link")
    mailbox.clear()
    with client.session_transaction() as session:
        session.pop("registration_reauth", None)  # the login's own mark: the link must make one
    return client, path(link)


def logout_failed_page(app: Flask, mailbox: Any) -> tuple[Any, str]:
    client = app.test_client()
    log_in(client)
    return client, "POST /logout"  # a logout without a token shows a page with a good form


SCENARIOS: dict[str, tuple[Scenario, dict[str, str]]] = {
    "registration.signup": (
        anonymous("/signup"),
        {"email": "carol@example.com", "password": PASSWORD, "password_confirm": PASSWORD},
    ),
    "registration.login": (anonymous("/login"), {"email": "ada@example.com", "password": PASSWORD}),
    "registration.resend": (anonymous("/resend"), {"email": "bob@example.com"}),
    "registration.resend (confirm error page)": (bad_confirm_link, {"email": "bob@example.com"}),
    "registration.forgot_password": (anonymous("/forgot"), {"email": "ada@example.com"}),
    "registration.reset_password": (reset_page, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}),
    "registration.change_password": (
        logged_in("/account/password"),
        {"old_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    ),
    "registration.change_email": (
        logged_in("/account/email"),
        {"new_email": "ada@other.example", "password": PASSWORD},
    ),
    "registration.cancel_email_change": (change_email_page_with_pending, {}),
    "registration.confirm_email": (confirm_email_page, {}),
    "registration.logout": (logout_failed_page, {}),
    "registration.logout_everywhere": (logged_in("/account/password"), {}),
    "registration.confirm": (confirm_page, {"password": PASSWORD}),
    "registration.confirm_new_password": (confirm_page, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}),
    "registration.reauthenticate": (reauth_page, {"password": PASSWORD}),
    "registration.reauthenticate_email": (logged_in("/reauthenticate"), {}),
    "registration.reauthenticate_link": (reauth_link_page, {}),
}


@pytest.fixture
def people(app: Flask) -> Flask:
    add_user(app, "ada@example.com", password=PASSWORD)
    add_user(app, "bob@example.com", verified=False, password=PASSWORD)
    return app


def open_page(client: Any, page: str) -> bytes:
    if page.startswith("POST "):
        r = client.post(page[5:])
        assert r.status_code == 400
    else:
        r = client.get(page)
        assert r.status_code == (400 if "token=not-a-token" in page else 200), page  # 400: a bad link
    return bytes(r.data)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_form_carries_a_token_and_does_nothing_without_it(people: Any, mailbox: Mailbox, name: Any) -> None:
    app = people
    endpoint = name.split(" ")[0]
    reach, typed = SCENARIOS[endpoint if endpoint == name else name]
    client, page = reach(app, mailbox)
    with app.test_request_context():
        from flask import url_for

        action = url_for(endpoint)
    forms = [f for f in post_forms(open_page(client, page)) if f["action"] == action]
    assert len(forms) == 1, f"{page} has no form posting to {action}"
    form = forms[0]
    token = form["inputs"].get("csrf_token")
    assert token, f"the {endpoint} form on {page} has no CSRF token"
    data = {**form["inputs"], **typed}

    before = state_of(app, mailbox, client)
    forged = {k: v for k, v in data.items() if k != "csrf_token"}
    r = client.post(action, data=forged)
    # A form of fields is shown again with the error (422); a form that is one button answers 400.
    assert r.status_code == (400 if endpoint.split(".")[1] in BUTTON_FORMS else 422)
    assert state_of(app, mailbox, client) == before, f"{endpoint} changed something without a CSRF token"

    # A token of another session is refused as well.
    other = app.test_client()
    (other_form,) = post_forms(other.get("/login").data)
    r = client.post(action, data={**forged, "csrf_token": other_form["inputs"]["csrf_token"]})
    assert state_of(app, mailbox, client) == before

    # The genuine form does what it says (so the comparison above can see a change).
    # Resend and reset answer before their email is sent (so their timing tells nothing):
    # give the message up to 10 s to arrive.
    client.post(action, data=data)
    deadline = time.monotonic() + 10
    while state_of(app, mailbox, client) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state_of(app, mailbox, client) != before, f"{endpoint} did nothing even with its token"


def test_every_state_changing_html_route_has_a_scenario(app: Flask) -> None:
    posting = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("registration.") and "POST" in (rule.methods or ())
    }
    assert posting == {name.split(" ")[0] for name in SCENARIOS}


# The JSON API, route by route.

JSON_ROUTES = {
    "/api/users": {"email": "carol@example.com", "password": PASSWORD},
    "/api/users/verify": {"email": "bob@example.com"},
    "/api/users/login": {"email": "ada@example.com", "password": PASSWORD},
    "/api/users/logout": None,
    "/api/users/logout-all": None,
    "/api/users/reset": {"email": "ada@example.com"},
    "/api/users/reset-password": {"token": "not-a-token", "newPassword": NEW_PASSWORD},
    "/api/users/change-password": {"oldPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    "/api/users/change-email": {"newEmail": "ada@other.example", "password": PASSWORD},
    "/api/users/change-email/cancel": None,
    "/api/users/confirm": {"uid": "2", "token": "not-a-token", "password": PASSWORD},
    "/api/users/confirm-email": {"uid": "1", "token": "not-a-token"},
    "/api/users/reauthenticate": {"password": PASSWORD},
}


def test_every_state_changing_json_route_is_listed(app: Flask) -> None:
    posting = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("registration_api.")
        and rule.endpoint != "registration_api.not_found"
        and {"POST", "PUT", "PATCH", "DELETE"} & set(rule.methods or ())
    }
    assert posting == set(JSON_ROUTES)


@pytest.mark.parametrize("route", list(JSON_ROUTES))
def test_a_cookie_without_the_header_is_refused(people: Any, mailbox: Mailbox, route: Any) -> None:
    client = people.test_client()
    log_in(client)
    before = state_of(people, mailbox, client)
    r = client.post(route, json=JSON_ROUTES[route])
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "CSRF_FAILED"
    r = client.post(route, json=JSON_ROUTES[route], headers={"X-CSRFToken": "forged"})
    assert r.status_code == 403
    assert state_of(people, mailbox, client) == before


@pytest.mark.parametrize("route", list(JSON_ROUTES))
def test_a_cookie_with_the_header_is_let_through(people: Any, route: Any) -> None:
    client = people.test_client()
    log_in(client)
    token = client.get("/api/users/csrf-token").get_json()["csrfToken"]
    r = client.post(route, json=JSON_ROUTES[route], headers={"X-CSRFToken": token})
    assert r.status_code != 403


@pytest.mark.parametrize("route", list(JSON_ROUTES))
def test_an_access_token_needs_no_csrf_header_even_with_a_cookie(people: Any, route: Any) -> None:
    api = people.test_client()
    token = api.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).get_json()["id"]
    browser = people.test_client()
    log_in(browser)  # the cookie is there, but the request is authenticated by the token
    r = browser.post(route, json=JSON_ROUTES[route], headers={"Authorization": f"Bearer {token}"})
    assert r.status_code != 403


@pytest.mark.parametrize("route", ["/api/users", "/api/users/verify", "/api/users/login", "/api/users/reset"])
def test_a_client_without_cookies_needs_no_token(people: Any, route: Any) -> None:
    r = people.test_client(use_cookies=False).post(route, json=JSON_ROUTES[route])
    assert r.status_code != 403


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"])
def test_a_body_a_cross_site_form_can_send_is_not_read(people: Any, content_type: Any) -> None:
    r = people.test_client().post(
        "/api/users/login", data=b'{"email": "ada@example.com", "password": "x"}', content_type=content_type
    )
    assert r.status_code == 415
