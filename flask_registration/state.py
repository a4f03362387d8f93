"""Per-app state, kept at ``app.extensions["registration"]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .mail import MailSender
from .passwords import Passwords
from .store import UserStore

if TYPE_CHECKING:
    # Types only: the core never imports the OAuth package, which plugs in at init_app.
    from .extension import Registration
    from .limits import RateLimits
    from .oauth.providers import Provider
    from .oauth.storage import IdentityStore


@dataclass
class OAuthState:
    """What third-party login needs per app: the store of linked identities and the
    configured providers, by name (set by :func:`flask_registration.oauth.init_app`)."""

    identities: IdentityStore
    providers: dict[str, Provider] = field(default_factory=dict)


@dataclass
class RegistrationState:
    """What one app's registration needs: the extension (hooks, forms), the store,
    the password hasher, the mail sender, the rate-limit counters, and the names of the
    blueprints ``init_app`` registered (their routes are the library's); ``oauth`` is
    None without third-party login."""

    extension: Registration
    store: UserStore
    passwords: Passwords
    mail_sender: MailSender
    rate_limits: RateLimits | None = None
    blueprints: frozenset[str] = frozenset()
    oauth: OAuthState | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def get_state(app: Flask | None = None) -> RegistrationState:
    """The registration state of ``app`` (default: the current app)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        return app.extensions["registration"]  # type: ignore[no-any-return]
    except KeyError:
        raise RuntimeError(
            "flask_registration is not set up on this app: call Registration.init_app(app) first."
        ) from None
