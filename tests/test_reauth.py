"""Adding a way to log in needs a recent re-authentication in that browser (the password
again, or a link emailed to the address), and the owner is emailed about it; neither a
session cookie nor an access token alone can add one. Over real HTTP against the local
OAuth provider, with the real SMTP server."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.helpers import link_params
from tests.oauth_provider import PASSWORD, Site, consent, csrf_token, dance
from tests.smtp import Mailbox


def forget_reauth(site: Site, http: requests.Session) -> None:
    """Drop the re-authentication mark from ``http``'s session cookie (a session that
    was restored, or copied, without the password being typed)."""
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(site.app)
    assert serializer is not None
    (cookie,) = [c for c in http.cookies if c.name == site.app.config["SESSION_COOKIE_NAME"]]
    data = serializer.loads(cookie.value or "")
    data.pop("registration_reauth", None)
    cookie.value = serializer.dumps(data)


def test_linking_after_a_password_login_emails_the_owner(site: Any, http: Any, mailbox: Mailbox) -> None:
    owner = site.add_user("ada@example.com", verified=True)
    site.log_in(http, "ada@example.com")  # the password was just typed: a recent re-authentication
    r = dance(http, site.login_url(), sub="ada-idp", email="ada@example.com", verified=True)
    assert r.url == f"{site.url}/account/connections"
    assert site.identities() == [("local", "ada-idp", owner)]
    (notice,) = mailbox.wait_for(1)
    assert notice["To"] == "ada@example.com"
    assert notice["Subject"] == "A new way to log in was added to your account"
    text = mailbox.text(notice)
    assert "Local provider can now be used to log in" in text and "a password, Local provider" in text
    assert f"{site.url}/account/connections" in text


def test_a_session_without_a_recent_password_is_sent_to_reauthenticate_first(
    site: Any, http: Any, mailbox: Mailbox
) -> None:
    owner = site.add_user("ada@example.com", verified=True)
    site.log_in(http, "ada@example.com")
    forget_reauth(site, http)
    page = http.get(site.login_url())
    assert page.url.startswith(f"{site.url}/reauthenticate?next=")
    assert "Confirm it is you" in page.text
    assert site.identities() == []

    # A wrong password does not do.
    r = http.post(
        page.url, data={"csrf_token": csrf_token(page.text), "password": "not the password", "next": "/login/local"}
    )
    assert r.status_code == 400 and "Confirm it is you" in r.text
    # The right one leads on to the provider, and the link is made.
    r = http.post(page.url, data={"csrf_token": csrf_token(page.text), "password": PASSWORD, "next": "/login/local"})
    r = consent(http, r, sub="ada-idp", email="ada@example.com", verified=True)
    assert r.url == f"{site.url}/account/connections"
    assert site.identities() == [("local", "ada-idp", owner)]


def test_an_old_mark_is_not_recent(site: Any, http: Any) -> None:
    site.add_user("ada@example.com", verified=True)
    site.log_in(http, "ada@example.com")
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(site.app)
    assert serializer is not None
    (cookie,) = [c for c in http.cookies if c.name == site.app.config["SESSION_COOKIE_NAME"]]
    data = serializer.loads(cookie.value or "")
    within = int(site.app.config["REGISTRATION_REAUTH_WITHIN"].total_seconds())
    data["registration_reauth"]["at"] -= within + 1
    cookie.value = serializer.dumps(data)
    assert http.get(site.login_url()).url.startswith(f"{site.url}/reauthenticate")


def test_an_access_token_alone_cannot_link_a_provider(site: Any, mailbox: Mailbox) -> None:
    site.add_user("ada@example.com", verified=True)
    r = requests.post(f"{site.url}/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    token = r.json()["id"]
    with requests.Session() as thief:  # no cookie: only the token
        thief.headers["Authorization"] = f"Bearer {token}"
        r = thief.get(site.login_url(), allow_redirects=False)
        assert r.status_code == 401
        r = thief.get(site.login_url(), headers={"Accept": "application/json"}, allow_redirects=False)
        assert r.status_code == 401 and r.json()["error"]["code"] == "REAUTHENTICATION_REQUIRED"
        r = thief.post(f"{site.url}/api/users/reauthenticate", json={"password": PASSWORD})
        assert r.status_code == 400 and r.json()["error"]["code"] == "SESSION_REQUIRED"
    assert site.identities() == []
    assert mailbox.messages == []


def test_the_json_face_marks_a_browser_session(site: Any, http: Any) -> None:
    site.add_user("ada@example.com", verified=True)
    site.log_in(http, "ada@example.com")
    forget_reauth(site, http)
    headers = {"X-CSRFToken": http.get(f"{site.url}/api/users/csrf-token").json()["csrfToken"]}
    r = http.post(f"{site.url}/api/users/reauthenticate", json={"password": "a wrong password"}, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PASSWORD"
    assert http.get(site.login_url(), allow_redirects=False).headers["Location"].startswith("/reauthenticate")
    r = http.post(f"{site.url}/api/users/reauthenticate", json={"password": PASSWORD}, headers=headers)
    assert r.status_code == 204
    assert http.get(site.login_url(), allow_redirects=False).headers["Location"].startswith(site.provider_url)


def test_an_account_without_a_password_reauthenticates_with_an_emailed_link(
    site: Any, http: Any, mailbox: Mailbox
) -> None:
    dance(http, site.login_url(), sub="ada-idp", email="ada@example.com", verified=True)  # no password
    forget_reauth(site, http)
    page = http.get(f"{site.url}/reauthenticate")
    assert 'name="password"' not in page.text
    r = http.post(f"{site.url}/reauthenticate/email", data={"csrf_token": csrf_token(page.text), "next": "/"})
    assert r.status_code == 200 and "Check your email" in r.text
    (msg,) = mailbox.wait_for(1)
    link = mailbox.link(msg, "/reauthenticate/link")

    # Pressed in another browser where someone else is logged in, it does nothing there.
    with requests.Session() as other:
        site.add_user("bob@example.com", verified=True)
        site.log_in(other, "bob@example.com")
        forget_reauth(site, other)
        page = other.get(link)
        r = other.post(
            f"{site.url}/reauthenticate/link", data={**link_params(link), "csrf_token": csrf_token(page.text)}
        )
        assert r.status_code == 400
        assert other.get(site.login_url(), allow_redirects=False).headers["Location"].startswith("/reauthenticate")

    page = http.get(link)  # opening it changes nothing
    assert http.get(site.login_url(), allow_redirects=False).headers["Location"].startswith("/reauthenticate")
    r = http.post(f"{site.url}/reauthenticate/link", data={**link_params(link), "csrf_token": csrf_token(page.text)})
    assert r.url == f"{site.url}/"
    assert http.get(site.login_url(), allow_redirects=False).headers["Location"].startswith(site.provider_url)


def test_the_password_changed_email_lists_the_ways_to_log_in(site: Any, http: Any, mailbox: Mailbox) -> None:
    site.add_user("ada@example.com", verified=True)
    site.log_in(http, "ada@example.com")
    dance(http, site.login_url(), sub="ada-idp", email="ada@example.com", verified=True)
    mailbox.wait_for(1)
    mailbox.clear()
    requests.post(f"{site.url}/api/users/reset", json={"email": "ada@example.com"})
    (msg,) = mailbox.wait_for(1)
    token = link_params(mailbox.link(msg, "/reset-password"))["token"]
    mailbox.clear()
    r = requests.post(f"{site.url}/api/users/reset-password", json={"token": token, "newPassword": "a new password!"})
    assert r.status_code == 204
    (notice,) = mailbox.wait_for(1)
    assert "Your account can now be logged in to with: a password, Local provider." in mailbox.text(notice)
    assert site.identities() != []  # a verified account keeps what its owner linked


@pytest.mark.app_config(REGISTRATION_EMAIL_VERIFICATION_REQUIRED=False)
def test_a_reset_of_an_unverified_account_removes_the_providers_linked_before(
    site: Any, http: Any, mailbox: Mailbox
) -> None:
    # Someone signed the victim's address up and linked a provider of their own (they
    # could log in, verification not being required); the owner's reset removes it.
    with requests.Session() as attacker:
        r = attacker.post(f"{site.url}/api/users", json={"email": "vic@example.com", "password": PASSWORD})
        assert r.status_code == 202
        site.log_in(attacker, "vic@example.com")
        dance(attacker, site.login_url(), sub="attacker-idp", email="attacker@example.com", verified=True)
    assert [i[1] for i in site.identities()] == ["attacker-idp"]
    mailbox.clear()
    requests.post(f"{site.url}/api/users/reset", json={"email": "vic@example.com"})
    (msg,) = [m for m in mailbox.wait_for(1) if "/reset-password" in mailbox.text(m)]
    token = link_params(mailbox.link(msg, "/reset-password"))["token"]
    mailbox.clear()
    r = requests.post(f"{site.url}/api/users/reset-password", json={"token": token, "newPassword": "the owner's one"})
    assert r.status_code == 204
    assert site.identities() == []
    (notice,) = mailbox.wait_for(1)
    text = mailbox.text(notice)
    assert "these earlier ways to log in were removed: Local provider" in text
    with requests.Session() as attacker:
        dance(attacker, site.login_url(), sub="attacker-idp", email="attacker@example.com", verified=True)
        assert site.me(attacker).json()["email"] == "attacker@example.com"  # a new account, not the victim's
