"""Per-app state, kept at ``app.extensions["registration"]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .mail import MailSender
from .passwords import Passwords
from .store import UserStore

if TYPE_CHECKING:
    from .extension import Registration
    from .limits import RateLimits


@dataclass
class RegistrationState:
    """What one app's registration needs: the extension (hooks, forms), the store,
    the password hasher, the mail sender, the rate-limit counters, and the names of the
    blueprints ``init_app`` registered (their routes are the library's)."""

    extension: Registration
    store: UserStore
    passwords: Passwords
    mail_sender: MailSender
    rate_limits: RateLimits | None = None
    blueprints: frozenset[str] = frozenset()
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
