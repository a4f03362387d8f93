"""What the pages of second factors and of an account's end say is the page's, in its
language: ``passkeys.js`` takes every sentence it shows from its form's ``data-text-*``
attributes (translated by the template), and when a disabled account will be deleted is
written by Babel for the reader's language."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel import Locale

from flask_registration.flows.deletion import format_moment
from tests.conftest import CHROMIUM, factors_app_for, free_port, serve_localhost
from tests.helpers import add_user, api_login, csrf_headers, html_login

TEMPLATES = Path(__file__).resolve().parent.parent / "flask_registration" / "templates" / "registration"
#: The sentences a passkey form hands to passkeys.js.
TEXTS = ("unsupported", "working", "sending", "failed", "refused")
#: The opening tag of a form that passkeys.js drives.
PASSKEY_FORM_RE = re.compile(r'<form\b[^>]*(?:data-passkey=|id="add-passkey-form")[^>]*>', re.S)


def test_every_passkey_form_of_the_library_hands_its_texts_to_the_script() -> None:
    forms = {path.name: PASSKEY_FORM_RE.findall(path.read_text()) for path in TEMPLATES.glob("*.html")}
    forms = {name: found for name, found in forms.items() if found}
    assert sorted(forms) == [
        "_passkey_login.html",
        "_passkey_reauth.html",
        "_passkey_signup.html",
        "second_factor.html",
        "security.html",
    ]
    missing = [
        f"{name}: data-text-{text}"
        for name, found in forms.items()
        for tag in found
        for text in TEXTS
        if f"data-text-{text}=" not in tag
    ]
    assert missing == []


def test_the_rendered_passkey_forms_carry_their_sentences(factors_app: Any) -> None:
    client = factors_app.test_client()
    pages = {"/login": client.get("/login"), "/signup": client.get("/signup")}
    add_user(factors_app)
    html_login(client)  # a password just typed: the security page offers "Add a passkey"
    pages["/account/security"] = client.get("/account/security")
    for path, page in pages.items():
        assert page.status_code == 200, path
        tags = PASSKEY_FORM_RE.findall(page.get_data(as_text=True))
        assert len(tags) == 1, path
        values = dict(re.findall(r'data-text-(\w+)="([^"]*)"', tags[0]))
        assert sorted(values) == sorted(TEXTS), path
        assert all(values.values()), path
        assert "{message}" in values["failed"], path


def test_a_moment_is_written_for_the_readers_language() -> None:
    when = datetime(2025, 3, 7, 14, 5, tzinfo=UTC)
    assert format_moment(when, Locale.parse("de")) == "7. März 2025, 14:05"
    assert format_moment(when, Locale.parse("fr")) == "7 mars 2025, 14:05"
    # Babel's English puts a narrow space before PM (CLDR 42 and later): compare the words.
    assert format_moment(when, Locale.parse("en")).split() == ["March", "7,", "2025,", "2:05", "PM"]
    # SQLite gives back stored UTC times without their zone: the same moment.
    assert format_moment(when.replace(tzinfo=None), Locale.parse("de")) == "7. März 2025, 14:05"


@pytest.mark.app_config(REGISTRATION_DELETE_GRACE=timedelta(days=7))
def test_the_deletion_email_says_when_as_babel_writes_it(app: Any, mailbox: Any) -> None:
    add_user(app)
    client = app.test_client()
    api_login(client)

    r = client.delete("/api/users/me", headers=csrf_headers(client))

    assert r.status_code == 202
    when = datetime.fromisoformat(r.get_json()["deleteAfter"])
    with app.app_context():
        said = format_moment(when)
    text = " ".join(mailbox.text(mailbox.wait_for(1)[0]).split())
    assert f"will be deleted for good after {' '.join(said.split())} UTC." in text


@pytest.fixture
def live(mailbox: Any, database_url: str) -> Iterator[str]:
    """The app with second factors, served on a loopback port as localhost."""
    port = free_port()
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
        "SERVER_NAME": f"localhost:{port}",
        "TESTING": False,
    }
    with factors_app_for(config) as app, serve_localhost(app, port) as base:
        yield base


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (scripts/test.sh installs it)",
)
def test_the_script_says_what_the_page_gives_it(browser: Any, live: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    # A browser without WebAuthn, and a login page whose sentence is not the script's
    # own English: the status must show the page's.
    page.add_init_script("delete window.PublicKeyCredential")

    def reword(route: Any) -> None:
        answer = route.fetch()
        body = answer.text().replace(
            'data-text-unsupported="This browser cannot use passkeys."', 'data-text-unsupported="Said by the page."'
        )
        route.fulfill(response=answer, body=body)

    page.route(f"{live}/login", reword)
    try:
        page.goto(f"{live}/login")
        status = page.locator("#passkey-login-form [data-passkey-status]")
        status.filter(has_text="Said by the page.").wait_for()
        assert page.locator("#passkey-login-form [data-passkey-button]").is_disabled()
    finally:
        context.close()
