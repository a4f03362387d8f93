"""Trusting a browser: a signed cookie that lets one browser skip the second factor for
``REGISTRATION_TRUST_BROWSER_WITHIN`` (off when that is None, the default).

The cookie is a token of the library's kind (:mod:`flask_registration.tokens`: signed
with ``SECRET_KEY``, accepted under ``SECRET_KEY_FALLBACKS``, with a salt of its own) over
the user's id and a digest of what it may stand for: the account's auth stamp (a password
change, a reset or "log out everywhere" gives a new one) and the account's factors (each
one's kind and id: adding or removing a passkey or the app, or new recovery codes, make a
new list). So it is revoked by any of those, and by its age; it never names the address
and holds no secret. The HTML face sets it ``Secure``, ``HttpOnly`` and ``SameSite=Lax``;
the JSON API never reads it (an API client keeps no such browser state).

It stands in for the second factor only: the password (or a provider) is still needed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from ..errors import InvalidToken
from ..tokens import load_token, make_token, matches
from .flows import get_factors

#: The cookie's name.
COOKIE = "registration_trusted_browser"
#: The salt of its signature: a token of another purpose never passes for it.
SALT = "flask-registration.trusted-browser"


def within() -> timedelta | None:
    """How long a browser stays trusted, or None when the app does not offer it."""
    value = current_app.config["REGISTRATION_TRUST_BROWSER_WITHIN"]
    return value if isinstance(value, timedelta) else None


def _binding(user: Any) -> str:
    factors = sorted(f"{row.kind}:{row.id}" for row in get_factors().of_user(user))
    return f"trusted:{user.id}:{user.auth_stamp}:{','.join(factors)}"


def cookie_value(user: Any) -> str:
    """The cookie's value that trusts this browser for ``user`` as the account is now."""
    return make_token(SALT, user.id, _binding(user))


def is_trusted(user: Any, value: str | None) -> bool:
    """Whether ``value`` (the cookie this browser sent) trusts it for ``user``: on, the
    right user, not too old, and nothing changed since (see the module's notes)."""
    lifetime = within()
    if lifetime is None or not value:
        return False
    try:
        user_id, bound = load_token(SALT, value, lifetime)
    except InvalidToken:  # tampered, foreign or expired: it trusts nothing
        return False
    return user_id == str(user.id) and matches(bound, _binding(user))
