"""Email verification: make and send the link, confirm it, send it again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for

from .. import limits, signals
from ..errors import InvalidToken, TokenExpired, UserNotFound, ValidationError
from ..mail import build_message, deliver, deliver_detached
from ..redirects import safe_redirect
from ..state import get_state
from ..tokens import load_token, make_token, matches
from ..validation import normalize_email


@dataclass
class ConfirmResult:
    """What :func:`confirm` did: ``newly_verified`` is False for a second click."""

    user: Any
    newly_verified: bool


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


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
    return url_for("registration.confirm", _external=True, **params)


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
    state = get_state()
    config = current_app.config
    token = verification_token(user)
    link = _confirm_link(user, token, redirect)
    message = build_message(
        template or "verify",
        recipient=user.email,
        subject=subject or config["REGISTRATION_VERIFY_SUBJECT"],
        sender=sender,
        user=user,
        link=link,
        uid=user.id,
        token=token,
        valid_for=config["REGISTRATION_VERIFY_WITHIN"],
    )

    def done(error: Exception | None) -> bool:
        if error is not None:
            signals.mail_failed.send(_app(), user=user, kind="verify", error=error)
            return False
        signals.verification_sent.send(_app(), user=user, link=link)
        return True

    if detached:
        deliver_detached(state.mail_sender, message, kind="verify", done=done)
        return True
    return done(deliver(state.mail_sender, message, kind="verify"))


def user_for_link(uid: Any, token: Any, *, salt: str, within: Any) -> tuple[Any, str]:
    """The user a ``?uid=&token=`` link names, and the digest its token is bound to.

    :raises InvalidToken: a part missing, the token tampered with, foreign, or for
        another user (``TokenExpired`` when too old).
    :raises UserNotFound: the account was deleted.
    """
    if not isinstance(uid, str) or not uid:
        raise InvalidToken("The link has no user id.")
    if not isinstance(token, str) or not token:
        raise InvalidToken("The link has no token.")
    token_uid, digest = load_token(salt, token, within)
    if token_uid != uid:
        raise InvalidToken("This link is not for this user.")
    user = get_state().store.get(token_uid)
    if user is None:
        raise UserNotFound()
    return user, digest


def confirm(uid: Any, token: Any) -> ConfirmResult:
    """Verify the address a link was sent to.

    A second click on a valid link succeeds again with ``newly_verified=False``.

    :raises InvalidToken: missing, tampered, foreign or for another user or address.
    :raises TokenExpired: older than ``REGISTRATION_VERIFY_WITHIN``.
    :raises UserNotFound: the account was deleted.
    """
    config = current_app.config
    user, email_digest = user_for_link(
        uid, token, salt=config["REGISTRATION_VERIFY_SALT"], within=config["REGISTRATION_VERIFY_WITHIN"]
    )
    if not matches(email_digest, user.email):
        raise InvalidToken("This link was sent to an address the account no longer uses.")
    return ConfirmResult(user, newly_verified=verify_user(user))


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
        signals.user_verified.send(_app(), user=user)
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


def rehearse(template: str, endpoint: str, valid_for: Any) -> None:
    """Do the work of making an email (sign a token, build the link, render both parts)
    and send nothing: an answer that sends no email must cost what one that does costs,
    or its timing tells whether the address has an account."""
    token = make_token(current_app.config["REGISTRATION_VERIFY_SALT"], 0, "rehearsal")
    link = url_for(endpoint, uid=0, token=token, _external=True)
    build_message(
        template,
        recipient="rehearsal@invalid",
        subject="",
        user=None,
        link=link,
        uid=0,
        token=token,
        valid_for=valid_for,
    )


def resend(email: Any, *, redirect: str | None = None) -> bool:
    """Send a fresh verification link to ``email`` if it names an unverified account.

    With ``REGISTRATION_PREVENT_ENUMERATION`` on (the default) the answer is the same
    whether or not the account exists: True. Off, an unknown address raises
    :class:`~flask_registration.UserNotFound` and a verified one ``ValidationError`` (code ``verified``).

    :returns: whether a message was handed to the mail server (always True with
        enumeration prevention on).
    """
    if not isinstance(email, str) or not email:
        raise ValidationError("can't be blank.", field="email", field_code="presence")
    normalized = normalize_email(email)
    limits.hit("resend", email=normalized)
    prevent = current_app.config["REGISTRATION_PREVENT_ENUMERATION"]
    user = get_state().store.find_by_email(normalized)
    if user is None:
        if prevent:
            rehearse("verify", "registration.confirm", current_app.config["REGISTRATION_VERIFY_WITHIN"])
            return True
        raise UserNotFound("No account uses this email address.")
    if user.email_verified:
        if prevent:
            rehearse("verify", "registration.confirm", current_app.config["REGISTRATION_VERIFY_WITHIN"])
            return True
        raise ValidationError("is already verified.", field="email", field_code="verified")
    # With enumeration prevention on, the answer comes before the email is sent, so that
    # its timing does not tell an unverified account from no account.
    sent = send_verification(user, redirect=redirect, detached=prevent)
    return True if prevent else sent
