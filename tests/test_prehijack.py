"""The five pre-hijacking attacks of Sudhodanan and Paverd ("Pre-hijacked accounts",
USENIX Security 2022), each run against the app: the attacker prepares an account
before its owner arrives, and must not be able to get in once the owner has proven the
address. Over real HTTP where a provider is involved (the local Authlib provider), with
the real SMTP server; every link is taken out of a received email.

docs/security.rst ("Pre-hijacking") says how each is defended.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from flask import Flask

from tests.helpers import confirm_by_api, link_params
from tests.models import User, db
from tests.oauth_provider import Site, csrf_token, dance
from tests.smtp import Mailbox

ATTACKER_PASSWORD = "the attacker's password"
OWNER_PASSWORD = "the owner's own password"
VICTIM = "victim@example.com"


def account(app: Flask, email: str = VICTIM) -> User | None:
    with app.app_context():
        found = db.session.scalars(db.select(User).filter_by(email=email)).first()
        if found is not None:
            db.session.expunge(found)
        return found


def can_log_in(base: str, password: str, email: str = VICTIM) -> bool:
    r = requests.post(f"{base}/api/users/login", json={"email": email, "password": password}, timeout=10)
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def plant(base: str, mailbox: Mailbox) -> str:
    """The attacker signs the victim's address up with a password of their own; return
    the verification link that went to the victim's inbox."""
    with requests.Session() as attacker:
        r = attacker.post(f"{base}/api/users", json={"email": VICTIM, "password": ATTACKER_PASSWORD}, timeout=10)
        assert r.status_code == 202
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == VICTIM
    mailbox.clear()
    return mailbox.link(msg, "/confirm")


# 1. Classic-federated merge: a password account planted with the victim's address, then
# the victim arrives through a provider, or follows the verification link.


def test_classic_federated_merge_through_the_verification_link(site: Any, mailbox: Mailbox) -> None:
    link = plant(site.url, mailbox)

    # A mail scanner opens the link: nothing changes.
    assert requests.get(link, timeout=10).status_code == 200
    assert account(site.app).email_verified_at is None

    # The victim presses "Confirm" in their own browser: the page asks for the password
    # chosen at signup, which the victim does not know.
    with requests.Session() as victim:
        page = victim.get(link, timeout=10)
        assert 'name="password"' in page.text and VICTIM in page.text
        r = victim.post(f"{site.url}/confirm", data={**link_params(link), "csrf_token": csrf_token(page.text)})
        assert r.status_code == 403
        assert account(site.app).email_verified_at is None
        # So they set a password of their own: every earlier way in goes.
        page = victim.get(link, timeout=10)
        r = victim.post(
            f"{site.url}/confirm/new-password",
            data={
                **link_params(link),
                "csrf_token": csrf_token(page.text),
                "password": OWNER_PASSWORD,
                "password_confirm": OWNER_PASSWORD,
            },
        )
        assert r.status_code == 200 and "Email verified" in r.text
    assert not can_log_in(site.url, ATTACKER_PASSWORD)
    assert can_log_in(site.url, OWNER_PASSWORD)
    (notice,) = mailbox.wait_for(1)
    assert notice["Subject"] == "Your account is now yours alone" and "a password" in mailbox.text(notice)


def test_classic_federated_merge_through_a_provider_login(site: Any, http: Any, mailbox: Mailbox) -> None:
    plant(site.url, mailbox)
    # The victim logs in with a provider that vouches for the address: nothing is linked
    # until the link emailed to the address is pressed in the victim's browser.
    r = dance(http, site.login_url(), sub="victim-1", email=VICTIM, verified=True)
    assert r.status_code == 200 and "Check your email" in r.text
    assert site.identities() == []
    (msg,) = mailbox.wait_for(1)
    assert site.press_oauth_link(http, mailbox.link(msg, "/login/local/confirm")).url == f"{site.url}/"
    assert site.me(http).json()["email"] == VICTIM
    assert not can_log_in(site.url, ATTACKER_PASSWORD)  # the planted password is gone
    assert account(site.app).password_hash is None


def test_the_attackers_own_browser_needs_the_password_it_set(site: Any, mailbox: Mailbox) -> None:
    # The one browser that confirms with a press alone is the one that signed up; any
    # other must show the password. A wrong one is a failed login attempt.
    link = plant(site.url, mailbox)
    with requests.Session() as other:
        r = other.post(f"{site.url}/api/users/confirm", json={**link_params(link), "password": "a guess!"}, timeout=10)
        assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PASSWORD"
        r = other.post(f"{site.url}/api/users/confirm", json=link_params(link), timeout=10)
        assert r.status_code == 403 and r.json()["error"]["code"] == "CONFIRM_PASSWORD_REQUIRED"
    assert account(site.app).email_verified_at is None


# 2. Unexpired session: the attacker keeps a session or token of the planted account.


@pytest.mark.app_config(REGISTRATION_EMAIL_VERIFICATION_REQUIRED=False)
def test_unexpired_session_and_token_end_when_the_owner_takes_the_account(site: Any, mailbox: Mailbox) -> None:
    link = plant(site.url, mailbox)
    attacker = requests.Session()
    r = attacker.post(f"{site.url}/api/users/login", json={"email": VICTIM, "password": ATTACKER_PASSWORD})
    assert r.status_code == 200
    token = r.json()["id"]
    assert site.me(attacker).status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{site.url}/api/users/me", headers=bearer, timeout=10).status_code == 200

    with requests.Session() as owner:
        r = owner.post(f"{site.url}/api/users/confirm", json={**link_params(link), "newPassword": OWNER_PASSWORD})
        assert r.status_code == 204
    assert site.me(attacker).status_code == 401
    assert requests.get(f"{site.url}/api/users/me", headers=bearer, timeout=10).status_code == 401
    assert not can_log_in(site.url, ATTACKER_PASSWORD)
    attacker.close()


@pytest.mark.app_config(REGISTRATION_EMAIL_VERIFICATION_REQUIRED=False)
def test_unexpired_session_ends_when_the_owner_resets_the_password(site: Any, mailbox: Mailbox) -> None:
    plant(site.url, mailbox)
    attacker = requests.Session()
    assert attacker.post(f"{site.url}/api/users/login", json={"email": VICTIM, "password": ATTACKER_PASSWORD}).ok
    requests.post(f"{site.url}/api/users/reset", json={"email": VICTIM}, timeout=10)
    (msg,) = mailbox.wait_for(1)
    token = link_params(mailbox.link(msg, "/reset-password"))["token"]
    mailbox.clear()
    r = requests.post(f"{site.url}/api/users/reset-password", json={"token": token, "newPassword": OWNER_PASSWORD})
    assert r.status_code == 204
    assert site.me(attacker).status_code == 401
    (notice,) = mailbox.wait_for(1)
    assert "Your account can now be logged in to with: a password." in mailbox.text(notice)
    attacker.close()


# 3. Trojan identifier: the attacker links an identity of their own to an account, or a
# provider account that names the victim's address to the attacker's account.


def test_trojan_identifier_leads_the_victim_to_an_account_of_their_own(site: Any, http: Any, mailbox: Mailbox) -> None:
    site.add_user("attacker@example.com", verified=True, password=ATTACKER_PASSWORD)
    with requests.Session() as attacker:
        site.log_in(attacker, "attacker@example.com", ATTACKER_PASSWORD)  # a fresh password login
        r = dance(attacker, site.login_url(), sub="attacker-idp", email=VICTIM, verified=False)
        assert r.url.startswith(f"{site.url}/account/connections")
    attacker_id = account(site.app, "attacker@example.com").id
    assert site.identities() == [("local", "attacker-idp", attacker_id)]
    mailbox.clear()

    # The victim's own provider account: the identity, not the address, decides.
    r = dance(http, site.login_url(), sub="victim-idp", email=VICTIM, verified=True)
    assert r.url == f"{site.url}/"
    me = site.me(http).json()
    assert me["email"] == VICTIM and me["id"] != attacker_id


def test_a_copied_session_cookie_cannot_link_a_trojan_identity(site: Any, mailbox: Mailbox) -> None:
    site.add_user("owner@example.com", verified=True, password=OWNER_PASSWORD)
    owner = requests.Session()
    site.log_in(owner, "owner@example.com", OWNER_PASSWORD)
    thief = requests.Session()
    thief.cookies.update(owner.cookies)
    _age_reauth(site, thief)  # copied a while after the owner typed the password
    r = thief.get(site.login_url())  # start linking the thief's provider account
    assert r.status_code == 200 and r.url.startswith(f"{site.url}/reauthenticate")
    assert site.identities() == []
    owner.close()
    thief.close()


def _age_reauth(site: Site, http: requests.Session) -> None:
    """Make the re-authentication mark in ``http``'s session cookie an hour older."""
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(site.app)
    assert serializer is not None
    (cookie,) = [c for c in http.cookies if c.name == site.app.config["SESSION_COOKIE_NAME"]]
    data = serializer.loads(cookie.value or "")
    data["registration_reauth"]["at"] -= 3600
    cookie.value = serializer.dumps(data)


# 4. Unexpired email change: the attacker asks to move an account to the victim's address.


def test_unexpired_email_change_never_takes_the_victims_address(app: Flask, client: Any, mailbox: Mailbox) -> None:
    with app.app_context():
        state = app.extensions["registration"]
        user = state.store.create(
            {"email": "attacker@example.com", "password_hash": state.passwords.hash(ATTACKER_PASSWORD)}
        )
        state.store.mark_verified(user)
    attacker = app.test_client()
    r = attacker.post("/api/users/login", json={"email": "attacker@example.com", "password": ATTACKER_PASSWORD})
    token = r.json["id"]
    r = app.test_client().post(
        "/api/users/change-email",
        json={"newEmail": VICTIM, "password": ATTACKER_PASSWORD},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 202
    change_link = next(mailbox.link(m, "/confirm-email") for m in mailbox.wait_for(2) if m["To"] == VICTIM)
    mailbox.clear()

    # A scanner opens the link in the victim's inbox: nothing changes.
    assert app.test_client().get(change_link).status_code == 200
    assert account(app, VICTIM) is None
    # The victim signs up with the address and confirms it.
    r = app.test_client().post("/api/users", json={"email": VICTIM, "password": OWNER_PASSWORD})
    assert r.status_code == 202
    (verify,) = mailbox.wait_for(1)
    assert confirm_by_api(app.test_client(), mailbox.link(verify), OWNER_PASSWORD).status_code == 204
    # The attacker's pending change can no longer be applied, even by a press.
    r = app.test_client().post("/api/users/confirm-email", json=link_params(change_link))
    assert r.status_code == 422
    assert account(app, "attacker@example.com") is not None
    assert account(app, VICTIM).email_verified_at is not None


# 5. Non-verifying identity provider: the attacker logs in through a provider that does
# not vouch for the victim's address it names.


def test_non_verifying_provider_creates_nothing_for_the_victims_address(site: Any, http: Any, mailbox: Mailbox) -> None:
    r = dance(http, site.login_url(), sub="attacker-idp", email=VICTIM, verified=False)
    assert r.status_code == 200 and "Check your email" in r.text
    assert site.users() == [] and site.identities() == []
    (msg,) = mailbox.wait_for(1)
    mailbox.clear()
    # The owner opens the link in their own browser: it finishes nothing.
    with requests.Session() as owner:
        assert owner.get(mailbox.link(msg, "/login/local/confirm")).status_code == 400
    # The owner signs up with a password, verifies, and is alone in the account.
    with requests.Session() as owner:
        page = owner.get(f"{site.url}/signup")
        r = owner.post(
            f"{site.url}/signup",
            data={
                "csrf_token": csrf_token(page.text),
                "email": VICTIM,
                "password": OWNER_PASSWORD,
                "password_confirm": OWNER_PASSWORD,
            },
        )
        assert r.status_code == 200
        (verify,) = mailbox.wait_for(1)
        link = mailbox.link(verify, "/confirm")
        page = owner.get(link)
        assert 'name="password"' not in page.text  # the browser that signed up presses only
        r = owner.post(f"{site.url}/confirm", data={**link_params(link), "csrf_token": csrf_token(page.text)})
        assert r.status_code == 200 and "Email verified" in r.text
    assert site.identities() == []
    # The attacker's provider login does not reach the owner's account.
    with requests.Session() as attacker:
        r = dance(attacker, site.login_url(), sub="attacker-idp", email=VICTIM, verified=False)
        assert r.status_code == 200 and "Check your email" in r.text
        assert site.me(attacker).status_code == 401
