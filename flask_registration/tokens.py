"""Signed, expiring tokens for the links the library emails.

A token is an itsdangerous ``URLSafeTimedSerializer`` signature over ``[user id, digest]``,
where the digest binds it to the state it changes (for verification: the current email).
Each purpose has its own salt, so a token of one purpose never passes for another.
Tokens are signed with ``SECRET_KEY`` and accepted under ``SECRET_KEY_FALLBACKS`` too.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadData, BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from .errors import InvalidToken, TokenExpired


def _serializer(salt: str) -> URLSafeTimedSerializer:
    if "registration" not in current_app.extensions:
        raise RuntimeError("flask_registration is not set up on this app: call Registration.init_app(app) first.")
    config = current_app.config
    key = config.get("SECRET_KEY")
    if not key:
        raise RuntimeError("flask_registration needs SECRET_KEY to sign links.")
    # itsdangerous signs with the last key and accepts all of them.
    keys = [*(config.get("SECRET_KEY_FALLBACKS") or ()), key]
    return URLSafeTimedSerializer(keys, salt=salt)


def digest(value: str) -> str:
    """A short digest of a value the token is bound to (never the value itself)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def make_token(salt: str, user_id: Any, bound_to: str) -> str:
    """Sign ``[user_id, digest(bound_to)]`` for one purpose (the salt)."""
    return str(_serializer(salt).dumps([str(user_id), digest(bound_to)]))


def load_token(salt: str, token: str, max_age: timedelta) -> tuple[str, str]:
    """Check a token's signature and age; return ``(user_id, digest)``.

    :raises TokenExpired: genuine but older than ``max_age`` (``user_id`` set on it).
    :raises InvalidToken: anything else: tampered, foreign key or salt, malformed.
    """
    if not isinstance(token, str) or not token or len(token) > 512 or not _canonical(token):
        raise InvalidToken()
    serializer = _serializer(salt)
    try:
        payload = serializer.loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired as exc:
        payload = exc.payload
        try:
            payload = serializer.load_payload(payload) if isinstance(payload, bytes) else payload
        except BadData:
            payload = None
        if _well_formed(payload):
            raise TokenExpired(user_id=payload[0], bound_digest=payload[1]) from None
        raise TokenExpired() from None
    except (BadSignature, BadData, UnicodeError, ValueError):
        raise InvalidToken() from None
    if not _well_formed(payload):
        raise InvalidToken()
    return payload[0], payload[1]


def _canonical(token: str) -> bool:
    """Whether each part of ``payload.timestamp.signature`` is base64 as itsdangerous
    writes it. The decoder ignores the unused low bits of a part's last character, so
    without this check ``...7ts``, ``...7tt`` and ``...7tu`` would be one valid token:
    a changed link must never pass."""
    parts = token.split(".")
    if parts[0] == "":  # a compressed payload starts with "."
        parts = parts[1:]
    if len(parts) != 3:
        return False
    try:
        return all(part and base64_encode(base64_decode(part)).decode("ascii") == part for part in parts)
    except (BadData, ValueError, UnicodeError):
        return False


def matches(expected: str, bound_to: str) -> bool:
    """Constant-time check that a token's digest matches the current value."""
    return hmac.compare_digest(expected, digest(bound_to))


def _well_formed(payload: Any) -> bool:
    return isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload)
