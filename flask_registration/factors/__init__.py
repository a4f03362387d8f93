"""Second factors: passkeys (WebAuthn), the authenticator app (TOTP) and recovery codes.

Needs the ``mfa`` extra: ``pip install 'flask-registration[mfa]'`` (webauthn, pyotp,
segno). The core never imports this package: ``Registration.init_app`` calls
:func:`init_app` when a factor model is given. Inside, from the bottom up:

- :mod:`.models` (the mixin) and :mod:`.store` (the one place that reads and writes it);
- :mod:`.passkeys`, :mod:`.totp`, :mod:`.recovery`: each kind's own checks;
- :mod:`.flows` (managing factors) and :mod:`.verify` (checking one at login): the
  rules, knowing neither HTML nor JSON; :mod:`.mailing`, their emails;
- :mod:`.login` (the second step of a login, a passkey alone, a re-authentication),
  :mod:`.trust` ("trust this browser") and :mod:`.signup` (signing up with a passkey);
- the faces: :mod:`.pages` (the security page) and :mod:`.login_pages` (the second
  step, the passkey buttons of the login, signup and re-authentication pages);
  :mod:`.api` and :mod:`.login_api` (JSON).

The core never imports this package; it reaches it through the app's
:class:`~flask_registration.state.FactorsState`: ``login_step`` (every login, a provider's
too, asks for the second factor there) and ``reauthenticate`` (a passkey).
"""

from __future__ import annotations

try:
    import pyotp  # noqa: F401
    import segno  # noqa: F401
    import webauthn  # noqa: F401
except ImportError as exc:  # pragma: no cover (the extra is installed in the tests)
    raise ImportError("Second factors need webauthn, pyotp and segno: pip install 'flask-registration[mfa]'.") from exc

from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from ..flows.export import add_section
from ..jsonface import iso_time
from ..state import FactorsState, get_state
from . import (
    api,
    login,
    login_api,
    login_pages,  # noqa: F401 (its routes go on pages.bp, registered below)
    pages,
)
from .errors import FactorError
from .flows import Added, Overview, TotpSetup, get_factors, overview, reset_factors
from .models import KINDS, PASSKEY, RECOVERY_CODES, TOTP, FactorMixin
from .store import FactorExists, FactorStore
from .verify import finish_passkey_login, has_second_factor, methods, passkey_login_options, verify_second_factor


def check_config(config: Any) -> None:
    """Refuse settings of second factors that cannot work.

    :raises RuntimeError: an origin that is not ``scheme://host[:port]``, an RP id that
        is not a host name or does not cover the origins, a challenge, second-step or
        trusted-browser lifetime that is not positive, a negative
        ``REGISTRATION_RECOVERY_CODES_LOW``.
    """
    rp_id = config["REGISTRATION_WEBAUTHN_RP_ID"]
    if rp_id is not None and (not rp_id or "/" in rp_id or ":" in rp_id or rp_id != rp_id.lower()):
        raise RuntimeError(f"REGISTRATION_WEBAUTHN_RP_ID must be a host name in lower case, not {rp_id!r}.")
    for origin in config["REGISTRATION_WEBAUTHN_ORIGINS"]:
        parts = urlsplit(origin) if isinstance(origin, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise RuntimeError(
                f"REGISTRATION_WEBAUTHN_ORIGINS takes origins such as 'https://example.com', not {origin!r}."
            )
        host = parts.hostname
        if rp_id and host != rp_id and not host.endswith("." + rp_id):
            raise RuntimeError(f"The origin {origin!r} is not on REGISTRATION_WEBAUTHN_RP_ID {rp_id!r} or under it.")
    if config["REGISTRATION_WEBAUTHN_CHALLENGE_WITHIN"].total_seconds() <= 0:
        raise RuntimeError("REGISTRATION_WEBAUTHN_CHALLENGE_WITHIN must be a positive timedelta.")
    if config["REGISTRATION_RECOVERY_CODES_LOW"] < 0:
        raise RuntimeError("REGISTRATION_RECOVERY_CODES_LOW cannot be negative.")
    if config["REGISTRATION_SECOND_FACTOR_WITHIN"].total_seconds() <= 0:
        raise RuntimeError("REGISTRATION_SECOND_FACTOR_WITHIN must be a positive timedelta.")
    trusted = config["REGISTRATION_TRUST_BROWSER_WITHIN"]
    if trusted is not None and trusted.total_seconds() <= 0:
        raise RuntimeError("REGISTRATION_TRUST_BROWSER_WITHIN must be a positive timedelta, or None (off).")


def export_section(user: Any) -> list[dict[str, Any]]:
    """The user's factors in their data export: each one's kind, name (a passkey's) and
    dates; never a key, a secret, a credential id or a code."""
    return [
        {
            "kind": row.kind,
            "name": row.name,
            "createdAt": iso_time(row.created_at),
            "lastUsedAt": iso_time(row.last_used_at),
        }
        for row in get_factors().of_user(user)
    ]


def init_app(app: Flask, *, db: Any, model: Any, user_model: Any) -> None:
    """Set second factors up on ``app`` (``Registration.init_app`` calls this): the
    factor store, the second step of every login, the security and login pages, the
    JSON routes, and the ``factors`` section of the data export. The user store deletes
    a user's factors with the user.

    :raises RuntimeError: see :func:`check_config`.
    """
    check_config(app.config)
    state = get_state(app)
    state.factors = FactorsState(
        store=FactorStore(db, model, user_model), login_step=login.second_step, reauthenticate=login.reauthenticate
    )
    state.store.credential_models.append(model)
    pages.init_app(app)  # with login_pages' routes, on the same blueprint
    api.init_app(app)
    login_api.init_app(app)
    add_section(app, "factors", export_section)


__all__ = [
    "KINDS",
    "PASSKEY",
    "RECOVERY_CODES",
    "TOTP",
    "Added",
    "FactorError",
    "FactorExists",
    "FactorMixin",
    "FactorStore",
    "Overview",
    "TotpSetup",
    "check_config",
    "export_section",
    "finish_passkey_login",
    "get_factors",
    "has_second_factor",
    "init_app",
    "methods",
    "overview",
    "passkey_login_options",
    "reset_factors",
    "verify_second_factor",
]
