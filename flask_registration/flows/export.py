"""A copy of everything the library stores about a user, for the user to take away
(GDPR article 20): a JSON document, never holding a secret.

What it holds: the user's profile (the library's columns and the declared fields),
the live sessions and access tokens (when they were made and when they end, never the
token, its hash or the session id), the linked provider accounts (never their OAuth
tokens), and one section per plug-in that registered one (:func:`add_section`: the
second factors of a plug-in package, for example). ``export_data(user, data)`` hooks
then add the app's own rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from flask import Flask

from .. import limits
from ..models import as_utc, utcnow
from ..session_store import session_digest
from ..state import get_state
from .access import current_access_token
from .profile import declared_fields
from .sessions import current_session_id

#: The ``format`` of the document: changes that break a reader get a new number.
FORMAT = "flask-registration-export/1"

#: Where the sections of plug-ins are kept in the per-app state's ``extras``.
SECTIONS_KEY = "export_sections"

Section = Callable[[Any], Any]


def add_section(app: Flask, name: str, collect: Section) -> None:
    """Add a top-level key ``name`` to every export of ``app``'s users, with the value
    ``collect(user)`` returns (JSON-ready: dicts, lists, text, numbers, datetimes).

    The extension point of plug-in packages: a package that stores rows of a user (the
    second factors of ``flask_registration.factors``, say: their names and dates) calls
    it from its ``init_app``; the core never imports the package. Never put a secret
    in a section.

    :raises ValueError: ``name`` is taken (by the library's keys or another section).
    """
    sections: dict[str, Section] = get_state(app).extras.setdefault(SECTIONS_KEY, {})
    if name in RESERVED or name in sections:
        raise ValueError(f"The export already has a {name!r} section.")
    sections[name] = collect


#: The library's own top-level keys.
RESERVED = frozenset({"format", "exportedAt", "user", "sessions", "accessTokens", "identities"})


def _time(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _user(user: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user.id,
        "email": user.email,
        "emailVerified": user.email_verified,
        "emailVerifiedAt": _time(user.email_verified_at),
        "createdAt": _time(user.created_at),
        "pendingEmail": user.pending_email,
        "hasPassword": bool(user.password_hash),
    }
    for name in declared_fields():  # the app's profile fields
        data[name] = getattr(user, name)
    return data


def _sessions(user: Any) -> list[dict[str, Any]]:
    current = current_session_id()
    here = session_digest(current) if current is not None else None
    return [
        {"createdAt": _time(row.created_at), "expiresAt": _time(row.expires_at), "current": row.id == here}
        for row in get_state().store.sessions_of(user)
    ]


def _tokens(user: Any) -> list[dict[str, Any]]:
    current = current_access_token()
    return [
        {
            "createdAt": _time(row.created_at),
            "ttl": row.ttl,
            "expiresAt": _time(row.expires_at()),
            "current": current is not None and row.id == current.id,
        }
        for row in get_state().store.tokens_of(user)
    ]


def _identities(user: Any) -> list[dict[str, Any]]:
    oauth = get_state().oauth
    if oauth is None:
        return []
    return [
        {"provider": row.provider, "providerUserId": row.provider_user_id, "linkedAt": _time(row.created_at)}
        for row in oauth.identities.of_user(user)
    ]


def export_data(user: Any) -> dict[str, Any]:
    """Everything the library stores about the logged-in ``user``, for them to take
    away; then each plug-in's section and what the ``export_data(user, data)`` hooks
    add (they change ``data`` in place).

    :raises RateLimited: the user asked too often (``export_per_user``).
    """
    limits.hit_user("export", user.id)
    state = get_state()
    data: dict[str, Any] = {
        "format": FORMAT,
        "exportedAt": _time(utcnow()),
        "user": _user(user),
        "sessions": _sessions(user),
        "accessTokens": _tokens(user),
        "identities": _identities(user),
    }
    for name, collect in state.extras.get(SECTIONS_KEY, {}).items():
        data[name] = collect(user)
    state.extension.hooks.run("export_data", user, data)
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"An export_data hook added a {type(value).__name__}, which JSON cannot hold.")


def to_json(data: dict[str, Any]) -> str:
    """The export as a JSON file's text (times as ISO 8601; what the hooks added that JSON
    has no type for: dates, decimals, UUIDs, sets, as text or lists)."""
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=2) + "\n"


def filename(user: Any) -> str:
    """The download's file name: ``account-<id>-<date>.json``."""
    return f"account-{user.id}-{utcnow():%Y-%m-%d}.json"
