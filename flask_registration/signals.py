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
    "``'email_taken'``, ``'account_deleted'``, ``'deletion_scheduled'``...), ``error`` (the exception).",
)
user_verified = _signals.signal(
    "user-verified",
    doc="A user's address was verified for the first time (a link followed, or "
    "``flask registration verify``). Keyword arguments: ``user``.",
)
user_logged_in = _signals.signal(
    "user-logged-in",
    doc="A user logged in with email and password (and the second factor, when the account "
    "has one), or with a passkey. Keyword arguments: ``user``.",
)
login_failed = _signals.signal(
    "login-failed",
    doc="A login was refused. Keyword arguments: ``email`` (as normalised, or the raw "
    "value if it was not an address; a username login's username, normalised), ``code`` "
    "(the error code).",
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
profile_updated = _signals.signal(
    "profile-updated",
    doc="A user's profile fields were changed (``PATCH``/``PUT`` of the user, or the profile "
    "page), after the commit and before the ``after_update`` hooks. Keyword arguments: "
    "``user``, ``changes`` (each field written, with its new value).",
)
user_deleted = _signals.signal(
    "user-deleted",
    doc="An account was deleted for good (at its owner's request, or by ``flask registration "
    "purge-deleted`` once its grace period was over), after the commit. Keyword arguments: "
    "``user`` (a :class:`~flask_registration.flows.deletion.DeletedUser`: what the account "
    "held, the row being gone).",
)
user_deletion_scheduled = _signals.signal(
    "user-deletion-scheduled",
    doc="The owner asked to delete the account and ``REGISTRATION_DELETE_GRACE`` is set: the "
    "account is disabled, and will be deleted once the grace period is over. Keyword "
    "arguments: ``user``, ``delete_after`` (when it may be purged, timezone-aware).",
)
user_restored = _signals.signal(
    "user-restored",
    doc="An account disabled by a deletion request was restored through the emailed link, "
    "within the grace period. Keyword arguments: ``user``.",
)
factor_added = _signals.signal(
    "factor-added",
    doc="A second factor was added (a passkey, the authenticator app), after the commit. "
    "Keyword arguments: ``user``, ``factor`` (the row), ``kind`` (``'passkey'``, ``'totp'``).",
)
factor_removed = _signals.signal(
    "factor-removed",
    doc="A second factor was removed by its owner. Keyword arguments: ``user``, ``kind`` "
    "(``'passkey'``, ``'totp'``, ``'recovery_codes'``).",
)
factors_reset = _signals.signal(
    "factors-reset",
    doc="An operator removed every second factor of a user (``flask registration "
    "reset-factors``). Keyword arguments: ``user``, ``count``.",
)
recovery_codes_generated = _signals.signal(
    "recovery-codes-generated",
    doc="A new set of recovery codes was made (the earlier set stopped working). Keyword arguments: ``user``.",
)
recovery_code_used = _signals.signal(
    "recovery-code-used",
    doc="A recovery code was spent. Keyword arguments: ``user``, ``left`` (how many are left).",
)
second_factor_verified = _signals.signal(
    "second-factor-verified",
    doc="A second factor was checked and accepted. Keyword arguments: ``user``, ``method`` "
    "(``'totp'``, ``'recovery_code'``, ``'passkey'``).",
)
second_factor_failed = _signals.signal(
    "second-factor-failed",
    doc="A second factor was refused. Keyword arguments: ``user`` (None for a discoverable "
    "passkey login), ``method`` (``'code'`` or ``'passkey'``), ``code`` (the error code).",
)
second_factor_required = _signals.signal(
    "second-factor-required",
    doc="The password (or a provider) of an account with a second factor was right: the "
    "login waits for the second factor. Keyword arguments: ``user``, ``methods`` (what the "
    "account can give: ``'passkey'``, ``'totp'``, ``'recovery_code'``), ``provider`` (the "
    "provider's name for a provider login, else None).",
)
browser_trusted = _signals.signal(
    "browser-trusted",
    doc="After a second factor, the owner chose to trust this browser "
    "(``REGISTRATION_TRUST_BROWSER_WITHIN``): its logins skip the second factor until then. "
    "Keyword arguments: ``user``, ``until`` (timezone-aware).",
)
passkey_logged_in = _signals.signal(
    "passkey-logged-in",
    doc="A user logged in with a passkey alone (no address, no password), after "
    "``user_logged_in``. Keyword arguments: ``user``, ``passkey`` (the row).",
)
