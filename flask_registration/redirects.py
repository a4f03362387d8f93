"""The one check every ``redirect`` / ``next`` parameter goes through.

Only a path on this site is followed: it starts with a single ``/``, has no scheme, no
host, no backslash and no control or white-space character. Browsers read ``//evil``,
``/\\evil`` and ``/\\t/evil`` as another host, so all of those are refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit


def safe_redirect(target: Any, default: str | None = None) -> str | None:
    """Return ``target`` if it is a safe local path, else ``default``."""
    if not isinstance(target, str) or not target or len(target) > 2048:
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    # Decode twice: some servers and frameworks decode once more than expected.
    for candidate in (target, unquote(target), unquote(unquote(target))):
        if "\\" in candidate or any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0x9F for c in candidate):
            return default
        if candidate.startswith("//"):
            return default
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return default
    return target
