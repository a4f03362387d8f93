"""Authenticator-app secrets sealed at rest: AES-256-GCM, with a key derived from the
app's ``SECRET_KEY``.

An app has to know a TOTP secret to check a code, so the secret cannot be hashed like a
password or a recovery code. Sealed, a copy of the database alone (a backup, a replica,
an SQL injection that reads a table) no longer hands out the secrets that, with the
passwords, let someone in: the key is not in the database. This is what
Flask-Security-Too's ``SECURITY_TOTP_SECRETS`` and django-allauth's ``encrypt`` adapter
method are for; here it is on by default, with no setting.

- The key: HKDF-SHA256 of ``SECRET_KEY``, for this purpose only (it signs nothing).
- The secret is bound to its account: the user's id is the AES-GCM associated data, so a
  sealed secret copied onto another account's row does not open there.
- ``SECRET_KEY_FALLBACKS`` open secrets sealed before a rotation; such a secret is sealed
  again with the current key at its next successful use.
- A secret stored in clear (a row written before secrets were sealed) is read as it is,
  and sealed at its next successful use.

AES-GCM comes from ``cryptography``, which py_webauthn (the ``mfa`` extra) requires.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any

from flask import current_app

#: What a sealed secret starts with (a TOTP secret in base32 never contains ``:``).
PREFIX = "sealed1:"
_PURPOSE = b"flask-registration: authenticator-app secrets"
_NONCE = 12
_BASE32 = re.compile(r"[A-Z2-7]{16,128}={0,6}")


def _keys() -> list[bytes]:
    """The current key first, then those of ``SECRET_KEY_FALLBACKS``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    config = current_app.config
    keys = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return [
        HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            k.encode("utf-8") if isinstance(k, str) else bytes(k)
        )
        for k in keys
        if k
    ]


def _bound_to(user_id: Any) -> bytes:
    return f"totp:{user_id}".encode()


def seal(secret: str, user_id: Any) -> str:
    """``secret`` sealed with the current key, for the account ``user_id``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE)
    box = AESGCM(_keys()[0]).encrypt(nonce, secret.encode("ascii"), _bound_to(user_id))
    return PREFIX + base64.urlsafe_b64encode(nonce + box).decode("ascii")


def unseal(stored: Any, user_id: Any) -> tuple[str | None, bool]:
    """The secret in ``stored`` (a row's ``data["secret"]``), and whether it is sealed
    with the current key (False: seal it again at its next use).

    The secret is None when no key opens it: ``SECRET_KEY`` changed without the old one
    in ``SECRET_KEY_FALLBACKS``, or the value was damaged or moved to another account.
    The owner then uses a recovery code, or an operator resets the factors.
    """
    if not isinstance(stored, str) or not stored:
        return None, False
    if not stored.startswith(PREFIX):
        # Stored in clear, before secrets were sealed: a base32 secret, or nothing usable.
        return (stored, False) if _BASE32.fullmatch(stored) else (None, False)
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
    except (binascii.Error, ValueError):
        return None, False
    if len(raw) <= _NONCE:
        return None, False
    for index, key in enumerate(_keys()):
        try:
            secret = AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], _bound_to(user_id))
        except InvalidTag:
            continue
        return secret.decode("ascii"), index == 0
    return None, False
