"""Where flask_registration reaches into other libraries' internals: only here, and each
use is covered by a test that fails when the library changes (``tests/test_sessions.py``
for Flask-Login and Flask-WTF, the rate-limit tests and ``tests/test_request_cost.py``
for the ``limits`` storages,
``tests/test_oauth_setup.py`` for flask-dance).

Flask-Login's "remember me" cookie is ``"<user id>|<HMAC>"``: it holds no time, so a
copy works for as long as the user id does, whatever ``REMEMBER_COOKIE_DURATION`` says
(that only tells the browser when to drop it); and it is checked with ``SECRET_KEY``
alone, so rotating the key through ``SECRET_KEY_FALLBACKS`` logs every remembered user
out. :func:`install_remember_cookie` replaces the two methods of a ``LoginManager`` that
write and read the cookie, on that manager only: the value is signed with a timestamp by
itsdangerous (``SECRET_KEY``, then each fallback) and refused once older than
``REMEMBER_COOKIE_DURATION``.
"""

from __future__ import annotations

import functools
import hashlib
import time
from datetime import timedelta
from types import MethodType
from typing import Any

from flask import Blueprint, current_app, g, session
from flask_login import LoginManager
from flask_login.config import COOKIE_DURATION, COOKIE_HTTPONLY, COOKIE_NAME, COOKIE_SAMESITE, COOKIE_SECURE
from flask_login.signals import user_loaded_from_cookie
from itsdangerous import BadSignature, TimestampSigner
from limits.storage import MemoryStorage, RedisStorage

from .models import utcnow

#: The methods of Flask-Login's ``LoginManager`` that :func:`install_remember_cookie` replaces.
REMEMBER_COOKIE_METHODS = ("_set_cookie", "_load_user_from_remember_cookie")

#: The salt of the remember cookie's signature (a value signed for another purpose with
#: the same key never passes for it).
REMEMBER_SALT = "flask-registration.remember"


def remember_signer() -> TimestampSigner:
    """The signer of the current app's remember cookies: it signs with ``SECRET_KEY``
    and accepts ``SECRET_KEY_FALLBACKS`` too."""
    config = current_app.config
    keys = [*(config.get("SECRET_KEY_FALLBACKS") or ()), config["SECRET_KEY"]]  # the last one signs
    return TimestampSigner(keys, salt=REMEMBER_SALT, digest_method=hashlib.sha256)


def remember_duration() -> timedelta:
    """How long a remember cookie works: ``REMEMBER_COOKIE_DURATION`` (Flask-Login's
    default, a year, when unset)."""
    duration = current_app.config.get("REMEMBER_COOKIE_DURATION", COOKIE_DURATION)
    return timedelta(seconds=duration) if isinstance(duration, int | float) else duration


def install_remember_cookie(manager: LoginManager) -> None:
    """Make ``manager``'s remember cookie expire and honour ``SECRET_KEY_FALLBACKS``, for
    the apps that use flask_registration (another app sharing the manager keeps
    Flask-Login's cookie).

    :raises RuntimeError: this Flask-Login has no such methods to replace.
    """
    for name in REMEMBER_COOKIE_METHODS:
        if not callable(getattr(type(manager), name, None)):
            raise RuntimeError(
                f"flask_registration cannot secure the remember cookie: Flask-Login's LoginManager has no {name}."
            )
    original_set, original_load = manager._set_cookie, manager._load_user_from_remember_cookie

    def set_cookie(self: LoginManager, response: Any) -> None:
        if "registration" not in current_app.extensions:
            return original_set(response)  # type: ignore[no-any-return]
        config = current_app.config
        # login_user(duration=...) can only shorten the cookie: the check uses the setting.
        duration = remember_duration()
        if "_remember_seconds" in session:
            duration = min(duration, timedelta(seconds=session["_remember_seconds"]))
        response.set_cookie(
            config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME),
            value=remember_signer().sign(str(session["_user_id"])).decode("ascii"),
            expires=utcnow() + duration,
            domain=config.get("REMEMBER_COOKIE_DOMAIN"),
            path=config.get("REMEMBER_COOKIE_PATH", "/"),
            secure=config.get("REMEMBER_COOKIE_SECURE", COOKIE_SECURE),
            httponly=config.get("REMEMBER_COOKIE_HTTPONLY", COOKIE_HTTPONLY),
            samesite=config.get("REMEMBER_COOKIE_SAMESITE", COOKIE_SAMESITE),
        )
        return None

    def load_user_from_remember_cookie(self: LoginManager, cookie: str) -> Any:
        if "registration" not in current_app.extensions:
            return original_load(cookie)
        try:
            user_id = remember_signer().unsign(cookie, max_age=int(remember_duration().total_seconds())).decode()
        except (BadSignature, UnicodeDecodeError):
            user_id = None
        user = self._user_callback(user_id) if user_id is not None and self._user_callback else None
        if user is None:
            session["_remember"] = "clear"  # a cookie that lets nobody in is deleted
            return None
        session["_user_id"] = user_id
        session["_fresh"] = False
        user_loaded_from_cookie.send(current_app._get_current_object(), user=user)  # type: ignore[attr-defined]
        return user

    manager._set_cookie = MethodType(set_cookie, manager)
    manager._load_user_from_remember_cookie = MethodType(load_user_from_remember_cookie, manager)


def forget_csrf_token() -> None:
    """Forget the CSRF token Flask-WTF keeps for this request (``g.csrf_token``), after
    the cookie session that held its secret was cleared: the next form gets a new one."""
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def give_back_entry(storage: Any, key: str) -> bool:
    """Take the newest entry out of the moving-window bucket ``key`` of a ``limits``
    storage, atomically: under the storage's lock in memory, one ``LPOP`` in Redis
    (entries are pushed at the head of a list in both). Return whether it could: with
    another storage the entry stays counted.
    """
    if isinstance(storage, MemoryStorage):
        with storage.locks[key]:
            events = storage.events.get(key)
            if events:
                del events[0]
            return True
    if isinstance(storage, RedisStorage):  # Redis Cluster and Sentinel too
        connection: Any = storage.get_connection()  # typed by limits without LPOP
        connection.lpop(storage.prefixed_key(key))
        return True
    return False


#: The method of ``limits``' ``MemoryStorage`` that :func:`throttle_memory_expiry` wraps
#: (name-mangled: ``MemoryStorage.__schedule_expiry``).
MEMORY_EXPIRY_METHOD = "_MemoryStorage__schedule_expiry"


def throttle_memory_expiry(storage: Any, interval: float) -> bool:
    """Make a ``limits`` memory storage look for expired entries at most once every
    ``interval`` seconds; return whether it could (another storage is left alone).

    ``MemoryStorage`` asks for a clean-up at every counted attempt: unless the last one is
    still pending, it starts a new thread that, 10 ms later, walks every bucket it holds
    (one or two per client address). Under a steady flow of requests that is a thread
    started every few requests, and a walk of every bucket each time, holding the GIL
    while the requests wait. The clean-up only frees memory: whether an attempt is let
    through is decided from its bucket's own entries and their times, so cleaning less
    often changes no answer; an expired bucket is freed at most ``interval`` later.
    """
    schedule = getattr(storage, MEMORY_EXPIRY_METHOD, None) if isinstance(storage, MemoryStorage) else None
    if not callable(schedule):
        return False
    next_at = 0.0

    def throttled() -> None:
        nonlocal next_at
        now = time.monotonic()
        if now >= next_at:
            next_at = now + interval
            schedule()

    setattr(storage, MEMORY_EXPIRY_METHOD, throttled)
    return True


def exempt_from_csrf_protect(blueprint: Blueprint) -> None:
    """Make the current app's Flask-WTF ``CSRFProtect``, if it has one, leave
    ``blueprint``'s routes alone (they check CSRF themselves). Called before each
    request, so a ``CSRFProtect`` set up after us is told too; it reads the set of
    exempt blueprints (the objects, not their names) to do it once."""
    csrf = current_app.extensions.get("csrf")
    if csrf is not None and blueprint not in csrf._exempt_blueprints:
        csrf.exempt(blueprint)


#: The attribute of flask-dance's OAuth2 blueprint that :func:`request_scoped` replaces.
DANCE_SESSION_ATTRIBUTE = "session"


@functools.cache
def _request_scoped_class() -> type:
    # flask-dance is the ``oauth`` extra: imported only when a blueprint is made.
    from flask_dance.consumer import OAuth2ConsumerBlueprint

    class RequestScopedBlueprint(OAuth2ConsumerBlueprint):
        """flask-dance's OAuth2 blueprint with its requests session kept per request."""

        @property
        def session(self) -> Any:
            sessions = g.setdefault("_registration_oauth_sessions", {})
            if self.name not in sessions:
                sessions[self.name] = OAuth2ConsumerBlueprint.session.fget(self)
            return sessions[self.name]

        @session.deleter
        def session(self) -> None:
            g.get("_registration_oauth_sessions", {}).pop(self.name, None)

    return RequestScopedBlueprint


def request_scoped(blueprint: Any) -> Any:
    """Make flask-dance's OAuth2 consumer ``blueprint`` keep its requests session per
    request, and return it.

    flask-dance caches that session (the dance's ``state``, redirect URI and fresh token)
    on the blueprint, which every thread of the app shares: two people finishing a dance
    at once could mix them. After this it lives in ``g``, one per request: the
    blueprint's class becomes a subclass whose ``session`` property calls flask-dance's
    own getter once per request (``OAuth2ConsumerBlueprint.session.fget``).

    :raises RuntimeError: this flask-dance's blueprint has no ``session`` property to wrap.
    """
    from flask_dance.consumer import OAuth2ConsumerBlueprint

    original = getattr(OAuth2ConsumerBlueprint, DANCE_SESSION_ATTRIBUTE, None)
    if not isinstance(original, property) or original.fget is None:
        raise RuntimeError(
            "flask_registration cannot keep flask-dance's session per request: "
            "OAuth2ConsumerBlueprint.session is no longer a property."
        )
    blueprint.__class__ = _request_scoped_class()
    return blueprint


def set_current_user(user: Any) -> None:
    """Make ``user`` Flask-Login's ``current_user`` for this request (``g._login_user``,
    where Flask-Login keeps it), without a session: a request authenticated by an access
    token alone."""
    g._login_user = user


def has_user_loader(manager: LoginManager) -> bool:
    """Whether the app gave its ``LoginManager`` a user or request loader of its own."""
    return manager._user_callback is not None or manager._request_callback is not None


#: Where Flask-Login keeps, in the cookie session, what to do with the remember cookie
#: ("set", or "clear" once logged out).
REMEMBER_SESSION_KEY = "_remember"


def remember_cookie_in_use() -> bool:
    """Whether this request's browser keeps a "remember me" cookie that is not being
    cleared (a password change gives such a browser a new one)."""
    from flask import request

    name = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    return name in request.cookies and session.get(REMEMBER_SESSION_KEY) != "clear"
