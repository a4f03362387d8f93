"""Blinker signals for observers. Each is sent with the app as sender; return values
are ignored (hooks, not signals, change what happens)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

user_registered = _signals.signal(
    "user-registered",
    doc="A new user was committed. Keyword arguments: ``user``, ``data`` (the checked "
    "signup data, without the password).",
)
signup_existing_email = _signals.signal(
    "signup-existing-email",
    doc="A signup named an address that already has an account. Keyword arguments: "
    "``user`` (the existing account).",
)
verification_sent = _signals.signal(
    "verification-sent",
    doc="A verification email was handed to the mail server. Keyword arguments: "
    "``user``, ``link``.",
)
mail_failed = _signals.signal(
    "mail-failed",
    doc="An email could not be sent. Keyword arguments: ``user``, ``kind`` "
    "(``'verify'`` or ``'existing_account'``), ``error`` (the exception).",
)
user_verified = _signals.signal(
    "user-verified",
    doc="A user followed a valid verification link for the first time. Keyword "
    "arguments: ``user``.",
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
