"""The HTML pages in a real browser: Debian's Chromium driven by Playwright.

The app is served by werkzeug on 127.0.0.1 with the real SMTP server behind it. Page
screenshots go to ``$SCREENSHOT_DIR`` (the test command sets ``artifacts/screenshots``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM, live_app
from tests.helpers import made_ago
from tests.models import User, db
from tests.smtp import Mailbox

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "artifacts/screenshots"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (scripts/test.sh installs it)",
    ),
]


@pytest.fixture
def live(mailbox: Any, database_url: str) -> Iterator[tuple[Any, str]]:
    """The test app served on a loopback port; yields (app, base URL). After a login
    the browser lands on the library's account page."""
    with live_app(mailbox, database_url) as served:
        yield served


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_sign_up_verify_log_in_and_out_in_the_browser(live: Any, page: Any, mailbox: Mailbox) -> None:
    _, base = live
    page.goto(f"{base}/signup")
    shot(page, "signup")
    page.get_by_label("Email").fill("browser@example.com")
    page.get_by_label("Password", exact=True).fill("a browser password")
    page.get_by_label("Password (again)").fill("a browser password")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    assert "browser@example.com" in page.content()
    shot(page, "check-your-email")

    (msg,) = mailbox.wait_for(1)
    page.goto(mailbox.link(msg))
    # Opening the link changes nothing: this browser signed up, so one press confirms.
    page.get_by_role("heading", name="Confirm your email address").wait_for()
    assert "browser@example.com" in page.inner_text("main")
    assert page.get_by_label("Your password").count() == 0
    shot(page, "confirm")
    page.get_by_role("button", name="Confirm my email address").click()
    page.get_by_role("heading", name="Email verified").wait_for()
    page.get_by_role("link", name="Log in").click()

    page.get_by_role("heading", name="Log in").wait_for()
    shot(page, "login")
    page.get_by_label("Email").fill("browser@example.com")
    page.get_by_label("Password").fill("a browser password")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Your account").wait_for()
    assert page.url == f"{base}/account"
    assert "browser@example.com" in page.inner_text("main")
    shot(page, "account")

    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/account")
    assert page.url.startswith(f"{base}/login?next=")


def test_login_waits_for_verification_in_the_browser(live: Any, page: Any, mailbox: Mailbox) -> None:
    _, base = live
    page.goto(f"{base}/signup")
    page.get_by_label("Email").fill("waits@example.com")
    page.get_by_label("Password", exact=True).fill("waiting password")
    page.get_by_label("Password (again)").fill("waiting password")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("waits@example.com")
    page.get_by_label("Password").fill("waiting password")
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "the address is not confirmed yet" in alert.inner_text()
    assert page.get_by_role("link", name="send a new link").is_visible()


def test_every_validation_error_is_shown_and_tied_to_its_field(live: Any, page: Any) -> None:
    _, base = live
    page.goto(f"{base}/signup")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password (again)").fill("shorter")
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Create an account").wait_for()
    messages = {}
    for label in ("Email", "Password", "Password (again)"):
        field = page.get_by_label(label, exact=True)
        assert field.get_attribute("aria-invalid") == "true", label
        described = field.get_attribute("aria-describedby")
        assert described, label
        messages[label] = page.locator(f"#{described}").inner_text()
    assert "at least 8 characters" in messages["Password"]
    assert "The passwords do not match." in messages["Password (again)"]
    assert messages["Email"]
    shot(page, "signup-error")


def test_the_expired_link_page_offers_a_resend_that_works(live: Any, page: Any, mailbox: Mailbox) -> None:
    app, base = live
    with app.app_context():
        user = User(email="late@example.com", password_hash=None)
        db.session.add(user)
        db.session.commit()
        with made_ago(3 * 24 * 3600):
            link = app.extensions["registration"].extension.send_verification(user)
    assert link is True
    (old,) = mailbox.wait_for(1)
    page.goto(mailbox.link(old))
    page.get_by_role("heading", name="This link has expired").wait_for()
    assert page.get_by_label("Email").input_value() == "late@example.com"
    shot(page, "expired-link")
    page.get_by_role("button", name="Send a new link").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    messages = mailbox.wait_for(2)
    page.goto(mailbox.link(messages[1]))
    page.get_by_role("button", name="Confirm my email address").click()  # nothing can log in to it yet
    page.get_by_role("heading", name="Email verified").wait_for()
