"""The one check every ``redirect`` / ``next`` parameter goes through.

A path on this site is followed when it starts with a single ``/`` and has no scheme, no
host, no backslash and no control, format or white-space character, also once or twice
URL-decoded. Browsers read ``//evil``, ``/\\evil`` and ``/\\t/evil`` as another host, so
all of those are refused (Flask-Security-Too's CVE-2023-49438 and LoopBack's open
``confirm?redirect=`` were this mistake).

An absolute ``http(s)`` URL is followed only when its host (and port) is listed in
``REGISTRATION_ALLOWED_REDIRECT_HOSTS``, with no user name or password in it.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app, has_app_context

MAX_LENGTH = 2048


def _clean(text: str) -> bool:
    """No backslash, and no control, format (zero-width, bidi) or white-space character:
    nothing a browser would strip, rewrite or read as a slash. Other non-ASCII text is
    kept (werkzeug percent-encodes it in the ``Location`` header)."""
    return "\\" not in text and not any(c.isspace() or unicodedata.category(c) in _REFUSED_CATEGORIES for c in text)


def _ascii(text: str) -> bool:
    return all(0x21 <= ord(c) < 0x7F for c in text)


_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def _local_path(target: str) -> bool:
    # Decode twice: some servers and frameworks decode once more than expected.
    for candidate in (target, unquote(target), unquote(unquote(target))):
        if not _clean(candidate) or not candidate.startswith("/") or candidate.startswith("//"):
            return False
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return False
    return True


def _allowed_hosts() -> frozenset[str]:
    if not has_app_context():
        return frozenset()
    return frozenset(current_app.config.get("REGISTRATION_ALLOWED_REDIRECT_HOSTS") or ())


def _allowed_absolute(target: str, hosts: frozenset[str]) -> bool:
    if not hosts or not _ascii(target) or not _clean(unquote(target)):
        return False
    try:
        parts = urlsplit(target)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or "@" in parts.netloc or not parts.hostname:
        return False
    host = parts.hostname if port is None else f"{parts.hostname}:{port}"
    # The netloc must be exactly the host (and port) that was checked: no trailing dot,
    # no empty port, no upper case that a browser would read differently.
    return parts.netloc == host and host in hosts and target.startswith(f"{parts.scheme}://{host}")


def safe_redirect(target: Any, default: str | None = None) -> str | None:
    """Return ``target`` if it is a path on this site, or an ``http(s)`` URL on a host of
    ``REGISTRATION_ALLOWED_REDIRECT_HOSTS``; else ``default``."""
    if not isinstance(target, str) or not target or len(target) > MAX_LENGTH:
        return default
    if target.startswith("/"):
        return target if _local_path(target) else default
    return target if _allowed_absolute(target, _allowed_hosts()) else default
