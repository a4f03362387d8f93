"""The profile page and username login in a real browser: Debian's Chromium driven by
Playwright, the app served by werkzeug on 127.0.0.1 (as in tests/test_browser.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import CHROMIUM, live_app
from tests.helpers import add_user, optional, set_username
from tests.models import User, db

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
    """The test app with username login, served on a loopback port, and Ada (username
    ``ada``); yields (app, base URL)."""

    def ada(app: Flask) -> None:
        set_username(app, add_user(app, "ada@example.com"), "ada")

    with live_app(mailbox, database_url, ada, REGISTRATION_LOGIN_FIELDS=["email", "username"]) as served:
        yield served


def shot(page: Any, name: str) -> None:
    """A screenshot, and axe-core's check: no serious or critical violation."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    axe = optional("axe_playwright_python.sync_playwright").Axe()
    blocking = [
        f"{v['id']} ({v['impact']}) at {[node['target'] for node in v['nodes']]}"
        for v in axe.run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert blocking == [], name


def log_in(page: Any, base: str, typed: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email or username").fill(typed)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Your account").wait_for()


def stored_username(app: Any) -> str | None:
    with app.app_context():
        username: str | None = db.session.scalars(db.select(User)).one().username
        return username


def test_log_in_with_a_username_and_edit_the_profile_in_the_browser(live: tuple[Any, str], page: Any) -> None:
    app, base = live
    page.goto(f"{base}/login")
    shot(page, "login-email-or-username")
    log_in(page, base, "ADA")  # any case
    assert page.url == f"{base}/account"

    page.get_by_role("link", name="Edit your profile").click()
    page.get_by_role("heading", name="Your profile").wait_for()
    username = page.get_by_label("Username")
    assert username.input_value() == "ada"
    shot(page, "profile")

    # A refused value: the message under the field, and nothing saved.
    username.fill("ada@home")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("A username cannot contain @.").wait_for()
    assert page.get_by_label("Username").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Username").get_attribute("aria-describedby") == "username-rules username-errors"
    assert stored_username(app) == "ada"
    shot(page, "profile-error")

    page.get_by_label("Username").fill("Ada_Lovelace")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Your profile is saved.").wait_for()
    assert page.get_by_label("Username").input_value() == "ada_lovelace"  # its normal form
    assert stored_username(app) == "ada_lovelace"
    shot(page, "profile-saved")

    page.get_by_role("link", name="Back to your account").click()
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(f"{base}/")
    log_in(page, base, "ada_lovelace")  # the new name logs in
    assert "ada@example.com" in page.inner_text("main")
