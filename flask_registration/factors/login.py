"""Logging in with second factors: the step after the password (or a provider), logging
in with a passkey alone, and re-authenticating with a passkey. Plain functions that know
neither HTML nor JSON.

**The half-done login.** When the first factor of an account with a second factor is
right, :func:`second_step` (the core's ``login_step``) keeps a half-done login in the
browser's session and refuses with :class:`~.errors.SecondFactorRequired`. It holds the
user's id, a digest of the id and auth stamp (a password change or "log out everywhere"
voids it), when it began (it works for ``REGISTRATION_SECOND_FACTOR_WITHIN``), the
"remember me" choice and, for a provider login, the provider. It works once (taken out
of the session when a second factor finishes the login) and survives nothing else: a
logout or any login clears the session it lives in. A copy of the cookie is worth no
more than the password it followed: it still needs the second factor, which is counted
(the ``second_factor_*`` limits) and can be used once.

**A passkey alone** logs in as both factors (:func:`log_in_with_passkey`): the
authenticator must verify the user (a PIN, a fingerprint), and the account must be one
that a password login would let in (a verified address, not being deleted).
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, session, url_for

from .. import limits, signals
from ..errors import RegistrationError
from ..flows.login import LoginResult, complete_login, refuse_unverified
from ..flows.sessions import refuse_if_deleted
from ..i18n import gettext
from ..state import get_state
from ..tokens import digest
from . import passkeys
from .errors import FactorError, SecondFactorRequired
from .verify import finish_passkey_login, methods, passkey_login_options, verify_second_factor

#: Where the half-done login lives in the session.
WAITING_KEY = "registration_second_factor"


def _who(user: Any) -> str:
    return digest(f"second-factor:{user.id}:{user.auth_stamp}")


def second_step(user: Any, *, code: Any = None, remember: bool = False, provider: str | None = None) -> None:
    """The second step of a login whose first factor passed (the core's
    :attr:`~flask_registration.state.FactorsState.login_step`): nothing for an account
    without a second factor; a ``code`` given with the login (the JSON API's) is checked;
    else the login waits (see the module's notes).

    :raises SecondFactorRequired: the account has a second factor and no code came.
    :raises FactorError: the code is wrong or used (401, see :func:`.verify_second_factor`).
    :raises RateLimited: too many wrong codes for this client or account.
    """
    found = methods(user)
    if not found:
        return
    if code is not None:
        verify_second_factor(user, code)
        return
    session[WAITING_KEY] = {
        "uid": str(user.id),
        "who": _who(user),
        "at": int(time.time()),
        "remember": bool(remember),
        "provider": provider,
    }
    signals.second_factor_required.send(signals.app_sender(), user=user, methods=found, provider=provider)
    raise SecondFactorRequired(found, location=url_for("registration_factors.second_factor"))


def waiting() -> tuple[Any, dict[str, Any]] | None:
    """The user whose login waits for a second factor in this browser, and the half-done
    login; None when none waits (none began, it expired, it was used, the account
    changed)."""
    value = session.get(WAITING_KEY)
    if not isinstance(value, dict) or not isinstance(value.get("uid"), str) or not isinstance(value.get("at"), int):
        return None
    within = current_app.config["REGISTRATION_SECOND_FACTOR_WITHIN"].total_seconds()
    if not 0 <= time.time() - value["at"] <= within:
        return None
    user = get_state().store.get(value["uid"])
    if user is None or value.get("who") != _who(user):
        return None
    return user, value


def waiting_login() -> tuple[Any, dict[str, Any]]:
    """Like :func:`waiting`, but refuses when no login waits.

    :raises FactorError: ``LOGIN_NOT_WAITING`` (401).
    """
    found = waiting()
    if found is None:
        raise FactorError(
            gettext("No login is waiting for a second factor here, or it took too long. Please log in again."),
            code="LOGIN_NOT_WAITING",
            status=401,
        )
    return found


def finish(user: Any, half: dict[str, Any], *, ttl: int | None = None, issue_token: bool = False) -> LoginResult:
    """Finish the half-done login ``half`` of ``user``, whose second factor passed (or
    whose browser is trusted): it is used up, and ``user`` is logged in as its first
    step asked (see :func:`~flask_registration.flows.login.complete_login`)."""
    session.pop(WAITING_KEY, None)
    provider = half.get("provider") if isinstance(half.get("provider"), str) else None
    remember = half.get("remember") is True
    return complete_login(user, remember=remember, ttl=ttl, issue_token=issue_token, provider=provider)


def finish_with_code(code: Any, *, ttl: int | None = None, issue_token: bool = False) -> LoginResult:
    """Finish the waiting login with a code: the authenticator app's, or a recovery code.

    :raises FactorError: ``LOGIN_NOT_WAITING``; a wrong or used code (401).
    :raises ValidationError: no code (field ``code``).
    :raises RateLimited: too many wrong codes.
    """
    user, half = waiting_login()
    verify_second_factor(user, code)
    return finish(user, half, ttl=ttl, issue_token=issue_token)


def second_factor_options() -> dict[str, Any]:
    """The options of ``navigator.credentials.get()`` for the passkeys of the account
    whose login waits.

    :raises FactorError: ``LOGIN_NOT_WAITING``; ``PASSKEY_UNKNOWN`` (it has no passkey).
    """
    user, _half = waiting_login()
    return passkey_login_options(user)


def finish_with_passkey(answer: Any, *, ttl: int | None = None, issue_token: bool = False) -> LoginResult:
    """Finish the waiting login with a passkey of its account, the answer to
    :func:`second_factor_options`.

    :raises FactorError: ``LOGIN_NOT_WAITING``; the answer refused (see :mod:`.verify`).
    :raises RateLimited: too many refused answers.
    """
    user, half = waiting_login()
    finish_passkey_login(answer, user)
    return finish(user, half, ttl=ttl, issue_token=issue_token)


def answers_second_factor() -> bool:
    """Whether the passkey request waiting in this session is a second factor's (made
    by :func:`second_factor_options`) rather than a discoverable login's."""
    return passkeys.bound_ceremony()


# A passkey alone.


def passkey_options() -> dict[str, Any]:
    """The options of ``navigator.credentials.get()`` for a login with any passkey of
    this site (discoverable credentials: no address needed; user verification required)."""
    return passkey_login_options()


def check_may_log_in(user: Any) -> None:
    """The checks a password login makes once the password is right, for a login with
    no password: a verified address (the same rule and answer as
    :func:`~flask_registration.flows.login.authenticate`), an account not being deleted.

    :raises LoginFailed: an address not verified (with enumeration prevention: a new link
        is emailed), or ``EmailNotVerified``.
    :raises RegistrationError: 401 ``ACCOUNT_PENDING_DELETION``.
    """
    if current_app.config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"] and not user.email_verified:
        refuse_unverified(user)
    try:
        refuse_if_deleted(user)
    except RegistrationError as exc:
        signals.login_failed.send(signals.app_sender(), email=user.email, code=exc.code)
        raise


def log_in_with_passkey(
    answer: Any, *, remember: bool = False, ttl: int | None = None, issue_token: bool = False
) -> LoginResult:
    """Log in with a passkey alone, the answer to :func:`passkey_options`: it counts as
    both factors. ``before_login`` hooks run with ``(user, {"email", "passkey"})`` (the
    passkey's name); any login waiting for a second factor here is dropped.

    :raises FactorError: the answer refused (see :mod:`.verify`).
    :raises LoginFailed: the account's address is not verified (see :func:`check_may_log_in`).
    :raises RateLimited: too many logins, or refused answers, from this client.
    """
    limits.hit("login")  # every login counts per client, as a password login does
    user, row = finish_passkey_login(answer)
    check_may_log_in(user)
    get_state().extension.hooks.run("before_login", user, {"email": user.email, "passkey": row.name})
    session.pop(WAITING_KEY, None)
    result = complete_login(user, remember=remember, ttl=ttl, issue_token=issue_token)
    signals.passkey_logged_in.send(signals.app_sender(), user=user, passkey=row)
    return result


# Re-authentication.


def reauthenticate_options(user: Any) -> dict[str, Any]:
    """The options of ``navigator.credentials.get()`` for the logged-in ``user`` to
    confirm it is them with one of their passkeys (user verification required).

    :raises FactorError: ``PASSKEY_UNKNOWN``: the account has no passkey.
    """
    return passkey_login_options(user, require_uv=True)


def reauthenticate(user: Any, answer: Any) -> None:
    """Check the answer to :func:`reauthenticate_options` (the core's
    :attr:`~flask_registration.state.FactorsState.reauthenticate`); the face then marks
    the browser as recently re-authenticated.

    :raises FactorError: the answer refused (see :mod:`.verify`).
    :raises RateLimited: too many refused answers.
    """
    finish_passkey_login(answer, user, require_uv=True)
