"""The library's language: its own Flask-Babel catalog domain, and the locale it speaks.

Every string a person reads (pages, emails, API ``message``) is marked with the
functions here, bound to the catalog domain ``flask_registration``, whose translations
ship in the package (``flask_registration/translations/<lang>/LC_MESSAGES``). The app's
own catalog (Flask-Babel's default domain, ``messages``) is another domain: the two
never clash.

Which language, in this order (see docs/translations.rst):

- The app never set up Flask-Babel (no ``Babel(app)``, before or after ``init_app``):
  English, untranslated. Nothing else is needed and nothing fails.
- A locale forced with :func:`force_locale` (an email is written in its recipient's).
- In a request: the app's own Flask-Babel locale selector, when it has one; otherwise
  the request's ``Accept-Language`` matched against the languages the library ships,
  and ``REGISTRATION_DEFAULT_LOCALE`` when none matches.
- Outside a request (a CLI command, a worker): ``REGISTRATION_DEFAULT_LOCALE``.

Templates call :func:`template_gettext` as ``_r("...")`` and :func:`template_ngettext`
as ``_rn("...", "...", n)`` (Jinja globals set by :func:`init_app`), so that an app's
``_()`` and ``{% trans %}`` keep the app's own catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import flask_babel
from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations
from babel.units import format_unit
from flask import Flask, current_app, g, has_app_context, has_request_context, request
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect

#: The library's catalog domain: ``flask_registration.po`` / ``.mo`` files.
DOMAIN = "flask_registration"
#: Where the shipped catalogs are: ``<lang>/LC_MESSAGES/flask_registration.mo``.
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
#: The language the strings are written in (it needs no catalog).
SOURCE_LANGUAGE = "en"
#: The column of the app's user model that keeps the language of the user's emails.
LOCALE_COLUMN = "locale"

_FORCED = "_registration_forced_locale"


def N_(string: str) -> str:  # noqa: N802 (gettext's name for it)
    """Mark ``string`` for translation without translating it (a default kept in a
    constant, translated where it is used)."""
    return string


def shipped_languages() -> tuple[str, ...]:
    """The languages the library speaks, as BCP 47 tags (``"en"``, ``"de"``,
    ``"pt-BR"``): English, and each language with a compiled catalog in the package."""
    return _shipped_languages(TRANSLATIONS_DIR)


@lru_cache
def _shipped_languages(folder: Path) -> tuple[str, ...]:
    found = sorted(p.parent.parent.name for p in folder.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (SOURCE_LANGUAGE, *(name.replace("_", "-") for name in found if name != SOURCE_LANGUAGE))


@lru_cache(maxsize=256)
def parse_locale(value: str) -> Locale | None:
    """``value`` (``"de"``, ``"pt-BR"``, ``"pt_BR"``) as a Babel locale, or None when it
    names none."""
    try:
        return Locale.parse(value.strip().replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def locale_tag(locale: Locale | None) -> str:
    """``locale`` as a BCP 47 tag for ``<html lang>`` and ``Content-Language``
    (``"pt-BR"``); ``"en"`` for None (untranslated)."""
    if locale is None:
        return SOURCE_LANGUAGE
    return "-".join(part for part in (locale.language, locale.script, locale.territory) if part)


def translating() -> bool:
    """Whether the library translates in this app: it set up Flask-Babel (``Babel(app)``)."""
    return has_app_context() and "babel" in current_app.extensions


def default_locale() -> Locale | None:
    """``REGISTRATION_DEFAULT_LOCALE`` as a locale."""
    return parse_locale(current_app.config.get("REGISTRATION_DEFAULT_LOCALE") or SOURCE_LANGUAGE)


def request_locale() -> Locale | None:
    """The locale of this request: the app's Flask-Babel locale selector when it has
    one, else ``Accept-Language`` matched against :func:`shipped_languages`, else
    ``REGISTRATION_DEFAULT_LOCALE``."""
    if flask_babel.get_babel().locale_selector is not None:
        chosen: Locale | None = flask_babel.get_locale()
        return chosen
    accepted = [value for value, quality in request.accept_languages if quality > 0]
    best = negotiate(accepted, shipped_languages())
    return (parse_locale(best) if best else None) or default_locale()


def negotiate(accepted: list[str], available: tuple[str, ...]) -> str | None:
    """The first of ``available`` that the ``accepted`` languages (best first) ask for:
    each accepted tag matches the same tag, else the same language (``en-GB`` takes
    ``en``, ``pt`` takes ``pt-BR``) before the next accepted tag is tried."""
    by_tag = {tag.lower(): tag for tag in available}
    by_language: dict[str, str] = {}
    for tag in available:
        by_language.setdefault(tag.split("-")[0].lower(), tag)
    for value in accepted:
        tag = value.replace("_", "-").lower()
        found = by_tag.get(tag) or by_language.get(tag.split("-")[0])
        if found:
            return found
    return None


def current_locale() -> Locale | None:
    """The locale the library speaks now, or None when it does not translate (the app
    has no Flask-Babel): English."""
    if not translating():
        return None
    forced = g.get(_FORCED)
    if forced is not None:
        return forced  # type: ignore[no-any-return]
    if has_request_context():
        return request_locale()
    return default_locale()


def speaks_english() -> bool:
    """Whether the library speaks its source language now (English, or untranslated):
    text from elsewhere (another library's message) can then be shown as it is."""
    locale = current_locale()
    return locale is None or locale.language == SOURCE_LANGUAGE


def stored_locale(user: Any) -> Locale | None:
    """The language kept in ``user``'s ``locale`` column (see
    :class:`~flask_registration.models.LocaleMixin`), or None (no such column, empty, or
    not a language)."""
    value = getattr(user, LOCALE_COLUMN, None)
    return parse_locale(value) if isinstance(value, str) and value else None


def locale_for(user: Any) -> Locale | None:
    """The language an email to ``user`` is written in: a locale forced by
    :func:`force_locale`; else the one stored on the user; else this request's (or,
    outside a request, ``REGISTRATION_DEFAULT_LOCALE``). None: English, untranslated."""
    if not translating():
        return None
    forced = g.get(_FORCED)
    if forced is not None:
        return forced  # type: ignore[no-any-return]
    return stored_locale(user) or current_locale()


@contextmanager
def force_locale(locale: Locale | str | None) -> Iterator[None]:
    """Speak ``locale`` inside the block (for an email to someone else than the person
    making the request, or sent from a command); None changes nothing. The app's own
    Flask-Babel strings follow too (``flask_babel.force_locale``)."""
    chosen = parse_locale(locale) if isinstance(locale, str) else locale
    if chosen is None or not has_app_context():
        yield
        return
    before = g.get(_FORCED)
    setattr(g, _FORCED, chosen)
    try:
        if translating():
            with flask_babel.force_locale(chosen):
                yield
        else:
            yield
    finally:
        setattr(g, _FORCED, before)


def text_direction(locale: Locale | None = None) -> str:
    """``"rtl"`` or ``"ltr"``: the writing direction of ``locale`` (default: the
    current one), for ``<html dir>``."""
    locale = locale if locale is not None else current_locale()
    return "rtl" if locale is not None and locale.text_direction == "rtl" else "ltr"


class RegistrationDomain(flask_babel.Domain):
    """Flask-Babel's ``Domain`` for the library's catalogs, choosing the locale by
    :func:`current_locale` rather than by Flask-Babel's, so that it answers in English,
    and never fails, in an app without Flask-Babel."""

    def get_translations(self) -> NullTranslations:
        locale = current_locale()
        if locale is None:
            return NullTranslations()
        key = (str(locale), DOMAIN)
        cached: NullTranslations | None = self.cache.get(key)
        if cached is None:
            cached = Translations.load(str(TRANSLATIONS_DIR), [locale], DOMAIN)
            self.cache[key] = cached
        return cached


domain = RegistrationDomain(translation_directories=[str(TRANSLATIONS_DIR)], domain=DOMAIN)


def gettext(string: str, **variables: Any) -> str:
    """``string`` in the current language, with ``%(name)s`` placeholders filled from
    ``variables``."""
    return str(domain.gettext(string, **variables))


_ = gettext


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The form of ``singular``/``plural`` for ``num`` in the current language
    (``%(num)d`` is ``num``)."""
    return str(domain.ngettext(singular, plural, num, **variables))


def lazy_gettext(string: str, **variables: Any) -> Any:
    """Like :func:`gettext`, translated only when turned into a string (for a form
    label or a message defined at import time)."""
    return domain.lazy_gettext(string, **variables)


def _fill(eval_ctx: EvalContext, text: str, variables: dict[str, Any]) -> str:
    # As Jinja's own i18n does: with autoescape, the translation is markup and the
    # values put into it are escaped.
    if eval_ctx.autoescape:
        markup = Markup(text)
        return markup % variables if variables else markup
    return text % variables if variables else text


@pass_eval_context
def template_gettext(eval_ctx: EvalContext, string: str, **variables: Any) -> str:
    """``_r("...")`` in templates: :func:`gettext` of the library's domain."""
    return _fill(eval_ctx, domain.get_translations().ugettext(string), variables)


@pass_eval_context
def template_ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, **variables: Any) -> str:
    """``_rn("...", "...", n)`` in templates: :func:`ngettext` of the library's domain."""
    variables.setdefault("num", num)
    return _fill(eval_ctx, domain.get_translations().ungettext(singular, plural, num), variables)


#: The units a duration is said in, longest first, in seconds.
_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def format_duration(value: timedelta, locale: Locale | None = None) -> str:
    """A link's lifetime as a person says it in ``locale`` (default: the current one),
    in the largest unit it is a whole number of: "2 days", "90 minutes", "2 Tage"."""
    seconds = max(1, int(value.total_seconds()))
    unit, size = next((u, s) for u, s in _UNITS if seconds % s == 0)
    return str(format_unit(seconds // size, f"duration-{unit}", length="long", locale=locale or SOURCE_LANGUAGE))


def template_duration(value: timedelta) -> str:
    """The Jinja filter ``registration_duration``: :func:`format_duration` now."""
    return format_duration(value, current_locale())


def _remember_locale(_user: Any, _args: Any, kwargs: dict[str, Any]) -> None:
    """Give a user made during a request to one of the library's routes (a signup, a
    provider's first login) the request's locale, unless one is given. (When the object
    is made, not when it is flushed: an app's locale selector may query the database.)"""
    if not has_request_context() or kwargs.get(LOCALE_COLUMN):
        return
    state = current_app.extensions.get("registration")
    if state is None or not translating() or not state.blueprints.intersection(request.blueprints):
        return
    kwargs[LOCALE_COLUMN] = locale_tag(current_locale())


def has_locale_column(model: type) -> bool:
    """Whether the app's user model maps a ``locale`` column."""
    mapper: Any = sa_inspect(model, raiseerr=False)
    return mapper is not None and LOCALE_COLUMN in mapper.column_attrs.keys()


def init_app(app: Flask, user_model: type) -> None:
    """Give ``app``'s templates the library's translation functions (``_r``, ``_rn``,
    ``registration_lang``, ``registration_dir`` and the filter
    ``registration_duration``), and fill a user model's ``locale`` column at signup."""
    app.jinja_env.globals.update(
        _r=template_gettext,
        _rn=template_ngettext,
        registration_lang=lambda: locale_tag(current_locale()),
        registration_dir=text_direction,
    )
    app.jinja_env.filters["registration_duration"] = template_duration
    if has_locale_column(user_model) and not event.contains(user_model, "init", _remember_locale):
        event.listen(user_model, "init", _remember_locale)
