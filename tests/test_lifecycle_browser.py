"""An account's end in a real browser (Debian's Chromium through Playwright): download
the data from the account page, delete the account; and with a grace period, restore it
from the emailed link and log in again. Screenshots go to ``$SCREENSHOT_DIR``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import CHROMIUM, free_port, serve
from tests.helpers import PASSWORD, add_user, full_app, optional, rows_of, user_row

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", "artifacts/screenshots"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (scripts/test.sh installs it)",
    ),
]


@pytest.fixture
def live(request: pytest.FixtureRequest, mailbox: Any, database_url: str) -> Iterator[tuple[Any, str]]:
    """The app with every model, served on a loopback port (``app_config`` markers
    apply); yields (app, base URL). After a login the browser lands on the account page."""
    port = free_port()
    config: dict[str, Any] = {
        "SERVER_NAME": f"127.0.0.1:{port}",
        "TESTING": False,
        "REGISTRATION_POST_LOGIN_REDIRECT": "/account",
    }
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        config.update(marker.kwargs)
    with full_app(database_url, mailbox, **config) as app, serve(app, port) as base:
        yield app, base


def shot(page: Any, name: str) -> None:
    """A screenshot of the page, and axe-core's check that nothing on it stops a person
    with a screen reader or a keyboard (no serious or critical violation)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    axe = optional("axe_playwright_python.sync_playwright").Axe()
    blocking = [v["id"] for v in axe.run(page).response["violations"] if v["impact"] in ("serious", "critical")]
    assert blocking == [], f"{name}: {blocking}"


def log_in(page: Any, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Your account").wait_for()


def test_download_the_data_then_delete_the_account(
    live: tuple[Flask, str], page: Any, mailbox: Any, tmp_path: Path
) -> None:
    app, base = live
    ada = add_user(app)
    log_in(page, base)

    page.get_by_role("link", name="Download your data").click()
    page.get_by_role("heading", name="Download your data").wait_for()
    shot(page, "export")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    target = tmp_path / "export.json"
    download.value.save_as(target)
    assert download.value.suggested_filename.startswith(f"account-{ada}-")
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["user"]["email"] == "ada@example.com" and len(data["sessions"]) == 1

    page.goto(f"{base}/account")
    page.get_by_role("link", name="Delete your account").click()
    page.get_by_role("heading", name="Delete your account").wait_for()
    shot(page, "delete-account")
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("heading", name="Your account was deleted").wait_for()
    shot(page, "account-deleted")
    assert rows_of(app, ada)["users"] == 0
    (msg,) = mailbox.wait_for(1)
    assert msg["Subject"] == "Your account was deleted"
    page.goto(f"{base}/account")
    page.get_by_role("button", name="Log in").wait_for()  # logged out: the login page


@pytest.mark.app_config(REGISTRATION_DELETE_GRACE=timedelta(days=7))
def test_restore_a_deleted_account_from_the_emailed_link(live: tuple[Flask, str], page: Any, mailbox: Any) -> None:
    app, base = live
    ada = add_user(app)
    log_in(page, base)
    page.goto(f"{base}/account/delete")
    assert "It will be deleted for good after 7 days" in page.content()
    page.get_by_role("button", name="Delete my account").click()
    page.get_by_role("heading", name="Your account will be deleted").wait_for()
    (msg,) = mailbox.wait_for(1)
    link = mailbox.link(msg, "/account/restore")

    page.goto(link)
    page.get_by_role("heading", name="Restore your account").wait_for()
    shot(page, "restore-account")
    page.get_by_role("button", name="Restore my account").click()
    page.get_by_role("heading", name="Your account is restored").wait_for()
    shot(page, "account-restored")
    log_in(page, base)
    assert user_row(app, ada).deleted_at is None
