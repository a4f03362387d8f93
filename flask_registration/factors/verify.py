"""Checking a second factor: what the login step (and anything else that asks "is it
really the owner?") calls. Plain functions that know neither HTML nor JSON.

- :func:`verify_second_factor`: a code typed by the owner, from the authenticator app
  or one of the recovery codes;
- :func:`passkey_login_options` and :func:`finish_passkey_login`: a passkey, for a
  known user (a second factor) or for whoever the authenticator names (a discoverable
  login, "log in with a passkey", user verification required).

Every check is counted per client and per account (the ``second_factor_*`` rate limits);
one that succeeds gives its place back, so only failures count. A code or an answer that
was already used is refused, even by two requests at the same moment (each use is one
conditional UPDATE, see :class:`~flask_registration.factors.store.FactorStore`).
"""

from __future__ import annotations

import logging
from typing import Any

from webauthn.helpers import base64url_to_bytes

from .. import limits, signals
from ..errors import RegistrationError, ValidationError
from ..i18n import gettext
from ..state import get_state
from . import passkeys, recovery, sealed, totp
from .errors import FactorError
from .flows import get_factors
from .mailing import tell_recovery_code_used
from .models import PASSKEY, RECOVERY_CODES, TOTP

log = logging.getLogger("flask_registration")

#: The names of the methods, as :func:`methods` lists them.
METHODS = ("passkey", "totp", "recovery_code")


def account_key(user: Any) -> str:
    """The name of ``user``'s rate-limit bucket (by id: it stays when the address changes)."""
    return f"account:{user.id}"


def methods(user: Any) -> list[str]:
    """The second factors ``user`` can give, in the order a page offers them:
    ``"passkey"``, ``"totp"``, ``"recovery_code"``; empty when the account has none."""
    kinds = {row.kind for row in get_factors().of_user(user)}
    found = [name for name, kind in (("passkey", PASSKEY), ("totp", TOTP)) if kind in kinds]
    if found and RECOVERY_CODES in kinds:
        found.append("recovery_code")
    return found


def has_second_factor(user: Any) -> bool:
    """Whether a login of ``user`` needs a second factor (a passkey or the app)."""
    return bool(methods(user))


def _failed(user: Any, method: str, error: RegistrationError) -> RegistrationError:
    signals.second_factor_failed.send(signals.app_sender(), user=user, method=method, code=error.code)
    return error


def verify_second_factor(user: Any, code: Any) -> str:
    """Check a code typed by ``user``: the authenticator app's current code, or an
    unused recovery code (which is then spent, and the owner emailed). Return the
    method: ``"totp"`` or ``"recovery_code"``.

    :raises ValidationError: no code given (field ``code``, 422).
    :raises FactorError: ``SECOND_FACTOR_INVALID`` (401, field ``code``): wrong, or the
        account has no such factor; ``SECOND_FACTOR_REUSED`` (401): a code already used.
    :raises RateLimited: too many failures for this client or account.
    """
    if code is None or (isinstance(code, str) and not code.strip()):
        raise ValidationError.from_fields({"code": [("presence", gettext("Enter the code."))]})
    attempt = limits.reserve("second_factor", email=account_key(user))
    store = get_factors()
    reused = False
    typed = totp.normalize(code)
    for row in store.of_user(user, TOTP) if typed else ():
        secret, current = sealed.unseal(row.data.get("secret"), user.id)
        if secret is None:  # no key opens it (see sealed.unseal): the app cannot check codes
            log.warning("The authenticator-app secret of user %s cannot be opened with SECRET_KEY.", user.id)
            continue
        step = totp.matching_step(secret, typed, after=int(row.data.get("last_step", -1)))  # type: ignore[arg-type]
        # A secret in clear, or sealed with a fallback key, is sealed with the current key.
        kept = row.data["secret"] if current else sealed.seal(secret, user.id)
        if step is not None and store.update(row, {**row.data, "secret": kept, "last_step": step}):
            attempt.give_back()
            signals.second_factor_verified.send(signals.app_sender(), user=user, method="totp")
            return "totp"
        reused = reused or totp.matching_step(secret, typed) is not None  # type: ignore[arg-type]
    spare = recovery.normalize(code)
    row = store.one(user, RECOVERY_CODES) if spare and methods(user) else None
    if row is not None:
        stored = list(row.data.get("digests") or ())
        found = recovery.find(user, spare, stored)  # type: ignore[arg-type]
        if found is not None and store.update(row, {**row.data, "digests": [d for d in stored if d != found]}):
            attempt.give_back()
            left = len(stored) - 1
            signals.recovery_code_used.send(signals.app_sender(), user=user, left=left)
            signals.second_factor_verified.send(signals.app_sender(), user=user, method="recovery_code")
            tell_recovery_code_used(user, left)
            return "recovery_code"
        reused = reused or found is not None
    if reused:
        message = gettext("That code was already used. Wait for the app to show a new one.")
        raise _failed(user, "code", FactorError(message, code="SECOND_FACTOR_REUSED", status=401, field="code"))
    message = gettext("That code is not right. Enter the code your authenticator app shows now, or a recovery code.")
    raise _failed(user, "code", FactorError(message, code="SECOND_FACTOR_INVALID", status=401, field="code"))


def passkey_login_options(user: Any = None, *, require_uv: bool = False) -> dict[str, Any]:
    """The options of ``navigator.credentials.get()``: for ``user``'s passkeys (a
    second factor, or with ``require_uv`` a re-authentication), or for any passkey of
    this site (a discoverable login, user verification required).

    :raises FactorError: ``PASSKEY_UNKNOWN``: ``user`` has no passkey.
    """
    existing = None
    if user is not None:
        existing = [row.data for row in get_factors().of_user(user, PASSKEY)]
        if not existing:
            raise FactorError(gettext("This account has no passkey."), code="PASSKEY_UNKNOWN")
    return passkeys.authentication_options(user, existing, require_uv=require_uv)


def finish_passkey_login(answer: Any, user: Any = None, *, require_uv: bool | None = None) -> tuple[Any, Any]:
    """Check the browser's answer to :func:`passkey_login_options` (for the same
    ``user``, or None); return ``(user, passkey)``. The passkey's sign counter, backup
    state and last use are saved. User verification is required without a ``user`` (a
    passkey alone logs in) and with ``require_uv``.

    :raises FactorError: see :mod:`.passkeys`; ``PASSKEY_UNKNOWN`` for a passkey that
        is not registered, or is another account's; ``PASSKEY_REPLAYED`` for an answer
        already used.
    :raises RateLimited: too many failures for this client or account.
    """
    attempt = limits.reserve("second_factor", email=account_key(user) if user is not None else None)
    try:
        challenge, made_at = passkeys.take("authenticate", user)
        raw_id, handle = passkeys.credential_of(answer)
        store = get_factors()
        row = store.by_credential(passkeys.credential_digest(raw_id))
        if row is None or row.kind != PASSKEY or (user is not None and row.user_id != user.id):
            raise FactorError(gettext("This passkey is not registered here."), code="PASSKEY_UNKNOWN")
        stored_handle = row.data.get("user_handle")
        if handle is not None and (not isinstance(stored_handle, str) or base64url_to_bytes(stored_handle) != handle):
            raise FactorError(gettext("This passkey is not registered here."), code="PASSKEY_UNKNOWN")
        owner = user if user is not None else get_state().store.get(row.user_id)
        if owner is None:
            raise FactorError(gettext("This passkey is not registered here."), code="PASSKEY_UNKNOWN")
        strict = user is None if require_uv is None else require_uv
        data = passkeys.verify_assertion(answer, row.data, challenge, made_at, require_uv=strict)
        if not store.update(row, data):
            raise FactorError(gettext("This passkey answer was already used."), code="PASSKEY_REPLAYED")
    except FactorError as exc:
        raise _failed(user, "passkey", exc) from None
    attempt.give_back()
    signals.second_factor_verified.send(signals.app_sender(), user=owner, method="passkey")
    return owner, row
