"""Rate limits on what costs work or sends mail: signup, login, resend, password reset
and change of address.

The flows call :func:`hit` (and, before a password is checked, :func:`reserve`), so the
HTML pages and the JSON API count in the same buckets and can never disagree. Each
action has a bucket per client address and one per normalised email address
(``A@x.com`` and ``a@x.com`` share one), a change of address one per new address
(:func:`hit_target`), and a data export one per account (:func:`hit_user`); the limits
are :data:`RATE_LIMIT_DEFAULTS` overridden by ``REGISTRATION_RATE_LIMITS``.

An attempt takes its place in every bucket before the work it stands for, each bucket
taken atomically by the storage (a lock in memory, a Lua script in Redis), so a limit
holds however many requests arrive at once: checking first and counting after the work
would let every simultaneous request through the check.

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
from collections.abc import Callable, Sequence
from functools import lru_cache

from flask import Flask, current_app, has_request_context, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from werkzeug.http import parse_list_header

from ._compat import give_back_entry, throttle_memory_expiry
from .config import RATE_LIMIT_DEFAULTS
from .errors import RateLimited

__all__ = ["RATE_LIMIT_DEFAULTS", "Attempt", "RateLimits", "client_ip", "hit", "hit_target", "hit_user", "reserve"]

_KEY_PREFIX = "flask-registration"
#: How often, at most, the memory storage looks for expired entries (seconds): it only
#: frees memory, so this changes no answer (see ``_compat.throttle_memory_expiry``).
MEMORY_EXPIRY_INTERVAL = 1.0


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
        if self.active:  # in memory: no thread started, no walk of every bucket, per request
            throttle_memory_expiry(self.limiter.storage, MEMORY_EXPIRY_INTERVAL)

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


_Bucket = tuple[RateLimitItem, tuple[str, ...]]


def _scopes(email: str | None) -> dict[str, str | None]:
    """This client's and ``email``'s identities (None: no such bucket)."""
    return {"per_ip": client_ip(), "per_email": email_key(email) if email else None}


def _buckets(action: str, scopes: dict[str, str | None]) -> list[_Bucket]:
    """Every (limit, identifiers) that counts ``action`` for these identities, by scope
    (the bucket ``<action>_<scope>``)."""
    configured = current_app.config["REGISTRATION_RATE_LIMITS"]
    buckets: list[_Bucket] = []
    for scope, identity in scopes.items():
        name = f"{action}_{scope}"
        # init_app merged the defaults in; a dict set on app.config later may hold fewer.
        value = configured[name] if name in configured else RATE_LIMIT_DEFAULTS.get(name)
        if value is None or identity is None:
            continue
        buckets.extend((item, (action, scope, identity)) for item in _parse(value))
    return buckets


def _refuse(limits: RateLimits, item: RateLimitItem, identifiers: tuple[str, ...]) -> RateLimited:
    reset_at, _remaining = limits.limiter.limiter.get_window_stats(item, _KEY_PREFIX, *identifiers)
    return RateLimited(retry_after=max(1, math.ceil(reset_at - time.time())))


class Attempt:
    """One attempt, holding its place in every bucket :func:`reserve` took it from."""

    def __init__(self, limits: RateLimits | None = None, taken: Sequence[_Bucket] = ()) -> None:
        self._limits = limits
        self._taken = list(taken)

    def give_back(self) -> None:
        """Give the place back in each bucket: the attempt turned out not to count (the
        password was right). Only this attempt's place: nothing else is cleared. A second
        call does nothing.

        Memory and Redis storage give back atomically; with another storage the attempt
        stays counted.
        """
        taken, self._taken = self._taken, []
        if self._limits is not None:
            _give_back(self._limits, taken)


def _give_back(limits: RateLimits, taken: Sequence[_Bucket]) -> None:
    storage = limits.limiter.limiter.storage
    for item, identifiers in taken:
        give_back_entry(storage, item.key_for(_KEY_PREFIX, *identifiers))


def _take(action: str, scopes: Callable[[], dict[str, str | None]]) -> Attempt:
    limits = _state_limits()
    if limits is None:
        return Attempt()
    strategy = limits.limiter.limiter
    taken: list[_Bucket] = []
    for item, identifiers in _buckets(action, scopes()):
        # One atomic step per bucket: the place is taken only if the bucket has room.
        if not strategy.hit(item, _KEY_PREFIX, *identifiers):
            refusal = _refuse(limits, item, identifiers)
            _give_back(limits, taken)  # a refused attempt holds no place anywhere
            raise refusal
        taken.append((item, identifiers))
    return Attempt(limits, taken)


def reserve(action: str, *, email: str | None = None) -> Attempt:
    """Take one place for an attempt at ``action`` in each of its buckets (this client's,
    and ``email``'s), before the attempt's work is done; :meth:`Attempt.give_back` returns
    them if it turns out not to count.

    For password checks: ``reserve("failed_login", email=...)`` before the hash is
    checked, ``give_back()`` when the password is right, so only failures stay counted,
    and simultaneous guesses can never outnumber the places.

    :raises RateLimited: a bucket is full; the places taken in the others are given back.
    """
    return _take(action, lambda: _scopes(email))


def hit(action: str, *, email: str | None = None) -> None:
    """Count one attempt at ``action`` (``"signup"``, ``"login"``, ``"resend"``,
    ``"reset"``, ``"change_email"``) for this client and for ``email``.

    :raises RateLimited: a bucket is full; the attempt is refused before any work, and
        counts in none of the buckets.
    """
    _take(action, lambda: _scopes(email))


def hit_target(action: str, address: str) -> None:
    """Count one attempt at ``action`` that sends mail to ``address``, an address the
    requester may not own (the bucket ``<action>_per_target``, e.g.
    ``change_email_per_target``): however many accounts ask, the address gets at most
    that many messages.

    :raises RateLimited: the bucket is full.
    """
    _take(action, lambda: {"per_target": email_key(address)})


def hit_user(action: str, user_id: object) -> None:
    """Count one ``action`` of the logged-in user ``user_id`` (the bucket
    ``<action>_per_user``, e.g. ``export_per_user``), whichever client or token asks.

    :raises RateLimited: the bucket is full.
    """
    _take(action, lambda: {"per_user": str(user_id)})
