"""Passwords after signup: reset through an emailed link, change while logged in.

A reset ends every session and access token of the user; a change ends all but the
current one. Both rotate the auth stamp and tell the user by email.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from .. import limits, signals
from ..errors import InvalidPassword, InvalidToken, ServerBusy, UserNotFound, ValidationError
from ..i18n import gettext
from ..links import check_request_host, external_url
from ..mail import send_mail
from ..models import utcnow
from ..signals import app_sender
from ..state import get_state
from ..tokens import load_token, make_token, matches
from ..validation import check_password, normalize_email
from .access import current_access_token
from .methods import login_methods, remove_unproven, tell_removed
from .sessions import forget_sessions, renew_session
from .verify import rehearse_link_email, user_for_verify_link


def _reset_binding(user: Any) -> str:
    # The link works while address, password and stamp are what they were: a reset (or
    # any password change) makes it useless, and so does an address change.
    return f"{user.email}\n{user.password_hash or ''}\n{user.auth_stamp}"


def reset_token(user: Any) -> str:
    """A password-reset token for ``user``: single-use, expiring, reset-only."""
    return make_token(current_app.config["REGISTRATION_RESET_SALT"], user.id, _reset_binding(user))


def request_password_reset(email: Any) -> bool:
    """Email a reset link to ``email`` if it names an account.

    With ``REGISTRATION_PREVENT_ENUMERATION`` on the answer is always True; off, an
    unknown address raises :class:`UserNotFound` (code ``EMAIL_NOT_FOUND``).

    :returns: whether the mail server took the message (True for an unknown address
        with enumeration prevention on).
    :raises UntrustedHost: the request's host and port are not ones links are built for.
    """
    state = get_state()
    config = current_app.config
    check_request_host()  # first: the answer must not depend on the address
    if not isinstance(email, str) or not email:
        raise ValidationError(gettext("Enter your email address."), field="email", field_code="presence")
    normalized = normalize_email(email)
    limits.hit("reset", email=normalized)
    user = state.store.find_by_email(normalized)
    if user is None:
        if config["REGISTRATION_PREVENT_ENUMERATION"]:
            rehearse_link_email("reset", "registration.reset_password", config["REGISTRATION_RESET_WITHIN"])
            return True
        raise UserNotFound(gettext("No account uses this email address."), code="EMAIL_NOT_FOUND")
    token = reset_token(user)
    link = external_url("registration.reset_password", token=token)
    return send_mail(
        "reset",
        recipient=user.email,
        subject=config["REGISTRATION_RESET_SUBJECT"],
        user=user,
        # With enumeration prevention, answer before sending: the timing tells nothing.
        detached=config["REGISTRATION_PREVENT_ENUMERATION"],
        on_sent=lambda: signals.password_reset_requested.send(app_sender(), user=user),
        link=link,
        token=token,
        valid_for=config["REGISTRATION_RESET_WITHIN"],
    )


def user_for_reset_token(token: Any) -> Any:
    """The user a reset token is for, while it is still usable (GET shows the form).

    :raises InvalidToken: tampered, foreign, used, or the account changed since.
    :raises TokenExpired: older than ``REGISTRATION_RESET_WITHIN``.
    :raises UserNotFound: the account was deleted since the link was sent (404, as
        LoopBack and a verification link answer).
    """
    state = get_state()
    config = current_app.config
    user_id, digest = load_token(config["REGISTRATION_RESET_SALT"], token, config["REGISTRATION_RESET_WITHIN"])
    user = state.store.get(user_id)
    if user is None:
        raise UserNotFound()
    if not matches(digest, _reset_binding(user)):
        raise InvalidToken(gettext("This link has already been used or is no longer valid. Ask for a new one."))
    return user


def _set_password(
    user: Any, new_password: str | None, *, keep_token: Any = None, keep_session: bool = False, verify: bool = False
) -> None:
    """New stamp (ends sessions), new hash (none for ``None``), tokens revoked but ``keep_token``, session
    rows deleted but this browser's if ``keep_session``, and any pending change of
    address dropped (it may have been asked for by a session this change is meant to
    throw out); commit.

    :raises InvalidToken: another change of this account won the race for the stamp.
    """
    state = get_state()
    password_hash = state.passwords.hash(new_password) if new_password is not None else None
    if not state.store.rotate_stamp(user):
        raise InvalidToken(gettext("The account changed meanwhile. Try again."))
    user.password_hash = password_hash
    user.pending_email = None
    if verify and user.email_verified_at is None:
        user.email_verified_at = utcnow()
    state.store.delete_tokens(user, keep=keep_token)
    forget_sessions(user, keep_current=keep_session)
    state.store.save()


def _tell(user: Any, *, removed: list[str] | None = None) -> None:
    send_mail(
        "password_changed",
        recipient=user.email,
        subject=current_app.config["REGISTRATION_PASSWORD_CHANGED_SUBJECT"],
        user=user,
        # What can still log in, so a way in that the owner did not add stands out.
        methods=login_methods(user),
        removed=removed or [],
        link=url_for("registration.login", _external=True),
    )


def reset_password(token: Any, new_password: Any) -> Any:
    """Set a new password with a reset token; return the user.

    Every session and access token of the user ends, a notice is emailed, and an
    unverified address counts as verified (following the emailed link proved it).
    The token works once.
    """
    state = get_state()
    if not isinstance(token, str) or not token:
        raise InvalidToken(gettext("The link has no token."))
    user = user_for_reset_token(token)
    check_password(new_password, field="newPassword")
    state.extension.hooks.run("before_reset_password", user)
    was_verified = user.email_verified
    # An address proven only now: a provider linked before may be whoever signed it up.
    removed = [] if was_verified else remove_unproven(user)
    _set_password(user, new_password, verify=True)
    if not was_verified:
        signals.user_verified.send(app_sender(), user=user)
    _tell(user, removed=removed)
    signals.password_reset.send(app_sender(), user=user)
    state.extension.hooks.run("after_reset_password", user)
    return user


def confirm_with_new_password(uid: Any, token: Any, new_password: Any) -> Any:
    """Verify an address from its verification link by setting a new password; return
    the user.

    For the owner of an address that someone else may have signed up: everything that
    could log in before (the password, linked providers, sessions, access tokens) is
    removed, the new password is set, and the owner is told by email what was removed.

    :raises InvalidToken: a bad link (see :func:`~.verify.user_for_verify_link`), or an
        address already verified (a reset link is the way to a new password then).
    :raises ValidationError: the new password is not acceptable (``newPassword``).
    """
    state = get_state()
    user = user_for_verify_link(uid, token)
    if user.email_verified:
        raise InvalidToken(
            gettext('This address is already confirmed. To set a new password, use "Forgot your password?".')
        )
    check_password(new_password, field="newPassword")
    state.extension.hooks.run("before_confirm", user)
    removed = hand_to_owner(user, new_password)
    signals.user_verified.send(app_sender(), user=user)
    state.extension.hooks.run("after_confirm", user)
    if removed:
        tell_removed(user, removed)
    return user


def hand_to_owner(user: Any, new_password: str | None = None) -> list[str]:
    """Give an account whose address was not verified to the person who has just proven
    the address, and return what was taken away ("a password", "GitHub"...).

    Whoever signed the address up may have set a password, linked a provider, or kept a
    session or token; none of it may let them in now that the owner has shown up. So
    every earlier way in goes: the password (replaced by ``new_password``, or none),
    linked providers, sessions and access tokens; the address is marked verified; all
    in one transaction. The caller tells the owner by email.

    :raises InvalidToken: another change of this account won the race for its stamp.
    """
    removed = ([gettext("a password")] if user.password_hash else []) + remove_unproven(user)
    _set_password(user, new_password, verify=True)
    return removed


def change_password(user: Any, old_password: Any, new_password: Any, *, remember: bool = False) -> None:
    """Change the password of the logged-in ``user``.

    Other sessions and access tokens end; the current session (or access token) stays,
    with a new "remember me" cookie when ``remember`` (the face's finding: the browser
    keeps one).

    :raises InvalidPassword: ``old_password`` is wrong.
    """
    state = get_state()
    # The current password is a guess like a login's: same buckets, same refusal.
    attempt = limits.reserve("failed_login", email=user.email)
    try:
        right = isinstance(old_password, str) and state.passwords.verify(user.password_hash, old_password)
    except ServerBusy:  # no password was checked: the guess does not count
        attempt.give_back()
        raise
    if not right:
        raise InvalidPassword(field="oldPassword", field_code="invalid")
    attempt.give_back()
    check_password(new_password, field="newPassword")
    state.extension.hooks.run("before_change_password", user)
    current_token = current_access_token()
    _set_password(user, new_password, keep_token=current_token, keep_session=current_token is None)
    if current_token is None:
        # The session cookie carried the old stamp: give this session the new one, and
        # a new remember cookie if the browser had one (the old one names the old stamp).
        renew_session(user, remember=remember)
    _tell(user)
    signals.password_changed.send(app_sender(), user=user)
    state.extension.hooks.run("after_change_password", user)
