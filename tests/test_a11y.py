"""Accessibility, measured in Debian's Chromium: axe-core on every library page in each
state (empty, with errors, success), the whole first use with the keyboard alone, and
every page at a 375 px width without horizontal scrolling.

axe-core comes bundled with ``axe-playwright-python`` (the ``test`` extra): it is read
from the installed package and injected into the page; nothing is downloaded. Select
these tests with ``pytest -m a11y``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import CHROMIUM, free_port, serve
from tests.helpers import optional
from tests.models import db, make_app
from tests.smtp import Mailbox

pytestmark = [
    pytest.mark.a11y,
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (scripts/test.sh installs it)",
    ),
]

PASSWORD = "a long enough password"
NEW_PASSWORD = "another long password"
#: Long addresses exist, and one unbroken word must not widen a narrow page.
LONG_ADDRESS = "ada.augusta.king.countess.of.lovelace.1815@analytical-engine.example"
#: axe-core's two worst impacts: what a person with a screen reader or a keyboard cannot get past.
BLOCKING = ("serious", "critical")
#: How many states :func:`visit_every_page` goes through (19 page templates).
STATES = 39


@pytest.fixture
def site(mailbox: Any, database_url: str) -> Iterator[str]:
    """The test app on a loopback port (logins land on the account page); its base URL."""
    port = free_port()
    app = make_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "SERVER_NAME": f"127.0.0.1:{port}",
            "TESTING": False,
            "REGISTRATION_POST_LOGIN_REDIRECT": "/account",
        }
    )
    with app.app_context():
        db.create_all()
    with serve(app, port) as base:
        yield base
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def new_page(browser: Any, outside: list[str] | None = None, **options: Any) -> Any:
    """A page in a fresh context. Requests to anywhere but loopback are refused and,
    with ``outside``, recorded there (axe-core must not fetch anything)."""
    context = browser.new_context(**options)

    def only_loopback(route: Any) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            if outside is not None:
                outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def mailed_link(mailbox: Any, count: int, path: str, to: str | None = None) -> str:
    """Wait for ``count`` messages, return the one ``path`` link among them, and empty
    the mailbox for the next step."""
    messages = [m for m in mailbox.wait_for(count) if to is None or m["To"] == to]
    links = [u for m in messages for u in mailbox.links(m) if path in u]
    assert len(links) == 1, f"expected one {path} link, found {links}"
    mailbox.clear()
    return links[0]


def submit(page: Any, button: str, **fields: str) -> None:
    """Fill the labelled fields and press the button (by its exact name)."""
    for label, value in fields.items():
        page.get_by_label(label.replace("_", " "), exact=True).fill(value)
    page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()


def visit_every_page(
    browser: Any, base: str, mailbox: Any, seen: Callable[[Any, str], None], outside: list[str], **options: Any
) -> int:
    """Walk through every library page in each of its states, calling ``seen(page, name)``
    on each; return how many states were seen. (The OAuth pages need a provider: they
    are not visited here.)"""
    count = 0

    def at(page: Any, name: str, heading: str) -> None:
        nonlocal count
        page.get_by_role("heading", name=heading, exact=True).wait_for()
        seen(page, name)
        count += 1

    page = new_page(browser, outside, **options)
    page.goto(f"{base}/signup")
    at(page, "signup", "Create an account")
    submit(page, "Sign up", Email="not-an-email", Password="short", **{"Password (again)": "shorter"})
    at(page, "signup with errors", "Create an account")
    submit(page, "Sign up", Email=LONG_ADDRESS, Password=PASSWORD, **{"Password (again)": PASSWORD})
    at(page, "signup done (check your email)", "Check your email")
    link = mailed_link(mailbox, 1, "/confirm")

    # The emailed link, from another browser: the password is asked.
    other = new_page(browser, outside, **options)
    other.goto(link)
    at(other, "confirm (another browser)", "Confirm your email address")
    submit(other, "Confirm my email address", **{"Your password": "wrong password"})
    at(other, "confirm with errors", "Confirm your email address")
    other.goto(f"{base}/confirm?uid=1&token=garbage")
    at(other, "confirm link not valid", "This link is not valid")
    other.context.close()
    page.goto(link)
    at(page, "confirm", "Confirm your email address")
    page.get_by_role("button", name="Confirm my email address").click()
    at(page, "confirmed", "Email verified")

    page.goto(f"{base}/resend")
    at(page, "resend", "Send the verification link again")
    submit(page, "Send a new link", Email="")
    at(page, "resend with errors", "Send the verification link again")
    submit(page, "Send a new link", Email="nobody@example.com")
    at(page, "resend done", "Check your email")

    page.goto(f"{base}/account/password")  # not logged in: the login page, with a note
    at(page, "login with the please-log-in note", "Log in")
    page.goto(f"{base}/login")
    at(page, "login", "Log in")
    submit(page, "Log in", Email=LONG_ADDRESS, Password="wrong password")
    at(page, "login with errors", "Log in")
    submit(page, "Log in", Email=LONG_ADDRESS, Password=PASSWORD)
    at(page, "account", "Your account")

    page.goto(f"{base}/account/password")
    at(page, "change password", "Change your password")
    mismatched = {"Current password": "", "New password": "short", "New password (again)": "x"}
    submit(page, "Change the password", **mismatched)
    at(page, "change password with errors", "Change your password")
    fields = {"Current password": PASSWORD, "New password": NEW_PASSWORD, "New password (again)": NEW_PASSWORD}
    submit(page, "Change the password", **fields)
    at(page, "password changed", "Password changed")
    mailbox.wait_for(1)  # the "password changed" notice
    mailbox.clear()

    page.goto(f"{base}/account/email")
    at(page, "change email", "Change your email address")
    submit(page, "Change the email address", **{"New email": "not-an-email", "Password": ""})
    at(page, "change email with errors", "Change your email address")
    submit(page, "Change the email address", **{"New email": "ada@new.example", "Password": NEW_PASSWORD})
    at(page, "change email done (check your new inbox)", "Check your new inbox")
    change_link = mailed_link(mailbox, 2, "/confirm-email", to="ada@new.example")
    page.goto(f"{base}/account/email")
    at(page, "change email with a change pending", "Change your email address")
    page.goto(f"{base}/account")
    at(page, "account with a change pending", "Your account")
    page.goto(f"{base}/confirm-email?uid=1&token=garbage")
    at(page, "confirm email link not valid", "This link is not valid")
    page.goto(change_link)
    at(page, "confirm email", "Confirm your new address")
    page.get_by_role("button", name="Use this address").click()
    at(page, "email changed", "Email address changed")

    page.goto(f"{base}/reauthenticate")
    at(page, "reauthenticate", "Confirm it is you")
    submit(page, "Confirm it is me", Password="wrong password")
    at(page, "reauthenticate with errors", "Confirm it is you")
    page.get_by_role("button", name="Email me a link").click()
    at(page, "reauthentication link sent", "Check your email")
    page.goto(mailed_link(mailbox, 1, "/reauthenticate/link"))
    at(page, "reauthenticate link", "Confirm it is you")

    page.goto(f"{base}/logout")
    at(page, "logout", "Log out")
    page.evaluate("document.querySelector('main form input[name=csrf_token]').remove()")
    page.get_by_role("button", name="Log out", exact=True).click()
    at(page, "logout refused (no token)", "Log out")
    page.get_by_role("button", name="Log out", exact=True).click()
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}/forgot")
    at(page, "forgot", "Forgot your password?")
    submit(page, "Send me a reset link", Email="")
    at(page, "forgot with errors", "Forgot your password?")
    submit(page, "Send me a reset link", Email="ada@new.example")
    at(page, "forgot done (check your email)", "Check your email")
    reset = mailed_link(mailbox, 1, "/reset-password")
    page.goto(reset)
    at(page, "reset password", "Set a new password")
    submit(page, "Set the new password", **{"New password": "short", "New password (again)": "other"})
    at(page, "reset password with errors", "Set a new password")
    submit(page, "Set the new password", **{"New password": PASSWORD, "New password (again)": PASSWORD})
    at(page, "password reset", "Password changed")
    page.goto(reset)
    at(page, "reset link used", "This link is not valid")
    page.context.close()
    return count


def test_no_page_has_a_serious_or_critical_axe_violation(site: Any, browser: Any, mailbox: Mailbox) -> None:
    axe = optional("axe_playwright_python.sync_playwright").Axe()
    found: list[str] = []

    def check(page: Any, name: str) -> None:
        for violation in axe.run(page).response["violations"]:
            if violation["impact"] in BLOCKING:
                targets = [node["target"] for node in violation["nodes"]]
                found.append(f"{name}: {violation['id']} ({violation['impact']}) {violation['help']} at {targets}")

    outside: list[str] = []
    checked = visit_every_page(browser, site, mailbox, check, outside)
    assert checked == STATES
    assert found == []
    assert outside == []  # axe-core is the bundled copy: nothing was fetched


def test_every_page_fits_a_375_pixel_screen(site: Any, browser: Any, mailbox: Mailbox) -> None:
    too_wide: list[str] = []

    def check(page: Any, name: str) -> None:
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > 375:
            too_wide.append(f"{name}: {width}px")

    outside: list[str] = []
    assert visit_every_page(browser, site, mailbox, check, outside, viewport={"width": 375, "height": 740}) == STATES
    assert too_wide == [] and outside == []


def test_keep_me_logged_in_sits_on_one_line_with_its_label(site: Any, browser: Any) -> None:
    page = new_page(browser)
    page.goto(f"{site}/login")
    box = page.get_by_role("checkbox", name="Keep me logged in on this device").bounding_box()
    label = page.locator("label[for=remember]").bounding_box()
    assert box is not None and label is not None
    assert label["x"] > box["x"] + box["width"] - 1  # to its right...
    assert label["y"] < box["y"] + box["height"] and box["y"] < label["y"] + label["height"]  # ...on its line
    page.context.close()


def focused(page: Any) -> str:
    """The focused element, as ``tag name=... label``."""
    return str(
        page.evaluate(
            """() => { const e = document.activeElement;
            const label = e.labels && e.labels.length ? e.labels[0].innerText : (e.innerText || e.value || "");
            return `${e.tagName.toLowerCase()} ${e.getAttribute("name") || ""} ${label}`.trim(); }"""
        )
    )


def tab_to(page: Any, wanted: str, most: int = 25) -> None:
    """Press Tab until the focused element's description starts with ``wanted``."""
    seen = []
    for _ in range(most):
        page.keyboard.press("Tab")
        now = focused(page)
        if now.startswith(wanted):
            return
        seen.append(now)
    pytest.fail(f"Tab never reached {wanted!r}; it went through {seen}")


def test_first_use_with_the_keyboard_alone(site: Any, browser: Any, mailbox: Mailbox) -> None:
    """Sign up, confirm the emailed link, log in and log out without a mouse."""
    page = new_page(browser)
    keys = page.keyboard
    page.goto(f"{site}/signup")
    tab_to(page, "input email")
    keys.type("keys@example.com")
    tab_to(page, "input password ")
    keys.type(PASSWORD)
    tab_to(page, "input password_confirm")
    keys.type(PASSWORD)
    keys.press("Enter")
    page.get_by_role("heading", name="Check your email").wait_for()

    page.goto(mailed_link(mailbox, 1, "/confirm"))  # opening the emailed link
    page.get_by_role("heading", name="Confirm your email address").wait_for()
    tab_to(page, "input submit Confirm my email address")
    keys.press("Enter")
    page.get_by_role("heading", name="Email verified").wait_for()
    tab_to(page, "a  Log in")
    keys.press("Enter")

    page.get_by_role("heading", name="Log in").wait_for()
    tab_to(page, "input email")
    keys.type("keys@example.com")
    tab_to(page, "input password")
    keys.type(PASSWORD)
    tab_to(page, "input remember")
    keys.press("Space")
    assert page.get_by_role("checkbox").is_checked()
    tab_to(page, "input submit Log in")
    keys.press("Enter")
    page.get_by_role("heading", name="Your account").wait_for()
    assert "keys@example.com" in page.inner_text("main")

    tab_to(page, "button  Log out")
    keys.press("Enter")
    page.wait_for_url(f"{site}/")
    page.goto(f"{site}/account")
    page.get_by_role("heading", name="Log in").wait_for()  # logged out: the account page asks for a login
    page.context.close()
