"""Blinker signals for observers. Each is sent with the app as sender; return values
are ignored (hooks, not signals, change what happens)."""

from __future__ import annotations

from typing import Any

from blinker import Namespace
from flask import current_app

_signals = Namespace()


def app_sender() -> Any:
    """The sender of the library's signals: the current app itself, not its proxy (a
    receiver connected with ``sender=app`` compares by identity)."""
    return current_app._get_current_object()  # type: ignore[attr-defined]


user_registered = _signals.signal(
    "user-registered",
    doc="A new user was committed. Keyword arguments: ``user``, ``data`` (the checked "
    "signup data, without the password).",
)
signup_existing_email = _signals.signal(
    "signup-existing-email",
    doc="A signup named an address that already has an account. Keyword arguments: ``user`` (the existing account).",
)
verification_sent = _signals.signal(
    "verification-sent",
    doc="A verification email was handed to the mail sender. Keyword arguments: ``user``, ``link``.",
)
mail_failed = _signals.signal(
    "mail-failed",
    doc="An email could not be sent. Keyword arguments: ``user``, ``kind`` (the email "
    "template's name: ``'verify'``, ``'existing_account'``, ``'reset'``, "
    "``'password_changed'``, ``'change_email'``, ``'email_change_notice'``, "
    "``'email_taken'``), ``error`` (the exception).",
)
user_verified = _signals.signal(
    "user-verified",
    doc="A user's address was verified for the first time (a link followed, or "
    "``flask registration verify``). Keyword arguments: ``user``.",
)
user_logged_in = _signals.signal(
    "user-logged-in",
    doc="A user logged in with email and password. Keyword arguments: ``user``.",
)
login_failed = _signals.signal(
    "login-failed",
    doc="A login was refused. Keyword arguments: ``email`` (as normalised, or the raw "
    "value if it was not an address), ``code`` (the error code).",
)
user_logged_out = _signals.signal(
    "user-logged-out",
    doc="A user logged out. Keyword arguments: ``user``.",
)
password_reset_requested = _signals.signal(
    "password-reset-requested",
    doc="A reset link was emailed. Keyword arguments: ``user``.",
)
password_reset = _signals.signal(
    "password-reset",
    doc="A password was reset through an emailed link. Keyword arguments: ``user``.",
)
password_changed = _signals.signal(
    "password-changed",
    doc="A logged-in user changed the password. Keyword arguments: ``user``.",
)
email_change_requested = _signals.signal(
    "email-change-requested",
    doc="A logged-in user asked to move to a new address. Keyword arguments: ``user``, ``new_email``.",
)
email_changed = _signals.signal(
    "email-changed",
    doc="A new address was confirmed and is now in force. Keyword arguments: ``user``, ``old_email``.",
)
access_token_created = _signals.signal(
    "access-token-created",
    doc="An access token was issued at login. Keyword arguments: ``user``, ``token`` "
    "(the stored row: its ``id`` is the token's hash, never the token).",
)
oauth_logged_in = _signals.signal(
    "oauth-logged-in",
    doc="A user logged in through a provider (OAuth). Keyword arguments: ``user``, "
    "``provider`` (its name, e.g. ``'github'``).",
)
oauth_identity_linked = _signals.signal(
    "oauth-identity-linked",
    doc="A provider's account was linked to a user (a signup through it, a verified "
    "address that matched, or the connections page). Keyword arguments: ``user``, "
    "``provider``, ``provider_user_id``.",
)
oauth_identity_unlinked = _signals.signal(
    "oauth-identity-unlinked",
    doc="A user unlinked a provider's account. Keyword arguments: ``user``, ``provider``.",
)
