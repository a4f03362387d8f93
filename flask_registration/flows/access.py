"""Access tokens for JSON clients (LoopBack's ``AccessToken``), stored hashed."""

from __future__ import annotations

from typing import Any

from flask import current_app, g

from .. import signals
from ..errors import ValidationError
from ..i18n import gettext, ngettext
from ..models import as_utc
from ..state import get_state


def check_ttl(ttl: Any) -> int:
    """The lifetime in seconds a login asked for, or the default; at most the maximum.

    :raises ValidationError: not a positive whole number, or over
        ``REGISTRATION_ACCESS_TOKEN_MAX_TTL`` (field ``ttl``).
    """
    config = current_app.config
    if ttl is None:
        return int(config["REGISTRATION_ACCESS_TOKEN_TTL"].total_seconds())
    maximum = int(config["REGISTRATION_ACCESS_TOKEN_MAX_TTL"].total_seconds())
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        whole = gettext("The token lifetime (ttl) must be a whole number of seconds.")
        raise ValidationError.from_fields({"ttl": [("type", whole)]})
    if ttl > maximum:
        longest = ngettext(
            "The token lifetime (ttl) must be at most %(num)d second.",
            "The token lifetime (ttl) must be at most %(num)d seconds.",
            maximum,
        )
        raise ValidationError.from_fields({"ttl": [("length", longest)]})
    return ttl


def issue_access_token(user: Any, ttl_seconds: int) -> dict[str, Any] | None:
    """A new token for ``user`` in LoopBack's shape, or None without a token model."""
    state = get_state()
    if state.store.token_model is None:
        return None
    token, row = state.store.create_token(user, ttl_seconds)
    signals.access_token_created.send(signals.app_sender(), user=user, token=row)
    return {"id": token, "ttl": row.ttl, "created": as_utc(row.created_at).isoformat(), "userId": user.id}


def token_from_header(value: str | None) -> str | None:
    """The access token in an ``Authorization`` header: ``Bearer <t>`` or LoopBack's
    bare ``<t>``; None for no header, another scheme (``Basic ...``, which a browser sends
    to a site behind HTTP authentication), or when the app has no token model."""
    if not value or get_state().store.token_model is None:
        return None
    value = value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value if value and " " not in value else None


def user_from_access_token(request: Any) -> Any | None:
    """A Flask-Login request loader: the user of the request's access token, or None.

    flask_registration installs it when the app has no loader of its own; an app with its
    own ``LoginManager`` can install it too: ``login_manager.request_loader(user_from_access_token)``.
    """
    token = token_from_header(request.headers.get("Authorization"))
    found = load_access_token(token) if token else None
    if found is None:
        return None
    g.registration_access_token = found[1]
    return found[0]


def load_access_token(token: str) -> tuple[Any, Any] | None:
    """``(user, row)`` for a live token, or None."""
    state = get_state()
    row = state.store.find_token(token)
    if row is None:
        return None
    user = state.store.get(row.user_id)
    # A disabled account's tokens were deleted with the request: this only guards.
    return (user, row) if user is not None and user.deleted_at is None else None


def current_access_token() -> Any | None:
    """The token row that authenticated this request, if a token did."""
    return g.get("registration_access_token")


def revoke_access_token(row: Any) -> None:
    """Revoke one token (logout with a token)."""
    get_state().store.delete_token(row)
