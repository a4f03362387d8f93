"""Change of address: the new one is pending until its emailed link is followed.

The link is bound to both the current and the pending address, so a second request
(or a cancel) makes the first link useless, and the address applied is always the one
whose link was followed (the race of Devise CVE-2026-32700 cannot happen: the database
applies the pending address only while it is still the one the link names).
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from .. import limits, signals
from ..errors import InvalidPassword, InvalidToken, ValidationError
from ..i18n import N_, gettext
from ..links import check_request_host, external_url
from ..mail import send_mail
from ..signals import app_sender
from ..state import get_state
from ..store import DuplicateEmail
from ..tokens import make_token, matches
from ..validation import blank, normalize_email
from .verify import user_for_link


def _binding(current: str, pending: str) -> str:
    return f"{current}\n{pending}"


def _check_new_email(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError.from_fields({"newEmail": [("presence", blank("newEmail"))]})
    try:
        return normalize_email(value)
    except ValidationError as exc:
        # The messages say "This email address...", which reads right for the new one too.
        raise ValidationError.from_fields({"newEmail": exc.fields["email"]}) from None


def request_email_change(user: Any, new_email: Any, password: Any) -> bool:
    """Ask to move ``user`` to ``new_email``; the password confirms it is them.

    The new address gets a confirmation link, the current one a notice without a link;
    the current address stays in force until the link is followed. With enumeration
    prevention on, an address that another account uses gets the same answer and is
    recorded as pending all the same (so the requester sees no difference), but its
    owner gets a notice instead of a link; off, it is a 422 ``uniqueness`` on ``newEmail``.

    :returns: whether the mail sender took the message to the new address (the link, or
        for a taken address the notice to its owner).
    :raises InvalidPassword: wrong password.
    :raises UntrustedHost: the request's host and port are not ones links are built for.
    """
    state = get_state()
    config = current_app.config
    check_request_host()  # before anything is counted, recorded or sent
    # Counted per account: the request emails both addresses, and checks a password.
    limits.hit("change_email", email=user.email)
    attempt = limits.reserve("failed_login", email=user.email)
    if not isinstance(password, str) or not state.passwords.verify(user.password_hash, password):
        raise InvalidPassword(field="password", field_code="invalid")
    attempt.give_back()
    normalized = _check_new_email(new_email)
    if normalized == user.email:
        raise ValidationError.from_fields({"newEmail": [("same", gettext("This is already your email address."))]})
    # And per new address, before any mail: it may be someone else's, who never asked.
    limits.hit_target("change_email", normalized)
    state.extension.hooks.run("before_change_email", user, normalized)
    owner = state.store.find_by_email(normalized)
    taken = owner is not None
    if taken and not config["REGISTRATION_PREVENT_ENUMERATION"]:
        raise ValidationError.from_fields(
            {"newEmail": [("uniqueness", gettext("An account with this email address already exists."))]}
        )

    # A taken address is recorded as pending too, so the requester's view (their pending
    # address, their earlier link now dead) is the same as for a free one; its link is
    # never sent, and confirming checks uniqueness again anyway.
    user.pending_email = normalized
    state.store.save()
    if taken:
        # To the owner of the taken address, about their own account: nothing here names
        # the requester's account.
        sent = _send("email_taken", normalized, user=owner, subject=config["REGISTRATION_EXISTING_ACCOUNT_SUBJECT"])
    else:
        token = make_token(config["REGISTRATION_CHANGE_EMAIL_SALT"], user.id, _binding(user.email, normalized))
        link = external_url("registration.confirm_email", uid=user.id, token=token)
        sent = _send(
            "change_email",
            normalized,
            user=user,
            link=link,
            uid=user.id,
            token=token,
            subject=config["REGISTRATION_CHANGE_EMAIL_SUBJECT"],
            valid_for=config["REGISTRATION_CHANGE_EMAIL_WITHIN"],
        )
    _send("email_change_notice", user.email, user=user, new_email=normalized)
    signals.email_change_requested.send(app_sender(), user=user, new_email=normalized)
    return sent


def _send(template: str, recipient: str, *, user: Any, subject: str | None = None, **context: Any) -> bool:
    subject = subject or current_app.config["REGISTRATION_EMAIL_CHANGE_NOTICE_SUBJECT"]
    return send_mail(template, recipient=recipient, subject=subject, user=user, **context)


_STALE = N_("This link no longer works: the change was confirmed, cancelled or replaced by a newer one.")


def user_for_change_link(uid: Any, token: Any) -> tuple[Any, str]:
    """The user a change-of-address link names and the address it would apply, while
    the link is still good; changes nothing (the page shows the address before the
    button is pressed).

    :raises InvalidToken: tampered, foreign, expired (``TokenExpired``), used, cancelled,
        or superseded by a newer request.
    :raises UserNotFound: the account was deleted.
    """
    config = current_app.config
    user, digest = user_for_link(
        uid, token, salt=config["REGISTRATION_CHANGE_EMAIL_SALT"], within=config["REGISTRATION_CHANGE_EMAIL_WITHIN"]
    )
    pending = user.pending_email
    if pending is None or not matches(digest, _binding(user.email, pending)):
        raise InvalidToken(gettext(_STALE))
    return user, str(pending)


def confirm_email_change(uid: Any, token: Any) -> Any:
    """Apply the pending address a link names; return the user.

    :raises InvalidToken: tampered, foreign, expired (``TokenExpired``), used, cancelled,
        or superseded by a newer request.
    :raises ValidationError: another account took the address meanwhile (``newEmail``,
        ``uniqueness``).
    """
    state = get_state()
    user, pending = user_for_change_link(uid, token)
    old_email = user.email
    try:
        applied = state.store.apply_pending_email(user, pending)
    except DuplicateEmail:
        taken = gettext("This email address is now used by another account.")
        raise ValidationError.from_fields({"newEmail": [("uniqueness", taken)]}) from None
    if not applied:
        raise InvalidToken(gettext(_STALE))
    signals.email_changed.send(app_sender(), user=user, old_email=old_email)
    state.extension.hooks.run("after_change_email", user, old_email)
    return user


def cancel_email_change(user: Any) -> bool:
    """Forget the pending address (its link stops working); True if one was pending."""
    if user.pending_email is None:
        return False
    user.pending_email = None
    get_state().store.save()
    return True
