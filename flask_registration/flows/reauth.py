"""Re-authentication: the password again, or a link emailed to the address.

The face marks the browser once one of these succeeds (:mod:`flask_registration.reauth`);
adding a way to log in needs that mark. The link is bound to the account's auth stamp
and works for :data:`LINK_MAX_AGE`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from .. import limits
from ..errors import InvalidToken, ValidationError
from ..i18n import gettext
from ..links import external_url
from ..mail import send_mail
from ..redirects import safe_redirect
from ..tokens import make_token, matches
from .verify import check_current_password, user_for_link

#: How long an emailed re-authentication link works.
LINK_MAX_AGE = timedelta(minutes=15)


def reauthenticate(user: Any, password: Any) -> None:
    """Check the logged-in ``user``'s password, typed again.

    :raises ValidationError: no password given (field ``password``), or the account has
        none (code ``NO_PASSWORD``: ask for a link instead).
    :raises InvalidPassword: it is wrong (counted like a failed login).
    """
    if not user.password_hash:
        raise ValidationError(
            gettext("Your account has no password. Ask for a link by email instead."), code="NO_PASSWORD", status=400
        )
    if not isinstance(password, str) or not password:
        raise ValidationError.from_fields({"password": [("presence", gettext("Enter your password."))]})
    check_current_password(user, password, field="password")


def send_reauth_link(user: Any, *, next_url: str | None = None) -> bool:
    """Email the logged-in ``user`` a re-authentication link (to be pressed in the browser
    that should be marked); True if the mail server took it."""
    config = current_app.config
    limits.hit("resend", email=user.email)  # it emails the owner: a resend's limits
    token = make_token(config["REGISTRATION_REAUTH_SALT"], user.id, user.auth_stamp)
    params: dict[str, Any] = {"uid": user.id, "token": token}
    target = safe_redirect(next_url)
    if target:
        params["next"] = target
    link = external_url("registration.reauthenticate_link", **params)  # UntrustedHost: sends nothing
    return send_mail(
        "reauthenticate",
        recipient=user.email,
        subject=config["REGISTRATION_REAUTH_SUBJECT"],
        user=user,
        link=link,
        valid_for=LINK_MAX_AGE,
    )


def user_for_reauth_link(uid: Any, token: Any, user: Any) -> None:
    """Check that a re-authentication link is the logged-in ``user``'s and still valid.

    :raises InvalidToken: tampered, expired (``TokenExpired``), for another account, or
        the password changed since.
    """
    linked, stamp_digest = user_for_link(
        uid, token, salt=current_app.config["REGISTRATION_REAUTH_SALT"], within=LINK_MAX_AGE
    )
    if linked.id != user.id or not matches(stamp_digest, user.auth_stamp):
        raise InvalidToken(gettext("This link is not for the account logged in here, or it was already replaced."))
