"""Per-app state, kept at ``app.extensions["registration"]``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app

from .mail import MailSender
from .passwords import Passwords
from .store import UserStore

if TYPE_CHECKING:
    # Types only: the core never imports the OAuth package, which plugs in at init_app.
    from .extension import Registration
    from .factors.store import FactorStore
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
class FactorsState:
    """What second factors need per app (set by :func:`flask_registration.factors.init_app`):
    the store of factors, and what the core asks of them without importing the package.

    - ``login_step(user, *, code, remember, provider)``: the second step of a login whose
      first factor passed. Returns when the login may go on (the account has no second
      factor, or ``code`` is right); else keeps the half-done login in the session and
      raises :class:`~flask_registration.flows.login.LoginStepRequired`.
    - ``reauthenticate(user, credential)``: checks a passkey's answer of ``user`` (a
      re-authentication); raises a :class:`~flask_registration.RegistrationError` when
      it is refused.
    """

    store: FactorStore
    login_step: Callable[..., None] | None = None
    reauthenticate: Callable[[Any, Any], None] | None = None

    def passkeys_of(self, user: Any) -> list[Any]:
        """The passkeys of ``user`` (rows of the app's factor model)."""
        return self.store.of_user(user, "passkey")


@dataclass
class RegistrationState:
    """What one app's registration needs: the extension (hooks, forms), the store,
    the password hasher, the mail sender, the rate-limit counters, and the names of the
    blueprints ``init_app`` registered (their routes are the library's); ``oauth`` is
    None without third-party login, ``factors`` without second factors."""

    extension: Registration
    store: UserStore
    passwords: Passwords
    mail_sender: MailSender
    rate_limits: RateLimits | None = None
    blueprints: frozenset[str] = frozenset()
    oauth: OAuthState | None = None
    factors: FactorsState | None = None
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
