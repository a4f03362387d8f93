"""Email verification: make and send the link, confirm it, send it again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import current_app

from .. import limits, signals
from ..errors import (
    InvalidPassword,
    InvalidToken,
    ProofRequired,
    ServerBusy,
    TokenExpired,
    UntrustedHost,
    UserNotFound,
    ValidationError,
)
from ..i18n import gettext
from ..links import check_request_host, external_url
from ..mail import rehearse, send_mail
from ..redirects import safe_redirect
from ..signals import app_sender
from ..state import get_state
from ..tokens import load_token, make_token, matches
from ..validation import normalize_email
from .methods import has_login_method


@dataclass
class ConfirmResult:
    """What :func:`confirm` did: ``newly_verified`` is False for a second click."""

    user: Any
    newly_verified: bool


def verification_token(user: Any) -> str:
    """A verification token for ``user``, bound to the user's current address."""
    return make_token(current_app.config["REGISTRATION_VERIFY_SALT"], user.id, user.email)


def verification_link(user: Any, *, redirect: str | None = None) -> str:
    """The absolute link a user follows to verify: ``.../confirm?uid=&token=&redirect=``.

    ``redirect`` is kept only when it is a path on this site. Outside a request,
    ``SERVER_NAME`` must be set for the link to be absolute.
    """
    return _confirm_link(user, verification_token(user), redirect)


def _confirm_link(user: Any, token: str, redirect: str | None) -> str:
    params: dict[str, Any] = {"uid": user.id, "token": token}
    redirect = safe_redirect(redirect)
    if redirect:
        params["redirect"] = redirect
    endpoint = "registration.confirm"
    if current_app.config["REGISTRATION_LOOPBACK_CONFIRM_LINKS"]:
        endpoint = "registration_api.confirm"  # LoopBack's GET, which verifies on opening
    return external_url(endpoint, **params)


def send_verification(
    user: Any,
    *,
    redirect: str | None = None,
    subject: str | None = None,
    sender: str | tuple[str, str] | None = None,
    template: str | None = None,
    detached: bool = False,
) -> bool:
    """Email ``user`` a verification link (LoopBack's ``user.verify(options)``).

    :param redirect: a local path the link leads to once verified.
    :param subject: the subject, default ``REGISTRATION_VERIFY_SUBJECT``.
    :param sender: the From address, default ``REGISTRATION_MAIL_SENDER`` or
        ``MAIL_DEFAULT_SENDER``.
    :param template: the email template's base name under ``registration/email/``
        (default ``"verify"``: ``verify.txt`` and ``verify.html``).
    :param detached: send from a thread of its own and return at once (True): see
        :func:`~flask_registration.mail.deliver_detached`.
    :returns: whether the mail server took the message. A failure is logged (without
        the link) and signalled as ``mail_failed``; it never raises.
    """
    get_state()  # "call init_app first" rather than a KeyError further on
    config = current_app.config
    token = verification_token(user)
    try:
        link = _confirm_link(user, token, redirect)
    except UntrustedHost as exc:
        # Called from a route of the app's own, for a Host whose port this site does not
        # serve on (the library's routes refuse such a request first): no link goes out.
        logging.getLogger("flask_registration").warning("Could not send the verify email: %s", exc.code)
        signals.mail_failed.send(app_sender(), user=user, kind="verify", error=exc)
        return False
    return send_mail(
        template or "verify",
        kind="verify",
        recipient=user.email,
        subject=subject or config["REGISTRATION_VERIFY_SUBJECT"],
        sender=sender,
        user=user,
        detached=detached,
        on_sent=lambda: signals.verification_sent.send(app_sender(), user=user, link=link),
        link=link,
        uid=user.id,
        token=token,
        valid_for=config["REGISTRATION_VERIFY_WITHIN"],
    )


def user_for_link(uid: Any, token: Any, *, salt: str, within: Any) -> tuple[Any, str]:
    """The user a ``?uid=&token=`` link names, and the digest its token is bound to.

    :raises InvalidToken: a part missing, the token tampered with, foreign, or for
        another user (``TokenExpired`` when too old).
    :raises UserNotFound: the account was deleted.
    """
    if not isinstance(uid, str) or not uid:
        raise InvalidToken(gettext("The link has no user id."))
    if not isinstance(token, str) or not token:
        raise InvalidToken(gettext("The link has no token."))
    token_uid, digest = load_token(salt, token, within)
    if token_uid != uid:
        raise InvalidToken(gettext("This link is not for this user."))
    user = get_state().store.get(token_uid)
    if user is None:
        raise UserNotFound()
    return user, digest


def user_for_verify_link(uid: Any, token: Any) -> Any:
    """The user a verification link names, while it is valid for the current address.

    :raises InvalidToken: missing, tampered, foreign or for another user or address.
    :raises TokenExpired: older than ``REGISTRATION_VERIFY_WITHIN``.
    :raises UserNotFound: the account was deleted.
    """
    config = current_app.config
    user, email_digest = user_for_link(
        uid, token, salt=config["REGISTRATION_VERIFY_SALT"], within=config["REGISTRATION_VERIFY_WITHIN"]
    )
    if not matches(email_digest, user.email):
        raise InvalidToken(gettext("This link was sent to an address the account no longer uses."))
    return user


def proof_needed(user: Any) -> str | None:
    """What confirming ``user``'s address needs from a browser that did not sign up:
    ``"password"`` (the account's password, or a new one), ``"new_password"`` (the
    account has no password but another way in: only a new password, which removes
    it), or None (nothing can log in to it yet)."""
    if user.password_hash:
        return "password"
    return "new_password" if has_login_method(user) else None


def confirm(
    uid: Any, token: Any, *, password: Any = None, same_browser: bool = False, trust_link: bool = False
) -> ConfirmResult:
    """Verify the address a link was sent to.

    Whoever signed the address up may not be its owner: a password (or a provider) set
    before the address was proven must not let that person in once the owner proves it.
    So the link alone verifies only in the browser that signed up (``same_browser``, the
    face's finding) or for an account that nothing can log in to yet. Elsewhere the
    account's ``password`` must come with it; a person who does not know it sets a new
    one instead (:func:`~flask_registration.flows.password.confirm_with_new_password`),
    which removes every earlier way in. ``trust_link`` skips this (LoopBack's
    ``GET /confirm``, only with ``REGISTRATION_LOOPBACK_CONFIRM_LINKS``).

    A second confirm of a verified address succeeds again with ``newly_verified=False``
    and changes nothing.

    :raises InvalidToken: missing, tampered, foreign or for another user or address.
    :raises TokenExpired: older than ``REGISTRATION_VERIFY_WITHIN``.
    :raises UserNotFound: the account was deleted.
    :raises ProofRequired: the password is needed (or a new one).
    :raises InvalidPassword: the password given is wrong.
    """
    user = user_for_verify_link(uid, token)
    if user.email_verified:
        return ConfirmResult(user, newly_verified=False)
    needed = None if same_browser or trust_link else proof_needed(user)
    if needed == "new_password":
        raise ProofRequired(
            gettext(
                "This account was started with another way to log in. To confirm the address here, "
                "set a password (this removes the other way in)."
            ),
            code="CONFIRM_NEW_PASSWORD_REQUIRED",
            field="newPassword",
            field_code="presence",
        )
    if needed == "password":
        if password is None or password == "":
            raise ProofRequired(field="password", field_code="presence")
        check_current_password(user, password, field="password")
    return ConfirmResult(user, newly_verified=verify_user(user))


def check_current_password(user: Any, password: Any, *, field: str) -> None:
    """Check the password a person typed to prove who they are, counted in the failed
    login buckets like a login's guess.

    :raises InvalidPassword: it is wrong (on ``field``).
    :raises RateLimited: too many wrong guesses at this account or from this client.
    """
    attempt = limits.reserve("failed_login", email=user.email)
    try:
        right = isinstance(password, str) and get_state().passwords.verify(user.password_hash, password)
    except ServerBusy:  # no password was checked: the guess does not count
        attempt.give_back()
        raise
    if not right:
        raise InvalidPassword(field=field, field_code="invalid")
    attempt.give_back()


def verify_user(user: Any) -> bool:
    """Mark ``user``'s address verified, as a followed link does, but without one (an
    operator's command, an import): ``before_confirm`` hooks may refuse by raising;
    ``user_verified`` and ``after_confirm`` follow the first time only.

    :returns: whether this call verified the address (False when it already was).
    """
    if user.email_verified:
        return False
    state = get_state()
    state.extension.hooks.run("before_confirm", user)
    newly = state.store.mark_verified(user)
    if newly:
        signals.user_verified.send(app_sender(), user=user)
        state.extension.hooks.run("after_confirm", user)
    return newly


def user_for_expired_link(error: TokenExpired) -> Any | None:
    """The user an expired verification link was sent to, to offer a fresh link.

    None when the user is gone or no longer uses the address the link was sent to (the
    page must not show the account's new address to the reader of the old mailbox).
    """
    if error.user_id is None or not isinstance(error.bound_digest, str):
        return None
    user = get_state().store.get(error.user_id)
    if user is None or not matches(error.bound_digest, user.email):
        return None
    return user


def rehearse_link_email(template: str, endpoint: str, valid_for: Any) -> None:
    """Make a link email (sign a token, build the link, render both parts) and send
    nothing (see :func:`~flask_registration.mail.rehearse`)."""
    token = make_token(current_app.config["REGISTRATION_VERIFY_SALT"], 0, "rehearsal")
    link = external_url(endpoint, uid=0, token=token)
    rehearse(template, link=link, uid=0, token=token, valid_for=valid_for)


def resend(email: Any, *, redirect: str | None = None) -> bool:
    """Send a fresh verification link to ``email`` if it names an unverified account.

    With ``REGISTRATION_PREVENT_ENUMERATION`` on (the default) the answer is the same
    whether or not the account exists: True. Off, an unknown address raises
    :class:`~flask_registration.UserNotFound` and a verified one ``ValidationError`` (code ``verified``).

    :returns: whether a message was handed to the mail server (always True with
        enumeration prevention on).
    :raises UntrustedHost: the request's host and port are not ones links are built for.
    """
    check_request_host()  # first: the answer must not depend on the address
    if not isinstance(email, str) or not email:
        raise ValidationError(gettext("Enter your email address."), field="email", field_code="presence")
    normalized = normalize_email(email)
    limits.hit("resend", email=normalized)
    prevent = current_app.config["REGISTRATION_PREVENT_ENUMERATION"]
    user = get_state().store.find_by_email(normalized)
    if user is None:
        if prevent:
            rehearse_link_email("verify", "registration.confirm", current_app.config["REGISTRATION_VERIFY_WITHIN"])
            return True
        raise UserNotFound(gettext("No account uses this email address."))
    if user.email_verified:
        if prevent:
            rehearse_link_email("verify", "registration.confirm", current_app.config["REGISTRATION_VERIFY_WITHIN"])
            return True
        raise ValidationError(gettext("This email address is already confirmed."), field="email", field_code="verified")
    # With enumeration prevention on, the answer comes before the email is sent, so that
    # its timing does not tell an unverified account from no account.
    sent = send_verification(user, redirect=redirect, detached=prevent)
    return True if prevent else sent
