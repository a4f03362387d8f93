"""Second factors in a real browser: Debian's Chromium through Playwright, with a CDP
virtual authenticator (CTAP2, internal, resident keys, user verification) in place of a
real passkey. The app is served as ``http://localhost:PORT``: WebAuthn needs a secure
context and a host name for its relying party, and 127.0.0.1 is an IP address."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from tests.conftest import CHROMIUM, factors_app_for, free_port, serve_localhost
from tests.helpers import PASSWORD, add_user, optional
from tests.models import Factor, User, db

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (scripts/test.sh installs it)",
    ),
]


@pytest.fixture
def live(mailbox: Any, database_url: str) -> Iterator[tuple[Any, str]]:
    """The app with second factors, served on a loopback port as localhost; a login
    lands on the account page."""
    port = free_port()
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
        "SERVER_NAME": f"localhost:{port}",
        "TESTING": False,
        "REGISTRATION_POST_LOGIN_REDIRECT": "/account",
    }
    with factors_app_for(config) as app, serve_localhost(app, port) as base:
        yield app, base


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A CDP virtual authenticator for ``page``: ``(cdp session, authenticator id)``."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def axe_problems(page: Any, name: str) -> list[str]:
    """axe-core's serious and critical violations on ``page`` (the bundled copy)."""
    axe = optional("axe_playwright_python.sync_playwright").Axe()
    return [
        f"{name}: {v['id']} ({v['impact']}) {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in axe.run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def log_in_to_security(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.locator('input[name="email"]').fill("ada@example.com")
    page.locator('input[name="password"]').fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("heading", name="Your account").wait_for()
    page.get_by_role("link", name="Passkeys, authenticator app and recovery codes").click()
    page.get_by_role("heading", name="Sign-in security").wait_for()


def conditional_ui_only_when_asked(page: Any) -> None:
    """Pages of ``page`` say the browser has no conditional UI (passkeys in the address
    field's autofill) unless their address ends with ``#conditional``. The virtual
    authenticator answers a conditional request at once, as if the person had picked the
    passkey from the autofill; without this, every visit of the login page would log in."""
    page.add_init_script(
        "if (location.hash !== '#conditional' && window.PublicKeyCredential) {"
        " PublicKeyCredential.isConditionalMediationAvailable = async () => false }"
    )


def log_out(page: Any, base: str) -> None:
    page.goto(f"{base}/logout")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{base}/")


def test_add_a_passkey_on_the_security_page_and_log_in_with_it(live: Any, page: Any, mailbox: Any) -> None:
    app, base = live
    add_user(app)
    cdp, authenticator = virtual_authenticator(page)
    conditional_ui_only_when_asked(page)
    log_in_to_security(page, base)
    problems = axe_problems(page, "security, empty")

    page.get_by_label("Passkey name").fill("Chromium")
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_role("heading", name="Passkey added").wait_for()
    problems += axe_problems(page, "recovery codes")
    codes = page.locator("ol.recovery-codes code").all_inner_texts()
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    (stored,) = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert stored["isResidentCredential"] is True and stored["rpId"] == "localhost"
    with app.app_context():
        (passkey,) = db.session.scalars(db.select(Factor).where(Factor.kind == "passkey")).all()
        assert passkey.name == "Chromium" and passkey.data["transports"] == ["internal"]
    (added,) = mailbox.wait_for(1)
    assert "A passkey named “Chromium” was added" in mailbox.text(added)

    page.get_by_role("link", name="I have saved them: back to sign-in security").click()
    assert page.get_by_role("button", name="Remove passkey Chromium").is_visible()
    problems += axe_problems(page, "security, a passkey")

    # Logging in again: the password, then the passkey as the second factor.
    log_out(page, base)
    page.goto(f"{base}/login")
    page.locator('input[name="email"]').fill("ada@example.com")
    page.locator('input[name="password"]').fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("heading", name="Finish logging in").wait_for()
    problems += axe_problems(page, "second factor")
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("heading", name="Your account").wait_for()

    # And the passkey alone: no address, no password.
    log_out(page, base)
    page.goto(f"{base}/login")
    problems += axe_problems(page, "login with passkeys")
    page.get_by_role("button", name="Log in with a passkey").click()
    page.get_by_role("heading", name="Your account").wait_for()

    # And through the address field's autofill (conditional UI): picked at once here.
    log_out(page, base)
    page.goto(f"{base}/login#conditional")
    page.get_by_role("heading", name="Your account").wait_for()
    with app.app_context():
        (passkey,) = db.session.scalars(db.select(Factor).where(Factor.kind == "passkey")).all()
        assert passkey.last_used_at is not None

    page.goto(f"{base}/account/security")  # a passkey login counts as a re-authentication
    page.get_by_role("button", name="Remove passkey Chromium").click()
    page.get_by_text("Removed. We have emailed you about it.").wait_for()
    assert page.get_by_text("You have no passkey yet.").is_visible()
    assert problems == []


def test_set_up_the_authenticator_app_with_the_code_of_the_secret_shown(live: Any, page: Any) -> None:
    app, base = live
    add_user(app)
    log_in_to_security(page, base)
    page.get_by_role("link", name="Set up an authenticator app").click()
    page.get_by_role("heading", name="Set up an authenticator app").wait_for()
    assert page.get_by_role("img", name="QR code to scan with your authenticator app").is_visible()
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    problems = axe_problems(page, "totp setup")

    page.get_by_label("Code from the app").fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on the authenticator app").click()
    page.get_by_text("That code is not right").wait_for()
    problems += axe_problems(page, "totp setup, a wrong code")

    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on the authenticator app").click()
    page.get_by_role("heading", name="Authenticator app added").wait_for()
    assert page.locator("ol.recovery-codes code").count() == 10
    page.get_by_role("link", name="I have saved them: back to sign-in security").click()
    assert page.get_by_role("button", name="Remove the authenticator app").is_visible()
    assert page.get_by_text("You have 10 unused recovery codes").is_visible()
    problems += axe_problems(page, "security, the app on")
    assert problems == []


def test_sign_up_with_a_passkey_verify_the_address_then_log_in_with_it(live: Any, page: Any, mailbox: Any) -> None:
    app, base = live
    cdp, authenticator = virtual_authenticator(page)
    conditional_ui_only_when_asked(page)
    page.goto(f"{base}/signup")
    problems = axe_problems(page, "signup with passkeys")
    page.get_by_label("Email for the passkey account").fill("ada@example.com")
    page.get_by_role("button", name="Sign up with a passkey").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    (stored,) = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert stored["isResidentCredential"] is True
    with app.app_context():
        (user,) = db.session.scalars(db.select(User)).all()
        assert user.password_hash is None and not user.email_verified

    # Not verified yet: the passkey does not log in.
    page.goto(f"{base}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    page.get_by_role("heading", name="Logging in with a passkey did not work").wait_for()
    problems += axe_problems(page, "passkey login refused")

    (verify, _again) = mailbox.wait_for(2)
    page.goto(mailbox.link(verify))
    page.get_by_role("button", name="Confirm my email address").click()
    page.get_by_role("heading", name="Email verified").wait_for()

    page.goto(f"{base}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    page.get_by_role("heading", name="Your account").wait_for()
    assert page.get_by_text("ada@example.com").first.is_visible()
    assert problems == []
