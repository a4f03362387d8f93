"""A pending login's emailed link, pressed (rules 3 and 4 of :mod:`.flows`): the owner
of the address has proven it, so the login that waited for it is finished.

:func:`~.flows.pending_login` starts one (it emails the link, and the face keeps
:attr:`~.flows.OAuthResult.pending` in the browser's session); :func:`complete_pending`
finishes it, in the browser that did the dance only. Like the other flows, it knows
neither HTML, JSON nor flask-dance.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from flask import current_app

from .. import signals
from ..errors import InvalidToken, OAuthError
from ..flows.methods import tell_removed
from ..flows.password import hand_to_owner
from ..state import get_state
from ..tokens import load_token, matches
from .flows import (
    LINKED,
    PENDING_MAX_AGE,
    OAuthResult,
    announce_link,
    check_may_log_in,
    login_with_identity,
    new_account,
    start_oauth_session,
    taken_error,
)
from .providers import Identity
from .storage import IdentityTaken, get_identities


def complete_pending(
    identity: Identity, token: dict[str, Any], *, pending: Mapping[str, Any], link_token: Any
) -> OAuthResult:
    """Finish a pending login whose emailed link was pressed in the browser that did the
    dance (``pending`` is what :func:`~.flows.pending_login` returned, kept in its session):
    the owner of the address has now proven it.

    No account has the address: a new one, verified. An account has it: the identity is
    linked (the owner is emailed) and, if the address had not been verified, every
    earlier way into the account is removed first (rule 4). Then the person is logged in.

    :raises InvalidToken: the link is not this browser's pending login's, or tampered
        (``TokenExpired`` when too old).
    :raises OAuthError: the identity is another user's, or linking by address is off.
    """
    config = current_app.config
    nonce, digest = load_token(config["REGISTRATION_OAUTH_CONFIRM_SALT"], link_token, PENDING_MAX_AGE)
    email = pending.get("email")
    if (
        not isinstance(email, str)
        or not hmac.compare_digest(nonce.encode(), str(pending.get("nonce", "")).encode())
        or not matches(digest, email)
        or pending.get("provider") != identity.provider
        or pending.get("provider_user_id") != identity.provider_user_id
    ):
        raise InvalidToken(
            "This link belongs to a login started in another browser. Open it there, or start again here."
        )
    state = get_state()
    if get_identities().find(identity.provider, identity.provider_user_id) is not None:
        return login_with_identity(identity, token)  # finished meanwhile
    existing = state.store.find_by_email(email)
    if existing is None:
        return new_account(identity, token, email)
    if not config["REGISTRATION_OAUTH_LINK_BY_EMAIL"]:
        raise OAuthError(
            "An account with this email address exists. Log in with its password, then link the "
            "provider from your account's connections page.",
            code="OAUTH_ACCOUNT_EXISTS",
            status=409,
        )
    was_verified = existing.email_verified
    removed = [] if was_verified else hand_to_owner(existing)
    if not was_verified:
        signals.user_verified.send(signals.app_sender(), user=existing)
    check_may_log_in(existing, identity.provider)
    try:
        get_identities().link(existing, identity.provider, identity.provider_user_id, token)
    except IdentityTaken as exc:
        raise taken_error(exc.which, identity.provider) from None
    announce_link(existing, identity)
    if removed:
        tell_removed(existing, removed)
    start_oauth_session(existing, identity.provider)
    return OAuthResult(LINKED, existing, logged_in=True, email=email)


__all__ = ["complete_pending"]
