"""Checks on submitted data, shared by every face: emails, passwords, field types.

Nothing here touches the database; the flows call these before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app

from .errors import ValidationError

#: RFC 5321 limits an address to 254 octets in practice; 320 is the column width.
EMAIL_MAX_LENGTH = 254
#: Extra signup fields are short strings, numbers or booleans.
FIELD_MAX_LENGTH = 1000

#: How messages name the library's own fields; an app's extra fields are named by
#: :func:`field_label`.
FIELD_LABELS = {
    "email": "email address",
    "newEmail": "new email address",
    "password": "password",
    "newPassword": "new password",
    "oldPassword": "current password",
    "uid": "user id from the link",
    "token": "token from the link",
    "remember": "remember option",
    "ttl": "token lifetime (ttl)",
}


def field_label(name: str) -> str:
    """The name of a field as a sentence says it: ``"newPassword"`` is "new password",
    an app's ``first_name`` is "first name"."""
    return FIELD_LABELS.get(name) or name.replace("_", " ")


def blank(name: str) -> str:
    """The message for a required field left empty: "Enter your email address."."""
    if name in ("uid", "token"):
        return f"The {field_label(name)} is missing: open the link from the email again."
    return f"Enter your {field_label(name)}."


def _email_problem(error: EmailNotValidError) -> str:
    """email_validator's reason as the end of one sentence ("it must have an @-sign.")."""
    reason = str(error).strip()
    for start, instead in (
        ("An email address ", "it "),
        ("The email address ", "it "),
        ("The part after the @-sign is not valid. It ", "the part after the @-sign "),
    ):
        if reason.startswith(start):
            reason = instead + reason[len(start) :]
            break
    else:
        if reason[:2] != reason[:2].upper():  # "There must be..." but not "IPv6..."
            reason = reason[:1].lower() + reason[1:]
    return reason if reason.endswith(".") else reason + "."


def normalize_email(value: str, *, check_deliverability: bool | None = None, allow_smtputf8: bool | None = None) -> str:
    """Validate an address and return its normal form, lower-cased.

    Addresses are compared case-insensitively, so the stored form is lower-case and the
    database's unique index enforces one account per address.

    An address with non-ASCII characters before the ``@`` can only be mailed through a
    server with SMTPUTF8: it is refused (code ``smtputf8``) unless ``allow_smtputf8``
    (default ``REGISTRATION_EMAIL_ALLOW_SMTPUTF8``) says so. Looking an account up
    (login) passes True: an account made while the setting was on still logs in.

    :raises ValidationError: with field ``email`` and code ``format``, ``length`` or
        ``smtputf8``.
    """
    config = current_app.config
    if check_deliverability is None:
        check_deliverability = config["REGISTRATION_EMAIL_CHECK_DELIVERABILITY"]
    if allow_smtputf8 is None:
        allow_smtputf8 = config["REGISTRATION_EMAIL_ALLOW_SMTPUTF8"]
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValidationError(
            f"This email address is too long: it can have at most {EMAIL_MAX_LENGTH} characters.",
            field="email",
            field_code="length",
        )
    try:
        info = validate_email(value, check_deliverability=check_deliverability, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValidationError(
            f"This email address is not valid: {_email_problem(exc)}", field="email", field_code="format"
        ) from None
    if info.smtputf8 and not allow_smtputf8:
        local = info.normalized.rpartition("@")[0]
        shown = ", ".join(repr(c) for c in dict.fromkeys(c for c in local if not c.isascii()))
        raise ValidationError(
            f"This site cannot send email to an address with {shown} before the @. "
            "Please use an address with only ASCII letters, digits and punctuation before the @.",
            field="email",
            field_code="smtputf8",
        )
    return info.normalized.lower()


def is_clean_text(value: str) -> bool:
    """A string the database and the hasher can take: UTF-8 encodable, no NUL."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from JSON "\ud800"
        return False
    return True


def check_password(password: Any, field: str = "password") -> str:
    """Check a new password's type and length; return it unchanged.

    :raises ValidationError: codes ``presence``, ``type`` or ``length``.
    """
    config = current_app.config
    lo = config["REGISTRATION_PASSWORD_MIN_LENGTH"]
    hi = config["REGISTRATION_PASSWORD_MAX_LENGTH"]
    label = field_label(field)
    if password is None or password == "":
        raise ValidationError(blank(field), field=field, field_code="presence")
    if not isinstance(password, str) or not is_clean_text(password):
        raise ValidationError(f"The {label} must be text.", field=field, field_code="type")
    if len(password) < lo:
        raise ValidationError(f"The {label} must be at least {lo} characters long.", field=field, field_code="length")
    if len(password) > hi:
        raise ValidationError(f"The {label} must be at most {hi} characters long.", field=field, field_code="length")
    return password


def check_payload(
    data: Any,
    *,
    required: Iterable[str],
    optional: Iterable[str] = (),
) -> dict[str, Any]:
    """Check that ``data`` is an object with the required fields and no unknown ones.

    Required fields must be non-empty strings; optional fields may be strings, numbers,
    booleans or null. Every problem is collected into one :class:`ValidationError`.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("The request body must be a JSON object.", code="INVALID_BODY")
    required = list(required)
    allowed = set(required) | set(optional)
    problems: dict[str, list[tuple[str, str]]] = {}
    for name in required:
        value = data.get(name)
        if value is None or value == "":
            problems.setdefault(name, []).append(("presence", blank(name)))
        elif not isinstance(value, str):
            problems.setdefault(name, []).append(("type", f"The {field_label(name)} must be text."))
    for name, value in data.items():
        if not isinstance(name, str) or name not in allowed:
            shown = str(name)[:64]
            problems.setdefault(shown, []).append(("unknown", f"There is no field {shown!r} that can be set."))
            continue
        label = field_label(name)
        if isinstance(value, str):
            if not is_clean_text(value):
                problems.setdefault(name, []).append(("type", f"The {label} contains characters that are not allowed."))
            elif name not in required and len(value) > FIELD_MAX_LENGTH:
                problems.setdefault(name, []).append(
                    ("length", f"The {label} is too long: it can have at most {FIELD_MAX_LENGTH} characters.")
                )
        elif name not in required and not isinstance(value, (int, float, bool, type(None))):
            problems.setdefault(name, []).append(("type", f"The {label} must be text, a number, or true or false."))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.setdefault(name, []).append(("type", f"The {label} must be a finite number."))
    if problems:
        raise ValidationError.from_fields(problems)
    return dict(data)
