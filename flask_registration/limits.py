"""Rate limits on what costs work or sends mail: signup, login, resend, password reset
and change of address.

The flows call :func:`hit` (and, for logins, :func:`check` and :func:`failed_login`), so
the HTML pages and the JSON API count in the same buckets and can never disagree. Each
action has a bucket per client address and one per normalised email address
(``A@x.com`` and ``a@x.com`` share one); the limits are :data:`RATE_LIMIT_DEFAULTS`
overridden by ``REGISTRATION_RATE_LIMITS``.

The counting is Flask-Limiter's: a :class:`flask_limiter.Limiter` per app holds the
storage (``REGISTRATION_RATE_LIMIT_STORAGE_URI``: memory, or Redis for several
processes) and the moving-window strategy. It limits none of the app's routes by itself
(an app may run its own Flask-Limiter beside it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from functools import lru_cache

from flask import Flask, current_app, has_request_context, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from werkzeug.http import parse_list_header

from .config import RATE_LIMIT_DEFAULTS
from .errors import RateLimited

__all__ = ["RATE_LIMIT_DEFAULTS", "RateLimits", "check", "client_ip", "failed_login", "hit"]

_KEY_PREFIX = "flask-registration"


class RateLimits:
    """One app's counters: a Flask-Limiter ``Limiter`` used for its storage and strategy."""

    def __init__(self, app: Flask) -> None:
        self.limiter = Limiter(
            key_func=client_ip,
            storage_uri=app.config["REGISTRATION_RATE_LIMIT_STORAGE_URI"],
            strategy="moving-window",
            key_prefix=_KEY_PREFIX,
            headers_enabled=False,
        )
        # Only the flows count, through this object; the app's own routes are left to
        # the app (and to its own Flask-Limiter, whose RATELIMIT_DEFAULT must not apply
        # a second time through this instance).
        self.limiter.request_filter(lambda: True)
        self.limiter.init_app(app)

    @property
    def active(self) -> bool:
        """False when Flask-Limiter is switched off (``RATELIMIT_ENABLED = False``)."""
        return bool(self.limiter.enabled and self.limiter.initialized)

    def reset(self) -> None:
        """Forget every count (for tests and operators)."""
        if self.active:
            self.limiter.reset()


def client_ip() -> str:
    """The client's address as the buckets see it.

    ``X-Forwarded-For`` is read only behind ``REGISTRATION_TRUSTED_PROXIES`` proxies, as
    werkzeug's ``ProxyFix(x_for=N)`` reads it: the N-th address from the right, the one
    the outermost trusted proxy saw. Anything a client writes further left is ignored, so
    a spoofed header neither escapes its own bucket nor lands in someone else's. An IPv6
    client counts by its /64 network (one host usually has all of it).
    """
    address = request.remote_addr or ""
    trusted = current_app.config["REGISTRATION_TRUSTED_PROXIES"]
    if trusted:
        values = parse_list_header(request.environ.get("HTTP_X_FORWARDED_FOR", ""))
        if len(values) >= trusted:
            address = values[-trusted]
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def email_key(email: str) -> str:
    """How an address names its bucket: a digest of its normal form (no address is
    written to the storage)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]


@lru_cache(maxsize=64)
def _parse(value: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(value))


def _state_limits() -> RateLimits | None:
    if not has_request_context():  # an operator's command or a worker: no client to count
        return None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get("registration")
    limits: RateLimits | None = getattr(state, "rate_limits", None)
    if not app.config["REGISTRATION_RATE_LIMITS_ENABLED"] or limits is None or not limits.active:
        return None
    return limits


def _buckets(action: str, email: str | None) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    """Every (limit, identifiers) that counts ``action`` for this request."""
    configured = current_app.config["REGISTRATION_RATE_LIMITS"]
    buckets: list[tuple[RateLimitItem, tuple[str, ...]]] = []
    for scope, key in (("per_ip", client_ip), ("per_email", lambda: email_key(email or ""))):
        name = f"{action}_{scope}"
        # init_app merged the defaults in; a dict set on app.config later may hold fewer.
        value = configured[name] if name in configured else RATE_LIMIT_DEFAULTS.get(name)
        if value is None or (scope == "per_email" and not email):
            continue
        identity = key()
        buckets.extend((item, (action, scope, identity)) for item in _parse(value))
    return buckets


def _refuse(limits: RateLimits, item: RateLimitItem, identifiers: tuple[str, ...]) -> RateLimited:
    reset_at, _remaining = limits.limiter.limiter.get_window_stats(item, _KEY_PREFIX, *identifiers)
    return RateLimited(retry_after=max(1, math.ceil(reset_at - time.time())))


def hit(action: str, *, email: str | None = None) -> None:
    """Count one attempt at ``action`` (``"signup"``, ``"login"``, ``"resend"``,
    ``"reset"``, ``"change_email"``) for this client and for ``email``.

    :raises RateLimited: a bucket is full; the attempt is refused before any work.
    """
    _consult(action, email, count=True)


def check(action: str, *, email: str | None = None) -> None:
    """Refuse when a bucket of ``action`` is full, without counting this attempt
    (counted later, and only if it fails: see :func:`failed_login`).

    :raises RateLimited: a bucket is full.
    """
    _consult(action, email, count=False)


def _consult(action: str, email: str | None, *, count: bool) -> None:
    limits = _state_limits()
    if limits is None:
        return
    strategy = limits.limiter.limiter
    ask = strategy.hit if count else strategy.test
    for item, identifiers in _buckets(action, email):
        if not ask(item, _KEY_PREFIX, *identifiers):
            raise _refuse(limits, item, identifiers)


def failed_login(email: str) -> None:
    """Count a refused password (a login, or the current password of a change) for this
    client and for ``email``. Nothing ever clears these counts: a successful login from
    one address must not wipe what another address did (django-allauth's bypass)."""
    limits = _state_limits()
    if limits is None:
        return
    strategy = limits.limiter.limiter
    for item, identifiers in _buckets("failed_login", email):
        strategy.hit(item, _KEY_PREFIX, *identifiers)
