"""Authenticator-app codes (TOTP, RFC 6238) with pyotp: secrets, the ``otpauth://``
URI and its QR code (an inline SVG made with segno), and the check of a code.

A code is six digits for a 30-second time step; the check accepts the step before and
the one after (a phone's clock a little off), and only a step later than the last one
used: a code seen over someone's shoulder, or sent twice, does not work again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pyotp
import segno
from markupsafe import Markup

#: Digits of a code, seconds of a time step, steps accepted either side of now.
DIGITS = 6
PERIOD = 30
TOLERANCE = 1


def derive_secret(key: str | bytes, label: str) -> str:
    """A secret derived from ``key`` (the app's ``SECRET_KEY``) and ``label`` (a random
    seed): 160 bits of HMAC-SHA256 in base32. What a setup keeps in the cookie session is
    the seed; without the key it tells nothing of the secret."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    digest = hmac.new(raw, b"flask-registration.totp:" + label.encode("utf-8"), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode("ascii")


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as an inline ``<svg>`` (black on white, a quiet zone)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#000", light="#fff", omitsize=False)
    return Markup(svg)  # noqa: S704 (segno's own markup: no user text in it but the escaped URI)


def grouped(secret: str) -> str:
    """The secret in groups of four, for a person to type: ``ABCD EFGH ...``."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def normalize(code: object) -> str | None:
    """A code as typed (spaces and dashes allowed), or None if it cannot be one."""
    if not isinstance(code, str) or len(code) > 20:
        return None
    digits = code.replace(" ", "").replace("-", "")
    return digits if len(digits) == DIGITS and digits.isascii() and digits.isdigit() else None


def matching_step(secret: str, code: str, *, after: int = -1, now: float | None = None) -> int | None:
    """The time step whose code ``code`` is, among those accepted now and later than
    ``after`` (the last step used); None when it is none of them."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    current = int((time.time() if now is None else now) // PERIOD)
    found = None
    for step in range(current - TOLERANCE, current + TOLERANCE + 1):
        # Every step is compared, found or not: the time taken tells nothing.
        if hmac.compare_digest(totp.generate_otp(step), code) and step > after and found is None:
            found = step
    return found
