"""Configuration keys, their defaults, and the check that runs at ``init_app``.

Every key starts with ``REGISTRATION_``; each is documented in ``docs/configuration.rst``.
A ``REGISTRATION_*`` key that is not listed here is a typo, and ``init_app`` says so.
"""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import Any

from flask import Flask
from limits import parse_many

from .i18n import N_, parse_locale

#: Each key with its default and the type(s) it must have.
DEFAULTS: dict[str, tuple[Any, tuple[type, ...]]] = {
    "REGISTRATION_URL_PREFIX": ("", (str,)),
    "REGISTRATION_DEFAULT_LOCALE": ("en", (str,)),
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
    "REGISTRATION_MAX_CONCURRENT_HASHES": (None, (int, type(None))),
    "REGISTRATION_HASH_WAIT": (timedelta(seconds=1), (timedelta,)),
    "REGISTRATION_MAX_HASH_WAITING": (None, (int, type(None))),
    "REGISTRATION_HASH_NICENESS": (10, (int,)),
    "REGISTRATION_EMAIL_CHECK_DELIVERABILITY": (False, (bool,)),
    "REGISTRATION_EMAIL_ALLOW_SMTPUTF8": (False, (bool,)),
    "REGISTRATION_SIGNUP_FIELDS": ((), (tuple, list)),
    "REGISTRATION_PROFILE_FIELDS": (None, (tuple, list, type(None))),
    "REGISTRATION_LOGIN_FIELDS": (("email",), (tuple, list)),
    "REGISTRATION_MAX_BODY_SIZE": (64 * 1024, (int,)),
    "REGISTRATION_MAIL_SENDER": (None, (str, tuple, type(None))),
    "REGISTRATION_MAIL_TIMEOUT": (10.0, (int, float)),
    "REGISTRATION_MAIL_MAX_RETRIES": (10, (int,)),
    "REGISTRATION_MAIL_RETRY_BACKOFF": (timedelta(seconds=30), (timedelta,)),
    "REGISTRATION_MAIL_FAILED_QUEUE": ("flask_registration.failed_mail", (str,)),
    "REGISTRATION_VERIFY_SUBJECT": (N_("Confirm your email address"), (str,)),
    "REGISTRATION_EXISTING_ACCOUNT_SUBJECT": (N_("You already have an account"), (str,)),
    "REGISTRATION_RESET_WITHIN": (timedelta(hours=1), (timedelta,)),
    "REGISTRATION_RESET_SALT": ("flask-registration.reset", (str,)),
    "REGISTRATION_RESET_SUBJECT": (N_("Reset your password"), (str,)),
    "REGISTRATION_PASSWORD_CHANGED_SUBJECT": (N_("Your password was changed"), (str,)),
    "REGISTRATION_CHANGE_EMAIL_WITHIN": (timedelta(days=2), (timedelta,)),
    "REGISTRATION_CHANGE_EMAIL_SALT": ("flask-registration.change-email", (str,)),
    "REGISTRATION_CHANGE_EMAIL_SUBJECT": (N_("Confirm your new email address"), (str,)),
    "REGISTRATION_EMAIL_CHANGE_NOTICE_SUBJECT": (N_("Your account's email address is changing"), (str,)),
    "REGISTRATION_ACCESS_TOKEN_TTL": (timedelta(weeks=2), (timedelta,)),
    "REGISTRATION_ACCESS_TOKEN_MAX_TTL": (timedelta(days=365), (timedelta,)),
    "REGISTRATION_POST_LOGIN_REDIRECT": ("/", (str,)),
    "REGISTRATION_POST_LOGOUT_REDIRECT": ("/", (str,)),
    "REGISTRATION_OAUTH_PROVIDERS": ({}, (dict,)),
    "REGISTRATION_OAUTH_LINK_BY_EMAIL": (True, (bool,)),
    "REGISTRATION_ALLOWED_REDIRECT_HOSTS": ((), (tuple, list, frozenset, set)),
    "REGISTRATION_RATE_LIMITS_ENABLED": (True, (bool,)),
    "REGISTRATION_RATE_LIMITS": ({}, (dict,)),
    "REGISTRATION_RATE_LIMIT_STORAGE_URI": ("memory://", (str,)),
    "REGISTRATION_TRUSTED_PROXIES": (0, (int,)),
    "REGISTRATION_REAUTH_WITHIN": (timedelta(minutes=5), (timedelta,)),
    "REGISTRATION_REAUTH_SALT": ("flask-registration.reauth", (str,)),
    "REGISTRATION_REAUTH_SUBJECT": (N_("Confirm it is you"), (str,)),
    "REGISTRATION_LOGIN_METHOD_ADDED_SUBJECT": (N_("A new way to log in was added to your account"), (str,)),
    "REGISTRATION_LOGIN_METHODS_REMOVED_SUBJECT": (N_("Your account is now yours alone"), (str,)),
    "REGISTRATION_WEBAUTHN_RP_ID": (None, (str, type(None))),
    "REGISTRATION_WEBAUTHN_RP_NAME": (None, (str, type(None))),
    "REGISTRATION_WEBAUTHN_ORIGINS": ((), (tuple, list)),
    "REGISTRATION_WEBAUTHN_CHALLENGE_WITHIN": (timedelta(minutes=5), (timedelta,)),
    "REGISTRATION_TOTP_ISSUER": (None, (str, type(None))),
    "REGISTRATION_RECOVERY_CODES_LOW": (3, (int,)),
    "REGISTRATION_SECOND_FACTOR_WITHIN": (timedelta(minutes=5), (timedelta,)),
    "REGISTRATION_TRUST_BROWSER_WITHIN": (None, (timedelta, type(None))),
    "REGISTRATION_FACTOR_ADDED_SUBJECT": (N_("A second factor was added to your account"), (str,)),
    "REGISTRATION_FACTOR_REMOVED_SUBJECT": (N_("A second factor was removed from your account"), (str,)),
    "REGISTRATION_RECOVERY_CODE_USED_SUBJECT": (N_("A recovery code was used on your account"), (str,)),
    "REGISTRATION_OAUTH_CONFIRM_SALT": ("flask-registration.oauth-confirm", (str,)),
    "REGISTRATION_OAUTH_CONFIRM_SUBJECT": (N_("Confirm your email address to log in"), (str,)),
    "REGISTRATION_LOOPBACK_CONFIRM_LINKS": (False, (bool,)),
    "REGISTRATION_DELETE_GRACE": (None, (timedelta, type(None))),
    "REGISTRATION_RESTORE_SALT": ("flask-registration.restore", (str,)),
    "REGISTRATION_ACCOUNT_DELETED_SUBJECT": (N_("Your account was deleted"), (str,)),
    "REGISTRATION_DELETION_SCHEDULED_SUBJECT": (N_("Your account will be deleted"), (str,)),
}

#: The built-in rate limits (Flask-Limiter's notation); ``REGISTRATION_RATE_LIMITS``
#: overrides them by name. ``*_per_ip`` counts per client address, ``*_per_email`` per
#: normalised address, ``change_email_per_target`` per new address asked for,
#: ``export_per_user`` per account (a data export);
#: ``second_factor_per_email`` per account (a refused code or passkey: see docs/factors.rst);
#: ``login_per_ip`` counts every login, the ``failed_login_*`` ones only the refused ones
#: (a wrong password or address; each check holds a place while it runs).
RATE_LIMIT_DEFAULTS: dict[str, str] = {
    "signup_per_ip": "20 per hour",
    "signup_per_email": "5 per hour",
    "login_per_ip": "60 per minute",
    "failed_login_per_ip": "30 per 10 minutes",
    "failed_login_per_email": "5 per 5 minutes",
    "resend_per_ip": "20 per hour",
    "resend_per_email": "5 per hour",
    "reset_per_ip": "20 per hour",
    "reset_per_email": "5 per hour",
    "change_email_per_ip": "20 per hour",
    "change_email_per_email": "5 per hour",
    "change_email_per_target": "5 per hour",
    "second_factor_per_ip": "30 per 10 minutes",
    "second_factor_per_email": "5 per 5 minutes",
    "export_per_user": "5 per hour",
}

#: Well-known placeholder secret keys (compared lower-cased, letters and digits only).
PLACEHOLDER_SECRET_KEYS = frozenset(
    {
        "changeme",
        "changethis",
        "changethissecretkey",
        "pleasechangeme",
        "default",
        "dev",
        "devkey",
        "development",
        "insecure",
        "key",
        "notsecret",
        "secret",
        "secretkey",
        "supersecret",
        "supersecretkey",
        "test",
        "testing",
        "thisisasecretkey",
        "yoursecretkey",
        "yoursecretkeyhere",
        "youwillneverguess",
    }
)

#: The shortest SECRET_KEY accepted outside testing and debugging, in characters.
SECRET_KEY_MIN_LENGTH = 16

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
    """Set every default once, then refuse unknown or mistyped keys and a weak
    ``SECRET_KEY``."""
    for key, (default, _types) in DEFAULTS.items():
        app.config.setdefault(key, default)
    check(app.config)
    check_secret_key(app)
    check_link_host(app)


def check_link_host(app: Flask) -> None:
    """Refuse to build emailed links from an unchecked ``Host`` header.

    The links in verification, reset and change-of-address emails are absolute, made
    from the request's host. If any ``Host`` is accepted, an attacker asks for a reset of
    someone else's account with ``Host: evil.example`` and the victim receives a link to
    the attacker's site carrying the token (password-reset poisoning). So outside testing
    and debugging, ``SERVER_NAME`` or Flask's ``TRUSTED_HOSTS`` must say which hosts are
    this site's (Django's ``ALLOWED_HOSTS``).
    """
    if app.testing or app.debug:
        return
    if not app.config.get("SERVER_NAME") and not app.config.get("TRUSTED_HOSTS"):
        raise RuntimeError(
            "Set SERVER_NAME or TRUSTED_HOSTS: flask_registration emails absolute links built "
            "from the request's Host header, and an unchecked Host lets an attacker send your "
            "users links to another site (e.g. TRUSTED_HOSTS = ['example.com'])."
        )


def check_secret_key(app: Flask) -> None:
    """Refuse an empty, placeholder or short ``SECRET_KEY`` unless the app is testing or
    debugging: it signs the sessions and every emailed link. The message never shows the key."""
    if app.testing or app.debug:
        return
    key = app.config.get("SECRET_KEY")
    text = key.decode("latin-1") if isinstance(key, bytes) else str(key or "")
    fix = "Set it to a long random value, e.g. python -c 'import secrets; print(secrets.token_hex(32))'."
    if not text.strip():
        raise RuntimeError(f"SECRET_KEY is empty. {fix}")
    if "".join(c for c in text.lower() if c.isalnum()) in PLACEHOLDER_SECRET_KEYS:
        raise RuntimeError(f"SECRET_KEY is a well-known placeholder. {fix}")
    if len(text) < SECRET_KEY_MIN_LENGTH:
        raise RuntimeError(f"SECRET_KEY is shorter than {SECRET_KEY_MIN_LENGTH} characters. {fix}")


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
    if parse_locale(config["REGISTRATION_DEFAULT_LOCALE"]) is None:
        raise RuntimeError(
            f"REGISTRATION_DEFAULT_LOCALE must name a language ('en', 'de', 'pt-BR'), "
            f"not {config['REGISTRATION_DEFAULT_LOCALE']!r}."
        )
    lo, hi = config["REGISTRATION_PASSWORD_MIN_LENGTH"], config["REGISTRATION_PASSWORD_MAX_LENGTH"]
    if not 1 <= lo <= hi:
        raise RuntimeError("REGISTRATION_PASSWORD_MIN_LENGTH must be at least 1 and at most the maximum.")
    for field in config["REGISTRATION_SIGNUP_FIELDS"]:
        if not isinstance(field, str) or field in PROTECTED_FIELDS:
            raise RuntimeError(f"REGISTRATION_SIGNUP_FIELDS cannot name {field!r}.")
    for field in config["REGISTRATION_PROFILE_FIELDS"] or ():
        if not isinstance(field, str) or field in PROTECTED_FIELDS:
            raise RuntimeError(f"REGISTRATION_PROFILE_FIELDS cannot name {field!r}.")
    login_fields = list(config["REGISTRATION_LOGIN_FIELDS"])
    if "email" not in login_fields or any(f not in ("email", "username") for f in login_fields):
        raise RuntimeError(
            f"REGISTRATION_LOGIN_FIELDS must be ['email'] or ['email', 'username'], not {login_fields!r}."
        )
    for key in ("REGISTRATION_URL_PREFIX", "REGISTRATION_API_PREFIX"):
        value = config[key]
        if value and (not value.startswith("/") or value.endswith("/")):
            raise RuntimeError(f"{key} must start with '/' and not end with one (got {value!r}).")
    if not config["REGISTRATION_API_PREFIX"]:
        raise RuntimeError("REGISTRATION_API_PREFIX cannot be empty (the JSON API needs a path of its own).")
    slots = config["REGISTRATION_MAX_CONCURRENT_HASHES"]
    if slots is not None and slots < 1:
        raise RuntimeError("REGISTRATION_MAX_CONCURRENT_HASHES must be at least 1, or None (derived from the CPUs).")
    if config["REGISTRATION_HASH_WAIT"] < timedelta(0):
        raise RuntimeError("REGISTRATION_HASH_WAIT cannot be negative (timedelta(0): refuse at once when busy).")
    waiting = config["REGISTRATION_MAX_HASH_WAITING"]
    if waiting is not None and waiting < 0:
        raise RuntimeError("REGISTRATION_MAX_HASH_WAITING cannot be negative (None: derived from the wait).")
    if not 0 <= config["REGISTRATION_HASH_NICENESS"] <= 19:
        raise RuntimeError("REGISTRATION_HASH_NICENESS must be between 0 (off) and 19.")
    if config["REGISTRATION_MAIL_TIMEOUT"] <= 0:
        raise RuntimeError("REGISTRATION_MAIL_TIMEOUT must be a positive number of seconds.")
    if config["REGISTRATION_MAIL_MAX_RETRIES"] < 0:
        raise RuntimeError("REGISTRATION_MAIL_MAX_RETRIES cannot be negative.")
    if config["REGISTRATION_MAIL_RETRY_BACKOFF"] < timedelta(seconds=1):
        raise RuntimeError("REGISTRATION_MAIL_RETRY_BACKOFF must be at least one second.")
    if not config["REGISTRATION_MAIL_FAILED_QUEUE"]:
        raise RuntimeError("REGISTRATION_MAIL_FAILED_QUEUE cannot be empty.")
    for key in (
        "VERIFY_WITHIN",
        "RESET_WITHIN",
        "CHANGE_EMAIL_WITHIN",
        "ACCESS_TOKEN_TTL",
        "ACCESS_TOKEN_MAX_TTL",
        "REAUTH_WITHIN",
    ):
        if config[f"REGISTRATION_{key}"] <= timedelta(0):
            raise RuntimeError(f"REGISTRATION_{key} must be a positive timedelta.")
    grace = config["REGISTRATION_DELETE_GRACE"]
    if grace is not None and grace <= timedelta(0):
        raise RuntimeError("REGISTRATION_DELETE_GRACE must be a positive timedelta, or None to delete at once.")
    if config["REGISTRATION_ACCESS_TOKEN_TTL"] > config["REGISTRATION_ACCESS_TOKEN_MAX_TTL"]:
        raise RuntimeError("REGISTRATION_ACCESS_TOKEN_TTL must not be over REGISTRATION_ACCESS_TOKEN_MAX_TTL.")
    purposes = ("VERIFY", "RESET", "CHANGE_EMAIL", "REAUTH", "OAUTH_CONFIRM", "RESTORE")
    salts = [config[f"REGISTRATION_{k}_SALT"] for k in purposes]
    if len(set(salts)) != len(salts):
        raise RuntimeError("The REGISTRATION_*_SALT keys must differ: a token of one purpose never passes for another.")
    if config["REGISTRATION_TRUSTED_PROXIES"] < 0:
        raise RuntimeError("REGISTRATION_TRUSTED_PROXIES must be 0 or more (the proxies in front of the app).")
    for host in config["REGISTRATION_ALLOWED_REDIRECT_HOSTS"]:
        if not isinstance(host, str) or not _HOST_RE.fullmatch(host):
            raise RuntimeError(
                f"REGISTRATION_ALLOWED_REDIRECT_HOSTS takes host names, lower-case, with an optional port "
                f"('app.example.com', 'app.example.com:8443'), not {host!r}."
            )
    config["REGISTRATION_RATE_LIMITS"] = _checked_rate_limits(config["REGISTRATION_RATE_LIMITS"])


_HOST_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?:\.(?!-)[a-z0-9-]{1,63})*(?::[0-9]{1,5})?")


def _checked_rate_limits(overrides: dict[str, Any]) -> dict[str, str | None]:
    """The built-in limits with the app's overrides; each name known, each value a limit
    string Flask-Limiter reads (``"5 per minute; 20 per hour"``) or None (no limit)."""
    for name, value in overrides.items():
        if name not in RATE_LIMIT_DEFAULTS:
            close = difflib.get_close_matches(str(name), RATE_LIMIT_DEFAULTS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise RuntimeError(f"REGISTRATION_RATE_LIMITS has no limit named {name!r}.{hint}")
        if value is None:
            continue
        try:
            parsed = parse_many(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if not parsed:
            raise RuntimeError(
                f"REGISTRATION_RATE_LIMITS[{name!r}] must be a limit such as '5 per minute' or None, not {value!r}."
            )
    return {**RATE_LIMIT_DEFAULTS, **overrides}
