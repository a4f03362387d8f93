"""Configuration keys, their defaults, and the check that runs at ``init_app``.

Every key starts with ``REGISTRATION_``; each is documented in ``docs/configuration.rst``.
A ``REGISTRATION_*`` key that is not listed here is a typo, and ``init_app`` says so.
"""

from __future__ import annotations

import difflib
from datetime import timedelta
from typing import Any

from flask import Flask

#: Each key with its default and the type(s) it must have.
DEFAULTS: dict[str, tuple[Any, tuple[type, ...]]] = {
    "REGISTRATION_URL_PREFIX": ("", (str,)),
    "REGISTRATION_API_PREFIX": ("/api/users", (str,)),
    "REGISTRATION_EMAIL_VERIFICATION_REQUIRED": (True, (bool,)),
    "REGISTRATION_PREVENT_ENUMERATION": (True, (bool,)),
    "REGISTRATION_SEND_VERIFICATION_ON_SIGNUP": (True, (bool,)),
    "REGISTRATION_VERIFY_WITHIN": (timedelta(days=2), (timedelta,)),
    "REGISTRATION_VERIFY_SALT": ("flask-registration.verify", (str,)),
    "REGISTRATION_PASSWORD_MIN_LENGTH": (8, (int,)),
    "REGISTRATION_PASSWORD_MAX_LENGTH": (1024, (int,)),
    "REGISTRATION_ARGON2_TIME_COST": (3, (int,)),
    "REGISTRATION_ARGON2_MEMORY_COST": (65536, (int,)),
    "REGISTRATION_ARGON2_PARALLELISM": (4, (int,)),
    "REGISTRATION_EMAIL_CHECK_DELIVERABILITY": (False, (bool,)),
    "REGISTRATION_EMAIL_ALLOW_SMTPUTF8": (True, (bool,)),
    "REGISTRATION_SIGNUP_FIELDS": ((), (tuple, list)),
    "REGISTRATION_MAX_BODY_SIZE": (64 * 1024, (int,)),
    "REGISTRATION_MAIL_SENDER": (None, (str, tuple, type(None))),
    "REGISTRATION_MAIL_TIMEOUT": (10.0, (int, float)),
    "REGISTRATION_VERIFY_SUBJECT": ("Confirm your email address", (str,)),
    "REGISTRATION_EXISTING_ACCOUNT_SUBJECT": ("You already have an account", (str,)),
    "REGISTRATION_RESET_WITHIN": (timedelta(hours=1), (timedelta,)),
    "REGISTRATION_RESET_SALT": ("flask-registration.reset", (str,)),
    "REGISTRATION_RESET_SUBJECT": ("Reset your password", (str,)),
    "REGISTRATION_PASSWORD_CHANGED_SUBJECT": ("Your password was changed", (str,)),
    "REGISTRATION_CHANGE_EMAIL_WITHIN": (timedelta(days=2), (timedelta,)),
    "REGISTRATION_CHANGE_EMAIL_SALT": ("flask-registration.change-email", (str,)),
    "REGISTRATION_CHANGE_EMAIL_SUBJECT": ("Confirm your new email address", (str,)),
    "REGISTRATION_EMAIL_CHANGE_NOTICE_SUBJECT": ("Your account's email address is changing", (str,)),
    "REGISTRATION_ACCESS_TOKEN_TTL": (timedelta(weeks=2), (timedelta,)),
    "REGISTRATION_ACCESS_TOKEN_MAX_TTL": (timedelta(days=365), (timedelta,)),
    "REGISTRATION_POST_LOGIN_REDIRECT": ("/", (str,)),
    "REGISTRATION_POST_LOGOUT_REDIRECT": ("/", (str,)),
}

#: Payload names that a signup can never set, whatever ``REGISTRATION_SIGNUP_FIELDS`` says.
PROTECTED_FIELDS = frozenset(
    {
        "id",
        "email",
        "password",
        "password_hash",
        "email_verified_at",
        "emailVerified",
        "email_verified",
        "created_at",
        "createdAt",
    }
)


def apply_defaults(app: Flask) -> None:
    """Set every default once, then refuse unknown or mistyped keys."""
    for key, (default, _types) in DEFAULTS.items():
        app.config.setdefault(key, default)
    check(app.config)


def check(config: Any) -> None:
    """Raise ``RuntimeError`` naming the first misspelled or mistyped key."""
    for key in config:
        if key.startswith("REGISTRATION_") and key not in DEFAULTS:
            close = difflib.get_close_matches(key, DEFAULTS, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise RuntimeError(f"Unknown configuration key {key}.{hint}")
    for key, (_default, types) in DEFAULTS.items():
        value = config[key]
        # bool is an int subclass: an int key must not accept True.
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            names = " or ".join(t.__name__ for t in types)
            raise RuntimeError(f"{key} must be {names}, not {type(value).__name__}.")
    lo, hi = config["REGISTRATION_PASSWORD_MIN_LENGTH"], config["REGISTRATION_PASSWORD_MAX_LENGTH"]
    if not 1 <= lo <= hi:
        raise RuntimeError("REGISTRATION_PASSWORD_MIN_LENGTH must be at least 1 and at most the maximum.")
    for field in config["REGISTRATION_SIGNUP_FIELDS"]:
        if not isinstance(field, str) or field in PROTECTED_FIELDS:
            raise RuntimeError(f"REGISTRATION_SIGNUP_FIELDS cannot name {field!r}.")
    for key in ("REGISTRATION_URL_PREFIX", "REGISTRATION_API_PREFIX"):
        value = config[key]
        if value and (not value.startswith("/") or value.endswith("/")):
            raise RuntimeError(f"{key} must start with '/' and not end with one (got {value!r}).")
    if not config["REGISTRATION_API_PREFIX"]:
        raise RuntimeError("REGISTRATION_API_PREFIX cannot be empty (the JSON API needs a path of its own).")
    if config["REGISTRATION_MAIL_TIMEOUT"] <= 0:
        raise RuntimeError("REGISTRATION_MAIL_TIMEOUT must be a positive number of seconds.")
    for key in ("VERIFY_WITHIN", "RESET_WITHIN", "CHANGE_EMAIL_WITHIN", "ACCESS_TOKEN_TTL", "ACCESS_TOKEN_MAX_TTL"):
        if config[f"REGISTRATION_{key}"] <= timedelta(0):
            raise RuntimeError(f"REGISTRATION_{key} must be a positive timedelta.")
    if config["REGISTRATION_ACCESS_TOKEN_TTL"] > config["REGISTRATION_ACCESS_TOKEN_MAX_TTL"]:
        raise RuntimeError("REGISTRATION_ACCESS_TOKEN_TTL must not be over REGISTRATION_ACCESS_TOKEN_MAX_TTL.")
    salts = [config[f"REGISTRATION_{k}_SALT"] for k in ("VERIFY", "RESET", "CHANGE_EMAIL")]
    if len(set(salts)) != len(salts):
        raise RuntimeError("The REGISTRATION_*_SALT keys must differ: a token of one purpose never passes for another.")
