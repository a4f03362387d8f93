"""The signup → verify → login journey in Chromium, in German and in Arabic: the pages
speak the browser's language (``Accept-Language`` from the context's locale), Arabic
reads right to left, and the verification email arrives in that language.

The expected words come from the library's own catalogs (``force_locale`` + ``gettext``),
and each is checked to differ from the English, so a missing translation fails here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel

from flask_registration.i18n import force_locale, gettext
from tests.conftest import CHROMIUM, live_app
from tests.smtp import Mailbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (scripts/test.sh installs it)",
    ),
]

PASSWORD = "ein langes Passwort"


@pytest.fixture
def live(mailbox: Mailbox, database_url: str) -> Iterator[tuple[Flask, str]]:
    # No locale selector: the library matches Accept-Language.
    with live_app(mailbox, database_url, Babel) as served:
        yield served


def words(app: Flask, language: str) -> Callable[[str], str]:
    """The library's translation of an English text into ``language``; it must have one."""

    def say(english: str) -> str:
        with app.test_request_context(), force_locale(language):
            translated = gettext(english)
        assert translated != english, f"no {language} translation of {english!r}"
        return translated

    return say


@pytest.mark.parametrize(("browser_locale", "language", "direction"), [("de-DE", "de", "ltr"), ("ar", "ar", "rtl")])
def test_signup_verify_and_login_in_the_browsers_language(
    live: tuple[Flask, str], browser: Any, mailbox: Mailbox, browser_locale: str, language: str, direction: str
) -> None:
    app, base = live
    say = words(app, language)
    email = f"{language}@example.com"
    context = browser.new_context(locale=browser_locale)
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{base}/signup")
        assert page.evaluate("document.documentElement.lang") == language
        assert page.evaluate("document.documentElement.dir") == direction
        page.get_by_role("heading", name=say("Create an account")).wait_for()
        page.get_by_label(say("Email"), exact=True).fill(email)
        page.get_by_label(say("Password"), exact=True).fill(PASSWORD)
        page.get_by_label(say("Password (again)"), exact=True).fill(PASSWORD)
        page.get_by_role("button", name=say("Sign up"), exact=True).click()
        page.get_by_role("heading", name=say("Check your email")).wait_for()

        (message,) = mailbox.wait_for(1)
        assert message["Content-Language"] == language
        assert str(message["Subject"]) == say("Confirm your email address")

        page.goto(mailbox.link(message))
        assert page.evaluate("document.documentElement.dir") == direction
        page.get_by_role("button", name=say("Confirm my email address")).click()
        page.get_by_role("heading", name=say("Email verified")).wait_for()

        page.goto(f"{base}/login")
        page.get_by_label(say("Email"), exact=True).fill(email)
        page.get_by_label(say("Password"), exact=True).fill(PASSWORD)
        page.get_by_role("button", name=say("Log in"), exact=True).click()
        page.get_by_role("heading", name=say("Your account")).wait_for()
        assert page.url == f"{base}/account"
    finally:
        context.close()
