"""Recovery codes: ten single-use codes for when the phone or the passkey is lost.

They are shown once, when made, and stored only as HMAC-SHA256 digests keyed with a key
derived from ``SECRET_KEY`` and bound to the account. A fast keyed hash is enough here
(unlike for passwords): each code has 50 random bits, so a copy of the table without the
key reveals nothing, and even with the key a code costs about 2^49 tries to find; a slow
hash would cost a login a slow hash per unused code, as digests with a salt each cannot
be looked up. The codes are checked against ``SECRET_KEY_FALLBACKS`` too, so rotating
the key does not void them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import current_app

#: How many codes a set has.
COUNT = 10
#: The characters of a code: lower-case letters and digits a person cannot confuse.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
#: Characters per code (two groups of five): about 50 bits.
LENGTH = 10
_PURPOSE = b"flask-registration.recovery-codes"


def new_codes() -> list[str]:
    """A fresh set of codes, as shown to the owner: ``"abcde-fghjk"``."""
    codes = []
    for _ in range(COUNT):
        raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize(code: object) -> str | None:
    """A code as typed (any case, spaces or dashes anywhere), or None if it cannot be one."""
    if not isinstance(code, str) or len(code) > 40:
        return None
    raw = "".join(c for c in code.lower() if c not in " -")
    return raw if len(raw) == LENGTH and all(c in ALPHABET for c in raw) else None


def _keys() -> list[bytes]:
    config = current_app.config
    keys = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return [k.encode("utf-8") if isinstance(k, str) else bytes(k) for k in keys]


def _digest(key: bytes, user_id: Any, raw: str) -> str:
    derived = hmac.new(key, _PURPOSE, hashlib.sha256).digest()
    return hmac.new(derived, f"{user_id}:{raw}".encode(), hashlib.sha256).hexdigest()


def digests(user: Any, codes: list[str]) -> list[str]:
    """How ``codes`` are stored for ``user`` (with the current ``SECRET_KEY``)."""
    key = _keys()[0]
    return [_digest(key, user.id, str(normalize(code))) for code in codes]


def find(user: Any, code: str, stored: list[str]) -> str | None:
    """The stored digest that ``code`` (normalised) matches, or None."""
    found = None
    for key in _keys():
        candidate = _digest(key, user.id, code)
        for value in stored:
            if hmac.compare_digest(candidate, value) and found is None:
                found = value
    return found
