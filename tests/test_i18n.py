"""The library's language in pages and JSON: English without Flask-Babel, the app's
locale selector first, then ``Accept-Language`` against the shipped languages, then
``REGISTRATION_DEFAULT_LOCALE``; codes that never change; ``<html lang dir>``; and the
app's own catalog beside the library's."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask, render_template_string
from flask_babel import Babel
from flask_babel import gettext as app_gettext

from flask_registration.errors import RateLimited, ServerBusy
from flask_registration.i18n import (
    force_locale,
    format_duration,
    locale_tag,
    negotiate,
    ngettext,
    shipped_languages,
    text_direction,
)
from flask_registration.validation import field_label
from tests.conftest import free_port, serve
from tests.models import db, make_app
from tests.smtp import Mailbox

BAD_SIGNUP = {"email": "ada", "password": "short"}
HTML_RE = re.compile(r'<html lang="([^"]*)" dir="([^"]*)">')


def german() -> dict[str, str]:
    return {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}


def error_of(client: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = client.post("/api/users", json=BAD_SIGNUP, headers=headers or {})
    assert r.status_code == 422
    return dict(r.get_json()["error"])


def html_tag(client: Any, path: str, headers: dict[str, str] | None = None) -> tuple[str, str]:
    r = client.get(path, headers=headers or {})
    assert r.status_code == 200
    found = HTML_RE.search(r.get_data(as_text=True))
    assert found is not None
    return found.group(1), found.group(2)


@pytest.fixture
def babel_app(app: Flask) -> Flask:
    """The test app with Flask-Babel set up after ``Registration.init_app`` (the order
    does not matter) and no locale selector of its own."""
    Babel(app)
    return app


@pytest.fixture
def app_with_selector(mailbox: Mailbox, database_url: str) -> Iterator[Callable[[str], Flask]]:
    """Apps whose Flask-Babel locale selector always answers the given locale."""
    made: list[Flask] = []

    def make(locale: str) -> Flask:
        settings = {"SQLALCHEMY_DATABASE_URI": database_url, "MAIL_SERVER": mailbox.host, "MAIL_PORT": mailbox.port}
        app = make_app(settings)
        Babel(app, locale_selector=lambda: locale)
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def test_an_app_without_flask_babel_speaks_english_and_nothing_fails(app: Flask, client: Any) -> None:
    assert "babel" not in app.extensions
    error = error_of(client, german())
    assert error["message"].startswith("The `user` instance is not valid. Details: `email` This email address")
    assert error["details"]["messages"]["password"] == ["The password must be at least 8 characters long."]
    assert html_tag(client, "/forgot", german()) == ("en", "ltr")
    assert "Forgot your password?" in client.get("/forgot", headers=german()).get_data(as_text=True)


def test_a_json_error_in_german_has_the_codes_of_the_english_one(babel_app: Flask, client: Any) -> None:
    english, deutsch = error_of(client), error_of(client, german())
    for same in ("code", "name", "statusCode"):
        assert deutsch[same] == english[same]
    assert deutsch["details"]["codes"] == english["details"]["codes"] == {"email": ["format"], "password": ["length"]}
    assert english["details"]["messages"]["password"] == ["The password must be at least 8 characters long."]
    assert deutsch["details"]["messages"] == {
        "email": ["Diese E-Mail-Adresse ist ungültig. Es fehlt das @-Zeichen."],
        "password": ["Das Feld „Passwort“ muss mindestens 8 Zeichen lang sein."],
    }
    assert deutsch["message"] == (
        "Die Instanz `user` ist ungültig. Details: `email` Diese E-Mail-Adresse ist ungültig. Es fehlt das "
        "@-Zeichen; `password` Das Feld „Passwort“ muss mindestens 8 Zeichen lang sein."
    )


@pytest.mark.parametrize("language", ["fr", "es", "pt-BR", "ja", "ar"])
def test_a_json_signup_error_in_each_shipped_language_keeps_the_english_codes(
    babel_app: Flask, client: Any, language: str
) -> None:
    english, other = error_of(client), error_of(client, {"Accept-Language": language})
    for same in ("code", "name", "statusCode"):
        assert other[same] == english[same]
    assert other["details"]["codes"] == english["details"]["codes"]
    assert other["message"] != english["message"]
    password = other["details"]["messages"]["password"]
    assert password != english["details"]["messages"]["password"] and "8" in password[0]
    with babel_app.test_request_context(), force_locale(language.replace("-", "_")):
        expected = ngettext(
            "The %(field)s must be at least %(num)d character long.",
            "The %(field)s must be at least %(num)d characters long.",
            8,
            field=field_label("password"),
        )
    assert password == [expected]


def test_other_json_refusals_are_translated_too(babel_app: Flask, client: Any) -> None:
    r = client.post("/api/users", data="{", content_type="application/json", headers=german())
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == "MALFORMED_JSON"
    assert r.get_json()["error"]["message"] == "Der Inhalt der Anfrage ist kein gültiges JSON."
    r = client.get("/api/users/me", headers=german())
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert r.get_json()["error"]["message"] == "Anmeldung erforderlich: Bitte melden Sie sich zuerst an."


def test_pages_follow_accept_language_with_the_default_locale_as_fallback(babel_app: Flask, client: Any) -> None:
    assert html_tag(client, "/forgot", german()) == ("de", "ltr")
    page = client.get("/forgot", headers=german()).get_data(as_text=True)
    assert "<h1>Passwort vergessen?</h1>" in page and "Forgot your password?" not in page
    # A language the library does not ship: the default locale, English unless set.
    assert html_tag(client, "/forgot", {"Accept-Language": "it-CH, nl;q=0.8"}) == ("en", "ltr")
    babel_app.config["REGISTRATION_DEFAULT_LOCALE"] = "de"
    assert html_tag(client, "/forgot", {"Accept-Language": "it-CH, nl;q=0.8"}) == ("de", "ltr")
    assert html_tag(client, "/forgot") == ("de", "ltr")
    # English asked for first wins over the German default.
    assert html_tag(client, "/forgot", {"Accept-Language": "en-GB, de;q=0.5"}) == ("en", "ltr")


def test_the_apps_locale_selector_decides_and_arabic_reads_right_to_left(
    app_with_selector: Callable[[str], Flask],
) -> None:
    arabic = app_with_selector("ar").test_client()
    assert html_tag(arabic, "/forgot", german()) == ("ar", "rtl")
    deutsch = app_with_selector("de").test_client()
    assert html_tag(deutsch, "/forgot", {"Accept-Language": "en"}) == ("de", "ltr")
    api = app_with_selector("de").test_client()  # no cookie: no CSRF token needed
    assert error_of(api, {"Accept-Language": "en"})["details"]["messages"]["password"] == [
        "Das Feld „Passwort“ muss mindestens 8 Zeichen lang sein."
    ]


def test_the_login_required_message_is_translated(babel_app: Flask, client: Any) -> None:
    r = client.get("/account", headers=german(), follow_redirects=True)
    assert r.status_code == 200
    assert "Bitte melden Sie sich an, um diese Seite zu sehen." in r.get_data(as_text=True)


def test_the_apps_catalog_and_the_librarys_work_side_by_side(
    mailbox: Mailbox, database_url: str, tmp_path: Path
) -> None:
    # The app's own catalog (Flask-Babel's default domain) says "Log in" its own way.
    catalog = Catalog(locale="de", domain="messages")
    catalog.add("Log in", "Einloggen (die App)")
    catalog.add("Welcome", "Willkommen")
    folder = tmp_path / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.mo").open("wb") as f:
        write_mo(f, catalog)
    app = make_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "BABEL_TRANSLATION_DIRECTORIES": str(tmp_path),
        }
    )
    Babel(app, locale_selector=lambda: "de")

    @app.get("/both")
    def both() -> str:
        page = render_template_string("{{ _('Welcome') }} | {{ _('Log in') }} | {{ _r('Log in') }}")
        return f"{page} | {app_gettext('Log in')}"

    client = app.test_client()
    r = client.get("/both")
    assert r.status_code == 200
    assert r.get_data(as_text=True) == "Willkommen | Einloggen (die App) | Anmelden | Einloggen (die App)"
    assert "<h1>Passwort vergessen?</h1>" in client.get("/forgot").get_data(as_text=True)


def test_template_functions_escape_values_and_pick_plurals(babel_app: Flask) -> None:
    strong = "{{ _r('You are logged in as <strong>%(email)s</strong>.', email=email) }}"
    plural = (
        "{{ _rn('Too many attempts. Try again in %(num)d second.',"
        " 'Too many attempts. Try again in %(num)d seconds.', n) }}"
    )
    with babel_app.test_request_context(headers=german()):
        # The translation is markup, the value put into it is escaped (as Jinja's i18n does).
        assert render_template_string(strong, email="<b>ada</b>") == (
            "Sie sind angemeldet als <strong>&lt;b&gt;ada&lt;/b&gt;</strong>."
        )
        assert render_template_string(plural, n=1) == "Zu viele Versuche. Versuchen Sie es in 1 Sekunde erneut."
        assert render_template_string(plural, n=3) == "Zu viele Versuche. Versuchen Sie es in 3 Sekunden erneut."
    with babel_app.test_request_context():
        assert render_template_string(plural, n=3) == "Too many attempts. Try again in 3 seconds."


def test_numbers_take_the_plural_of_the_language(babel_app: Flask) -> None:
    with babel_app.test_request_context(headers=german()):
        assert RateLimited(1).message == "Zu viele Versuche. Versuchen Sie es in 1 Sekunde erneut."
        assert RateLimited(30).message == "Zu viele Versuche. Versuchen Sie es in 30 Sekunden erneut."
        assert RateLimited(600).message == "Zu viele Versuche. Versuchen Sie es in 10 Minuten erneut."
        assert ServerBusy(1).message == "Der Server ist gerade ausgelastet. Bitte versuchen Sie es in 1 Sekunde erneut."
    with babel_app.test_request_context():
        assert RateLimited(1).message == "Too many attempts. Try again in 1 second."
        assert RateLimited(7200).message == "Too many attempts. Try again in 2 hours."
        assert ServerBusy(2).message == "The server is busy right now. Please try again in 2 seconds."


def test_durations_are_said_in_whole_units_of_the_language() -> None:
    de = Locale.parse("de")
    assert format_duration(timedelta(days=2)) == "2 days"
    assert format_duration(timedelta(days=2), de) == "2 Tage"
    assert format_duration(timedelta(hours=1), de) == "1 Stunde"
    assert format_duration(timedelta(minutes=90)) == "90 minutes"
    assert format_duration(timedelta(weeks=2)) == "2 weeks"
    assert format_duration(timedelta(seconds=45)) == "45 seconds"


def test_accept_language_is_matched_tag_by_tag_then_language_by_language() -> None:
    shipped = ("en", "de", "pt-BR")
    assert negotiate(["en-GB", "de"], shipped) == "en"
    assert negotiate(["fr-CH", "fr", "de-AT"], shipped) == "de"
    assert negotiate(["pt"], shipped) == "pt-BR"
    assert negotiate(["PT-br"], shipped) == "pt-BR"
    assert negotiate(["*"], shipped) is None
    assert negotiate([], shipped) is None


def test_language_tags_and_directions() -> None:
    assert shipped_languages()[0] == "en" and "de" in shipped_languages()
    assert locale_tag(Locale.parse("pt_BR")) == "pt-BR"
    assert locale_tag(None) == "en"
    assert [text_direction(Locale.parse(code)) for code in ("ar", "he", "fa", "ur", "de", "ja")] == [
        "rtl",
        "rtl",
        "rtl",
        "rtl",
        "ltr",
        "ltr",
    ]


def test_a_default_locale_that_names_no_language_is_refused() -> None:
    with pytest.raises(RuntimeError, match="REGISTRATION_DEFAULT_LOCALE must name a language"):
        make_app({"REGISTRATION_DEFAULT_LOCALE": "not a language"})


@pytest.mark.slow
def test_the_stylesheet_reads_right_to_left_in_the_browser(
    app_with_selector: Callable[[str], Flask], browser: Any
) -> None:
    # The flashed note's border sits at the start of the line: left in German, right in Arabic.
    for locale, start, end in (("de", "Left", "Right"), ("ar", "Right", "Left")):
        app = app_with_selector(locale)
        with serve(app, free_port()) as base:
            context = browser.new_context()
            try:
                page = context.new_page()
                page.goto(f"{base}/account")  # not logged in: the login page, with a note
                assert page.evaluate("document.documentElement.dir") == ("rtl" if locale == "ar" else "ltr")
                style = page.evaluate(
                    "() => { const s = getComputedStyle(document.querySelector('.flash'));"
                    f" return [s.direction, s.border{start}Width, s.border{end}Width]; }}"
                )
                assert style == [("rtl" if locale == "ar" else "ltr"), "4px", "0px"]
            finally:
                context.close()
