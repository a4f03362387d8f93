"""Following the emailed link (HTML ``/confirm`` and LoopBack's JSON ``GET /api/users/confirm``,
which needs ``REGISTRATION_LOOPBACK_CONFIRM_LINKS``), and resending it.

The HTML page is opened, then its button pressed (with the password: these signups are
made over JSON, so the browser did not sign up); tests/test_prehijack.py covers the rules
of who may confirm."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
from flask import Flask

from flask_registration import signals
from tests.helpers import made_ago, press_confirm, sign_up
from tests.models import User, db
from tests.smtp import Mailbox

pytestmark = pytest.mark.app_config(REGISTRATION_LOOPBACK_CONFIRM_LINKS=True)


def press(client: Any, link: str) -> object:
    return press_confirm(client, link, password="correct horse")


def api(link: str) -> str:
    return "/api/users" + link


def with_redirect(link: str, target: str) -> str:
    return f"{link}&{urlencode({'redirect': target})}"


def query(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def user(app: Flask, email: str = "ada@example.com") -> User | None:
    with app.app_context():
        found = db.session.scalars(db.select(User).filter_by(email=email)).first()
        if found is not None:
            db.session.expunge(found)
        return found


def test_json_confirm_answers_204_and_verifies(app: Flask, client: Any, mailbox: Mailbox) -> None:
    link = sign_up(client, mailbox, path="/confirm")
    r = client.get(api(link))
    assert r.status_code == 204 and r.data == b""
    assert user(app).email_verified


def test_html_confirm_shows_the_confirmed_page(app: Flask, client: Any, mailbox: Mailbox) -> None:
    r = press(client, sign_up(client, mailbox, path="/confirm"))
    assert r.status_code == 200 and b"Email verified" in r.data
    assert user(app).email_verified


@pytest.mark.parametrize("face", [lambda c, link: c.get(api(link)), press], ids=["json", "html"])
def test_confirm_follows_a_local_redirect(app: Flask, client: Any, mailbox: Mailbox, face: Any) -> None:
    r = face(client, with_redirect(sign_up(client, mailbox, path="/confirm"), "/welcome?tab=1"))
    assert r.status_code == 302 and r.headers["Location"] == "/welcome?tab=1"
    assert user(app).email_verified


HOSTILE = [
    "//evil.com",
    "///evil.com",
    "https://evil.com",
    "http:evil.com",
    "/\\evil.com",
    "/%5Cevil.com",
    "\\\\evil.com",
    "/\t/evil.com",
    "javascript:alert(1)",
    "evil.com",
]


@pytest.mark.parametrize("target", HOSTILE)
def test_json_confirm_ignores_a_hostile_redirect(app: Flask, client: Any, mailbox: Mailbox, target: Any) -> None:
    r = client.get(with_redirect(api(sign_up(client, mailbox, path="/confirm")), target))
    assert r.status_code == 204 and "Location" not in r.headers
    assert user(app).email_verified


@pytest.mark.parametrize("target", HOSTILE)
def test_html_confirm_ignores_a_hostile_redirect(app: Flask, client: Any, mailbox: Mailbox, target: Any) -> None:
    r = press(client, with_redirect(sign_up(client, mailbox, path="/confirm"), target))
    assert r.status_code == 200 and b"Email verified" in r.data
    assert "Location" not in r.headers


@pytest.mark.parametrize("face", [lambda c, link: c.get(api(link)), press], ids=["json", "html"])
def test_encoded_slashes_never_lead_off_site(client: Any, mailbox: Mailbox, face: Any) -> None:
    # ``/%2F%2Fevil.com`` is a local path; following it or not is both fine, leaving is not.
    r = face(client, with_redirect(sign_up(client, mailbox, path="/confirm"), "/%2F%2Fevil.com"))
    assert r.status_code == (200 if face is press else 204)  # neither face follows it
    if "Location" in r.headers:
        assert urlsplit(urljoin("http://localhost/confirm", r.headers["Location"])).netloc == "localhost"


def test_confirm_twice_succeeds_both_times_and_signals_once(app: Flask, client: Any, mailbox: Mailbox) -> None:
    link = sign_up(client, mailbox, path="/confirm")
    seen = []
    with signals.user_verified.connected_to(lambda sender, user: seen.append(user.email), sender=app):
        assert client.get(api(link)).status_code == 204
        first = user(app).email_verified_at
        assert client.get(api(link)).status_code == 204
        r = client.get(link)
        assert r.status_code == 200 and b"Email verified" in r.data
    assert seen == ["ada@example.com"]
    assert user(app).email_verified_at == first


def test_expired_link_html_says_so_and_offers_a_prefilled_resend_form(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    with made_ago(3 * 24 * 3600):  # the default REGISTRATION_VERIFY_WITHIN is two days
        link = sign_up(client, mailbox, path="/confirm")
    r = client.get(link)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "expired" in page
    assert re.search(r'<form method="post" action="/resend"', page)
    assert re.search(r'<input[^>]*name="email"[^>]*value="ada@example.com"', page)
    assert not user(app).email_verified

    # The form works: a fresh link arrives and verifies the account.
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert csrf is not None
    r = client.post("/resend", data={"csrf_token": csrf.group(1), "email": "ada@example.com"})
    assert r.status_code == 200 and b"Check your email" in r.data
    fresh = urlsplit(mailbox.link(mailbox.wait_for(2)[1]))
    r = press(client, f"/confirm?{fresh.query}")
    assert r.status_code == 200 and user(app).email_verified


def test_expired_link_json_is_400_token_expired(app: Flask, client: Any, mailbox: Mailbox) -> None:
    with made_ago(3 * 24 * 3600):
        link = sign_up(client, mailbox, path="/confirm")
    r = client.get(api(link))
    assert r.status_code == 400 and r.json["error"]["code"] == "TOKEN_EXPIRED"
    assert not user(app).email_verified


def test_tampered_token_is_400_invalid_token(app: Flask, client: Any, mailbox: Mailbox) -> None:
    q = query(sign_up(client, mailbox, path="/confirm"))
    token = q["token"]
    i = len(token) - 5
    q["token"] = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
    r = client.get("/api/users/confirm?" + urlencode(q))
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"
    r = client.get("/confirm?" + urlencode(q))
    assert r.status_code == 400 and b"not valid" in r.data
    assert not user(app).email_verified


def test_link_with_another_users_uid_is_refused(app: Flask, client: Any, mailbox: Mailbox) -> None:
    ada = query(sign_up(client, mailbox, "ada@example.com", path="/confirm"))
    grace = query(sign_up(client, mailbox, "grace@example.com", path="/confirm"))
    r = client.get("/api/users/confirm?" + urlencode({"uid": grace["uid"], "token": ada["token"]}))
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"
    assert not user(app, "ada@example.com").email_verified
    assert not user(app, "grace@example.com").email_verified


def test_link_for_a_deleted_user_is_404(app: Flask, client: Any, mailbox: Mailbox) -> None:
    link = sign_up(client, mailbox, path="/confirm")
    with app.app_context():
        db.session.execute(db.delete(User))
        db.session.commit()
    r = client.get(api(link))
    assert r.status_code == 404 and r.json["error"]["code"] == "USER_NOT_FOUND"
    r = client.get(link)
    assert r.status_code == 404 and b'action="/resend"' in r.data


def _change_email(app: Flask, old: str, new: str) -> None:
    with app.app_context():
        found = db.session.scalars(db.select(User).filter_by(email=old)).one()
        found.email = new
        db.session.commit()


def test_link_for_an_old_address_is_refused_after_the_email_changed(app: Flask, client: Any, mailbox: Mailbox) -> None:
    link = sign_up(client, mailbox, path="/confirm")
    _change_email(app, "ada@example.com", "ada@new.example.com")
    r = client.get(api(link))
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"
    r = client.get(link)
    assert r.status_code == 400
    assert not user(app, "ada@new.example.com").email_verified


def test_expired_link_for_an_old_address_does_not_show_the_new_address(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    # Whoever reads the old mailbox must not learn the address the account moved to.
    with made_ago(3 * 24 * 3600):
        link = sign_up(client, mailbox, path="/confirm")
    _change_email(app, "ada@example.com", "ada@new.example.com")
    r = client.get(link)
    assert r.status_code == 400
    assert "ada@new.example.com" not in r.get_data(as_text=True)


def _verified_and_unverified(app: Flask, client: Any, mailbox: Mailbox) -> None:
    assert client.get(api(sign_up(client, mailbox, "verified@example.com", path="/confirm"))).status_code == 204
    sign_up(client, mailbox, "pending@example.com", path="/confirm")
    mailbox.clear()


def test_resend_answers_204_alike_and_mails_only_the_unverified_address(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    _verified_and_unverified(app, client, mailbox)
    answers = [
        client.post("/api/users/verify", json={"email": email})
        for email in ("nobody@example.com", "pending@example.com", "verified@example.com")
    ]
    assert [(r.status_code, r.data) for r in answers] == [(204, b"")] * 3
    (msg,) = mailbox.wait_for(1)
    assert [m["To"] for m in mailbox.messages] == ["pending@example.com"]
    parts = urlsplit(mailbox.link(msg))
    assert client.get(f"{parts.path}?{parts.query}").status_code == 204
    assert user(app, "pending@example.com").email_verified


@pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False)
def test_resend_without_enumeration_prevention_names_the_problem(app: Flask, client: Any, mailbox: Mailbox) -> None:
    _verified_and_unverified(app, client, mailbox)
    r = client.post("/api/users/verify", json={"email": "nobody@example.com"})
    assert r.status_code == 404 and r.json["error"]["code"] == "USER_NOT_FOUND"
    r = client.post("/api/users/verify", json={"email": "verified@example.com"})
    assert r.status_code == 422 and r.json["error"]["details"]["codes"] == {"email": ["verified"]}
    assert mailbox.messages == []
    r = client.post("/api/users/verify", json={"email": "pending@example.com"})
    assert r.status_code == 204
    assert [m["To"] for m in mailbox.wait_for(1)] == ["pending@example.com"]


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": 42}, ["pending@example.com"]])
def test_resend_without_an_email_string_is_refused(client: Any, mailbox: Mailbox, body: Any) -> None:
    r = client.post("/api/users/verify", json=body)
    assert r.status_code == 422
    assert mailbox.messages == []


def test_the_pages_buttons_keep_the_links_redirect(app: Flask, client: Any, mailbox: Mailbox) -> None:
    # A browser posts the page's forms as they are: their action must carry the redirect.
    link = with_redirect(sign_up(client, mailbox, path="/confirm"), "/welcome")
    page = client.get(link).get_data(as_text=True)
    actions = re.findall(r'<form method="post" action="([^"]+)"', page)
    assert actions == ["/confirm?redirect=/welcome", "/confirm/new-password?redirect=/welcome"]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post(actions[0], data={**query(link), "csrf_token": token, "password": "correct horse"})
    assert r.status_code == 302 and r.headers["Location"] == "/welcome"
    assert user(app).email_verified


def test_json_confirm_takes_a_numeric_uid_and_refuses_text_it_cannot_hash(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    q = query(sign_up(client, mailbox, path="/confirm"))
    r = client.post("/api/users/confirm", json={"uid": int(q["uid"]), "token": q["token"], "password": "\ud800"})
    assert r.status_code == 422 and r.json["error"]["details"]["codes"] == {"password": ["type"]}
    r = client.post("/api/users/confirm", json={"uid": int(q["uid"]), "token": q["token"], "password": "correct horse"})
    assert r.status_code == 204 and user(app).email_verified
