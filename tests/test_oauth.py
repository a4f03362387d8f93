"""Third-party login: the whole dance over HTTP against a real OAuth2 provider.

The provider is the Authlib server of ``examples/oauth/provider.py`` on a loopback port;
the app runs on another, with the real SMTP server behind it. Each dance goes app →
provider's consent page → code → the app's callback → token exchange → ``/userinfo``
→ a local account created, linked or refused.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from flask_registration import ValidationError, signals
from tests.models import User, db
from tests.oauth_provider import PASSWORD, Site, consent, csrf_token, dance
from tests.smtp import Mailbox

# A new account.


def test_verified_email_creates_a_verified_account_and_logs_in(site: Any, http: Any, mailbox: Mailbox) -> None:
    r = dance(http, site.login_url(), sub="ada-1", email="Ada@Example.com", verified=True, name="Ada")
    assert r.status_code == 200
    assert r.url == f"{site.url}/"
    assert any(h.url.startswith(f"{site.url}/login/local/authorized?code=") for h in r.history)

    me = site.me(http)
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"
    assert me.json()["emailVerified"] is True
    (user,) = site.users()
    assert user.password_hash is None
    assert site.identities() == [("local", "ada-1", user.id)]
    token = site.token_of("ada-1")
    assert token["token_type"].lower() == "bearer" and token["access_token"]
    assert mailbox.messages == []  # the provider vouched for the address: no link to follow


def test_the_dance_sends_its_signals(site: Any, http: Any) -> None:
    seen: list[tuple[str, Any]] = []

    def on_linked(sender: Any, **kw: Any) -> None:
        seen.append(("linked", (kw["provider"], kw["provider_user_id"], kw["user"].email)))

    def on_logged_in(sender: Any, **kw: Any) -> None:
        seen.append(("logged_in", (kw["provider"], kw["user"].email)))

    def on_registered(sender: Any, **kw: Any) -> None:
        seen.append(("registered", kw["data"]["oauth_provider"]))

    with (
        signals.oauth_identity_linked.connected_to(on_linked, sender=site.app),
        signals.oauth_logged_in.connected_to(on_logged_in, sender=site.app),
        signals.user_registered.connected_to(on_registered, sender=site.app),
    ):
        dance(http, site.login_url(), sub="sig-1", email="sig@example.com", verified=True)
    assert seen == [
        ("registered", "local"),
        ("linked", ("local", "sig-1", "sig@example.com")),
        ("logged_in", ("local", "sig@example.com")),
    ]


def test_a_known_identity_logs_its_user_in_again_and_keeps_the_new_token(site: Any, http: Any) -> None:
    dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    first = site.token_of("ada-1")["access_token"]
    with requests.Session() as again:
        # The provider now says another address: the identity, not the address, decides.
        r = dance(again, site.login_url(), sub="ada-1", email="other@example.com", verified=True)
        assert r.url == f"{site.url}/"
        assert site.me(again).json()["email"] == "ada@example.com"
    assert len(site.users()) == 1
    assert site.token_of("ada-1")["access_token"] != first


def test_an_unvouched_address_creates_nothing_until_its_link_is_pressed_in_this_browser(
    site: Any, http: Any, mailbox: Mailbox
) -> None:
    r = dance(http, site.login_url(), sub="bob-1", email="bob@example.com", verified=False)
    assert r.status_code == 200
    assert "Check your email" in r.text and "bob@example.com" in r.text
    assert site.me(http).status_code == 401
    assert site.users() == [] and site.identities() == []  # nothing before the address is proven

    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "bob@example.com"
    link = mailbox.link(msg, "/login/local/confirm")
    # Opened anywhere else (the owner's browser, a mail scanner), the link does nothing.
    with requests.Session() as elsewhere:
        page = elsewhere.get(link)
        assert page.status_code == 400 and "only in the browser where you started" in html.unescape(page.text)
    assert http.get(link).status_code == 200  # opening it here changes nothing either
    assert site.users() == []

    r = site.press_oauth_link(http, link)
    assert r.url == f"{site.url}/"
    assert site.me(http).json()["emailVerified"] is True
    (user,) = site.users()
    assert user.email == "bob@example.com" and user.password_hash is None
    assert site.identities() == [("local", "bob-1", user.id)]
    # Logging in through the provider again: the identity is known now.
    with requests.Session() as again:
        dance(again, site.login_url(), sub="bob-1", email="bob@example.com", verified=False)
        assert site.me(again).json()["email"] == "bob@example.com"


@pytest.mark.app_config(REGISTRATION_EMAIL_VERIFICATION_REQUIRED=False)
def test_an_unvouched_address_waits_for_its_link_even_when_verification_is_not_required(
    site: Any, http: Any, mailbox: Mailbox
) -> None:
    # No account may hold a stranger's identity before its owner proves the address.
    r = dance(http, site.login_url(), sub="bob-1", email="bob@example.com", verified=False)
    assert r.status_code == 200 and "Check your email" in r.text
    assert site.users() == [] and site.me(http).status_code == 401
    (msg,) = mailbox.wait_for(1)
    assert site.press_oauth_link(http, mailbox.link(msg, "/login/local/confirm")).url == f"{site.url}/"
    assert site.me(http).json()["emailVerified"] is True


def test_no_email_asks_for_one_and_confirms_it_with_a_link(site: Any, http: Any, mailbox: Mailbox) -> None:
    r = dance(http, site.login_url(), sub="cy-1", email=None)
    assert r.url == f"{site.url}/login/local/email"
    assert "did not give us an email address" in r.text
    assert site.users() == []

    r = http.post(r.url, data={"csrf_token": csrf_token(r.text), "email": "not an address"})
    assert r.status_code == 422
    assert "This email address is not valid" in html.unescape(r.text)
    r = http.post(r.url, data={"csrf_token": csrf_token(r.text), "email": "Cy@Example.com"})
    assert r.status_code == 200 and "Check your email" in r.text
    assert site.me(http).status_code == 401
    assert site.users() == [] and site.identities() == []

    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "cy@example.com"
    r = site.press_oauth_link(http, mailbox.link(msg, "/login/local/confirm"))
    assert r.url == f"{site.url}/"
    (user,) = site.users()
    assert user.email == "cy@example.com" and user.email_verified_at is not None
    assert site.identities() == [("local", "cy-1", user.id)]
    assert site.me(http).json()["email"] == "cy@example.com"


def test_the_email_step_needs_a_dance_waiting_for_it(site: Any, http: Any) -> None:
    r = http.get(f"{site.url}/login/local/email")
    assert r.status_code == 400
    assert "no login waiting" in r.text


def test_no_email_then_a_taken_address_answers_as_for_a_new_one(site: Any, http: Any, mailbox: Mailbox) -> None:
    owner = site.add_user("owner@example.com", verified=True)
    r = dance(http, site.login_url(), sub="mal-1")
    r = http.post(r.url, data={"csrf_token": csrf_token(r.text), "email": "owner@example.com"})
    assert r.status_code == 200 and "Check your email" in r.text
    assert [u.id for u in site.users()] == [owner]
    assert site.identities() == []
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "owner@example.com"
    assert msg["Subject"] == "Confirm your email address to log in"
    assert "which is the address of your account here" in mailbox.text(msg)


# An address that already has an account.


def test_a_vouched_address_of_a_verified_account_links_once_its_link_is_pressed(
    site: Any, http: Any, mailbox: Mailbox
) -> None:
    owner = site.add_user("dee@example.com", verified=True)
    r = dance(http, site.login_url(), sub="dee-1", email="DEE@example.com", verified=True)
    assert r.status_code == 200 and "Check your email" in r.text
    assert site.identities() == [] and site.me(http).status_code == 401
    (msg,) = mailbox.wait_for(1)
    mailbox.clear()
    r = site.press_oauth_link(http, mailbox.link(msg, "/login/local/confirm"))
    assert r.url == f"{site.url}/"
    assert site.me(http).json()["id"] == owner
    assert site.identities() == [("local", "dee-1", owner)]
    assert len(site.users()) == 1
    (notice,) = mailbox.wait_for(1)  # the owner hears of the new way in, with a way to remove it
    assert notice["Subject"] == "A new way to log in was added to your account"
    assert "Local provider can now be used to log in" in mailbox.text(notice)
    assert "/account/connections" in mailbox.text(notice)
    with requests.Session() as other:
        site.log_in(other, "dee@example.com")  # the password still works


@pytest.mark.app_config(REGISTRATION_OAUTH_LINK_BY_EMAIL=False)
def test_linking_by_email_can_be_turned_off(site: Any, http: Any, mailbox: Mailbox) -> None:
    site.add_user("dee@example.com", verified=True)
    r = dance(http, site.login_url(), sub="dee-1", email="dee@example.com", verified=True)
    assert r.status_code == 409
    assert "Log in with its password" in html.unescape(r.text)
    assert site.identities() == []
    assert site.me(http).status_code == 401
    # An address the provider does not vouch for gets a notice, not a link.
    r = dance(http, site.login_url(), sub="mal-1", email="dee@example.com", verified=False)
    assert r.status_code == 200 and "Check your email" in r.text
    (msg,) = mailbox.wait_for(1)
    assert "/login/local/confirm" not in mailbox.text(msg) and "log in with your password" in mailbox.text(msg)


def test_a_planted_unverified_account_becomes_the_address_owners_alone(site: Any, http: Any, mailbox: Mailbox) -> None:
    # Someone signed up with the victim's address and a password of their own, and waits.
    with requests.Session() as attacker:
        r = attacker.post(f"{site.url}/api/users", json={"email": "vic@example.com", "password": "attacker's password"})
        assert r.status_code == 202
    mailbox.wait_for(1)
    mailbox.clear()
    (planted,) = site.users()

    # The victim logs in with the provider, which vouches for the address: a link first.
    r = dance(http, site.login_url(), sub="vic-1", email="vic@example.com", verified=True)
    assert r.status_code == 200 and "Check your email" in r.text
    assert site.identities() == []
    (msg,) = mailbox.wait_for(1)
    mailbox.clear()
    r = site.press_oauth_link(http, mailbox.link(msg, "/login/local/confirm"))
    assert r.url == f"{site.url}/"
    assert site.me(http).json()["id"] == planted.id
    (after,) = site.users()
    assert after.password_hash is None and after.email_verified_at is not None  # the planted password is gone
    assert site.identities() == [("local", "vic-1", planted.id)]
    with requests.Session() as attacker:
        body = {"email": "vic@example.com", "password": "attacker's password"}
        r = attacker.post(f"{site.url}/api/users/login", json=body)
        assert r.status_code == 401
    subjects = sorted(m["Subject"] for m in mailbox.wait_for(2))
    assert subjects == ["A new way to log in was added to your account", "Your account is now yours alone"]
    removed = next(m for m in mailbox.messages if m["Subject"] == "Your account is now yours alone")
    assert "a password" in mailbox.text(removed)


def test_an_address_the_provider_does_not_vouch_for_never_links(site: Any, http: Any, mailbox: Mailbox) -> None:
    owner = site.add_user("vic@example.com", verified=True)
    r = dance(http, site.login_url(), sub="mal-1", email="vic@example.com", verified=False)
    assert r.status_code == 200 and "Check your email" in r.text  # as for a new address
    assert site.me(http).status_code == 401
    assert site.identities() == []
    assert [u.id for u in site.users()] == [owner]
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "vic@example.com"
    # The owner, pressing the link in their own browser, links nothing to the stranger.
    with requests.Session() as owners_browser:
        page = owners_browser.get(mailbox.link(msg, "/login/local/confirm"))
        assert page.status_code == 400
    assert site.identities() == []


@pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False)
def test_an_unvouched_address_answers_alike_without_enumeration_prevention(
    site: Any, http: Any, mailbox: Mailbox
) -> None:
    site.add_user("vic@example.com", verified=True)
    taken = dance(http, site.login_url(), sub="mal-1", email="vic@example.com", verified=False)
    with requests.Session() as other:
        free = dance(other, site.login_url(), sub="mal-2", email="free@example.com", verified=False)
    assert taken.status_code == free.status_code == 200
    assert "Check your email" in taken.text and "Check your email" in free.text
    assert site.identities() == []


def test_an_identity_linked_to_another_user_is_refused(site: Any, http: Any) -> None:
    dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    (ada,) = site.users()
    bob = site.add_user("bob@example.com", verified=True)
    with requests.Session() as bob_http:
        site.log_in(bob_http, "bob@example.com")
        r = dance(bob_http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
        assert r.status_code == 409
        assert "already linked to another user" in r.text
        assert site.me(bob_http).json()["id"] == bob  # still Bob, nothing switched
    assert site.identities() == [("local", "ada-1", ada.id)]


# Hooks.


def test_a_before_signup_veto_shows_the_error_page_and_creates_nothing(site: Any, http: Any) -> None:
    @site.registration.before_signup
    def only_example_org(data: dict[str, Any]) -> None:
        if not data["email"].endswith("@example.org"):
            raise ValidationError("must be an example.org address.", field="email", field_code="domain")

    try:
        r = dance(http, site.login_url(), sub="eve-1", email="eve@example.com", verified=True)
        assert r.status_code == 422
        assert "must be an example.org address." in r.text
        r = dance(
            http,
            site.login_url(),
            sub="eve-1",
            email="eve@example.com",
            verified=True,
            headers={"Accept": "application/json"},
        )
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["details"]["codes"] == {"email": ["domain"]}
        assert site.users() == [] and site.identities() == []
    finally:
        site.registration.hooks._hooks["before_signup"].remove(only_example_org)


def test_before_signup_hooks_see_the_provider_and_fill_the_apps_fields(site: Any, http: Any) -> None:
    seen: list[dict[str, Any]] = []

    @site.registration.before_signup
    def username_from_profile(data: dict[str, Any]) -> None:
        seen.append(dict(data))
        data["username"] = data["oauth_profile"]["name"]

    try:
        dance(http, site.login_url(), sub="fay-1", email="fay@example.com", verified=True, name="fay")
    finally:
        site.registration.hooks._hooks["before_signup"].remove(username_from_profile)
    assert seen[0]["oauth_provider"] == "local"
    assert seen[0]["oauth_profile"]["sub"] == "fay-1"
    (user,) = site.users()
    assert user.username == "fay"


# The connections page and its JSON.


def test_a_logged_in_user_links_a_provider_from_the_connections_page(site: Any, http: Any) -> None:
    bob = site.add_user("bob@example.com", verified=True)
    site.log_in(http, "bob@example.com")
    page = http.get(f"{site.url}/account/connections")
    assert page.status_code == 200
    # The provider's link (the page also links back to the account page).
    (link,) = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', page.text) if h.startswith("/login/")]
    assert link.startswith("/login/local?next=")

    r = dance(http, site.url + link, sub="bob-gh", email="someone-else@example.com", verified=True)
    assert r.url == f"{site.url}/account/connections"
    assert "Local provider is linked to your account." in r.text
    assert site.identities() == [("local", "bob-gh", bob)]

    with requests.Session() as later:
        dance(later, site.login_url(), sub="bob-gh")
        assert site.me(later).json()["id"] == bob

    r = http.get(f"{site.url}/api/users/me/identities")
    assert r.status_code == 200
    (identity,) = r.json()
    assert identity["provider"] == "local" and identity["externalId"] == "bob-gh" and identity["userId"] == bob
    assert identity["title"] == "Local provider"
    assert "token" not in identity and "access_token" not in r.text


def test_unlinking_never_removes_the_last_way_to_log_in(site: Any, http: Any) -> None:
    dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    page = http.get(f"{site.url}/account/connections")
    r = http.post(f"{site.url}/account/connections/local/unlink", data={"csrf_token": csrf_token(page.text)})
    assert r.status_code == 409
    assert "only way to log in" in r.text

    token = http.get(f"{site.url}/api/users/csrf-token").json()["csrfToken"]
    r = http.delete(f"{site.url}/api/users/me/identities/local", headers={"X-CSRFToken": token})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "OAUTH_LAST_LOGIN_METHOD"
    assert len(site.identities()) == 1


def test_unlinking_with_a_password_left(site: Any, http: Any) -> None:
    bob = site.add_user("bob@example.com", verified=True)
    site.log_in(http, "bob@example.com")
    dance(http, site.login_url(), sub="bob-gh")
    assert site.identities() == [("local", "bob-gh", bob)]

    page = http.get(f"{site.url}/account/connections")
    r = http.post(f"{site.url}/account/connections/local/unlink", data={"csrf_token": csrf_token(page.text)})
    assert r.url == f"{site.url}/account/connections"
    assert "no longer linked" in r.text
    assert site.identities() == []


def test_the_json_unlink_needs_the_csrf_header_with_a_cookie(site: Any, http: Any) -> None:
    site.add_user("bob@example.com", verified=True)
    site.log_in(http, "bob@example.com")
    dance(http, site.login_url(), sub="bob-gh")
    r = http.delete(f"{site.url}/api/users/me/identities/local")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "CSRF_FAILED"
    token = http.get(f"{site.url}/api/users/csrf-token").json()["csrfToken"]
    r = http.delete(f"{site.url}/api/users/me/identities/github", headers={"X-CSRFToken": token})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "OAUTH_NOT_LINKED"
    r = http.delete(f"{site.url}/api/users/me/identities/local", headers={"X-CSRFToken": token})
    assert r.status_code == 204
    assert site.identities() == []


def test_the_json_identities_take_an_access_token(site: Any, http: Any) -> None:
    site.add_user("bob@example.com", verified=True)
    with requests.Session() as api_client:
        r = api_client.post(f"{site.url}/api/users/login", json={"email": "bob@example.com", "password": PASSWORD})
        access = {"Authorization": f"Bearer {r.json()['id']}"}
    with requests.Session() as anonymous:
        assert anonymous.get(f"{site.url}/api/users/me/identities").status_code == 401
        assert anonymous.get(f"{site.url}/api/users/me/identities", headers=access).json() == []
        # No cookie, a token: no CSRF header needed; nothing linked yet.
        r = anonymous.delete(f"{site.url}/api/users/me/identities/local", headers=access)
        assert r.status_code == 404


def test_the_connections_page_needs_a_login(site: Any, http: Any) -> None:
    r = http.get(f"{site.url}/account/connections", allow_redirects=False)
    assert r.status_code == 302
    assert urlsplit(r.headers["Location"]).path == "/login"


# The dance refused or failing: clean pages, nothing created.


def test_denied_consent_gives_a_clean_error_page(site: Any, http: Any) -> None:
    r = dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True, decision="deny")
    assert r.status_code == 403
    assert "You did not allow Local provider" in r.text
    assert site.users() == [] and site.me(http).status_code == 401


def _attackers_callback(site: Site) -> str:
    """A callback URL with a code and state of someone else's dance (not followed)."""
    with requests.Session() as attacker:
        page = attacker.get(site.login_url())
        r = consent(attacker, page, sub="mallory", email="mallory@example.com", verified=True, allow_redirects=False)
    assert r.status_code == 302
    callback = r.headers["Location"]
    assert set(parse_qs(urlsplit(callback).query)) == {"code", "state"}
    return str(callback)


def test_a_callback_with_a_foreign_state_is_refused(site: Any, http: Any) -> None:
    callback = _attackers_callback(site)
    http.get(site.login_url(), allow_redirects=False)  # the victim's own dance, started
    r = http.get(callback)
    assert r.status_code == 400
    assert "the state does not match" in r.text
    assert site.users() == [] and site.me(http).status_code == 401
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert code in site.provider.extensions["test_provider"].codes  # never exchanged


def test_a_callback_with_no_state_in_the_session_is_refused(site: Any, http: Any) -> None:
    callback = _attackers_callback(site)
    r = http.get(callback, headers={"Accept": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "OAUTH_STATE_MISMATCH"
    assert site.users() == []


def test_a_callback_cannot_be_replayed(site: Any, http: Any) -> None:
    page = http.get(site.login_url())
    r = consent(http, page, sub="ada-1", email="ada@example.com", verified=True, allow_redirects=False)
    callback = r.headers["Location"]
    assert http.get(callback).url == f"{site.url}/"
    r = http.get(callback)
    assert r.status_code == 400  # the state was used up
    assert len(site.users()) == 1


@pytest.mark.app_config(local_settings={"client_secret": "not the secret"})
def test_a_wrong_client_secret_gives_a_clean_error_page(site: Any, http: Any, caplog: pytest.LogCaptureFixture) -> None:
    r = dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    assert r.status_code == 502
    assert "did not accept this site's login request" in html.unescape(r.text)
    assert site.users() == [] and site.me(http).status_code == 401
    assert "not the secret" not in caplog.text


@pytest.mark.app_config(local_settings={"userinfo_url": "http://127.0.0.1:9/userinfo"})
def test_a_provider_that_cannot_say_who_you_are_gives_a_clean_error_page(site: Any, http: Any) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    r = dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    assert r.status_code == 502
    assert "did not tell us who you are" in r.text
    assert site.users() == []


# Where the dance ends, and the JSON face of the callback.


def test_next_is_followed_only_when_it_is_a_local_path(site: Any, http: Any) -> None:
    r = dance(http, site.login_url(next="/somewhere?x=1"), sub="ada-1", email="ada@example.com", verified=True)
    assert r.url == f"{site.url}/somewhere?x=1"
    with requests.Session() as other:
        r = dance(other, site.login_url(next="//evil.example/"), sub="ada-1")
        assert r.url == f"{site.url}/"


def test_the_callback_answers_json_when_asked(site: Any, http: Any) -> None:
    r = dance(
        http,
        site.login_url(),
        sub="ada-1",
        email="ada@example.com",
        verified=True,
        headers={"Accept": "application/json"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["outcome"] == "created" and body["redirect"] == "/"
    assert site.me(http).json()["id"] == body["userId"]


def test_flask_dance_storage_gives_the_app_the_users_token(site: Any, http: Any) -> None:
    dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    (user,) = site.users()
    blueprint = site.app.blueprints["local"]
    import flask_login

    with site.app.test_request_context():
        assert blueprint.token is None  # nobody logged in
        flask_login.login_user(db.session.get(User, user.id))
        assert blueprint.token["access_token"] == site.token_of("ada-1")["access_token"]
        # flask-dance's own requests session, with that token, as an app's view would use it.
        profile = blueprint.session.get(f"{site.provider_url}/userinfo").json()
        assert profile["sub"] == "ada-1"


def test_flask_dance_storage_refreshes_and_forgets_the_token_but_keeps_the_link(site: Any, http: Any) -> None:
    dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    (user,) = site.users()
    blueprint = site.app.blueprints["local"]
    import flask_login

    with site.app.test_request_context():
        flask_login.login_user(db.session.get(User, user.id))
        blueprint.token = {"access_token": "refreshed", "token_type": "Bearer"}  # what a refresh does
    assert site.token_of("ada-1") == {"access_token": "refreshed", "token_type": "Bearer"}
    with site.app.test_request_context():
        flask_login.login_user(db.session.get(User, user.id))
        del blueprint.token
        assert not blueprint.token
    assert site.token_of("ada-1") == {}
    assert site.identities() == [("local", "ada-1", user.id)]  # unlinking is the connections page's
