"""Checks on submitted data, shared by every face: emails, passwords, field types.

Nothing here touches the database; the flows call these before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import current_app, g, has_request_context

from .errors import ValidationError
from .i18n import N_, gettext, ngettext, speaks_english

#: RFC 5321 limits an address to 254 octets in practice; 320 is the column width.
EMAIL_MAX_LENGTH = 254
#: Extra signup fields are short strings, numbers or booleans.
FIELD_MAX_LENGTH = 1000

#: How messages name the library's own fields; an app's extra fields are named by
#: :func:`field_label`.
FIELD_LABELS = {
    "email": N_("email address"),
    "newEmail": N_("new email address"),
    "password": N_("password"),
    "newPassword": N_("new password"),
    "oldPassword": N_("current password"),
    "uid": N_("user id from the link"),
    "token": N_("token from the link"),
    "remember": N_("remember option"),
    "ttl": N_("token lifetime (ttl)"),
    "username": N_("username"),
}

#: The message for each of the library's fields left empty (a whole sentence each, for
#: the languages whose words change with the noun); an app's field gets "Enter your ...".
BLANK_MESSAGES = {
    "email": N_("Enter your email address."),
    "newEmail": N_("Enter your new email address."),
    "password": N_("Enter your password."),
    "newPassword": N_("Enter your new password."),
    "oldPassword": N_("Enter your current password."),
    "uid": N_("The user id from the link is missing: open the link from the email again."),
    "token": N_("The token from the link is missing: open the link from the email again."),
}


def field_label(name: str) -> str:
    """The name of a field as a sentence says it, in the current language:
    ``"newPassword"`` is "new password", an app's ``first_name`` is "first name"."""
    label = FIELD_LABELS.get(name)
    return gettext(label) if label else name.replace("_", " ")


def blank(name: str) -> str:
    """The message for a required field left empty: "Enter your email address."."""
    message = BLANK_MESSAGES.get(name)
    if message:
        return gettext(message)
    return gettext("Enter your %(field)s.", field=field_label(name))


def taken_message(name: str) -> str:
    """The message for a unique value another account has: "This username is already taken."."""
    return gettext("This %(field)s is already taken.", field=field_label(name))


#: email_validator's most frequent reasons, as :func:`_email_problem` words them: shown
#: translated. Another reason is shown as it is in English, and left out in another
#: language ("This email address is not valid.").
EMAIL_PROBLEMS = frozenset(
    {
        N_("it must have an @-sign."),
        N_("there must be something after the @-sign."),
        N_("there must be something before the @-sign."),
        N_("it cannot have two periods in a row."),
        N_("it cannot start with a period."),
        N_("it cannot end with a period."),
        N_("it cannot have a period immediately before the @-sign."),
        N_("it cannot have a period immediately after the @-sign."),
        N_("it cannot have a hyphen immediately after the @-sign."),
        N_("it cannot have a period and a hyphen next to each other."),
        N_("the part after the @-sign should have a period."),
        N_("A display name and angle brackets around the email address are not permitted here."),
        N_("A bracketed IP address after the @-sign is not allowed here."),
    }
)
#: Reasons that end with the characters at fault: their start, and its translation.
EMAIL_PROBLEM_STARTS = {
    "it contains invalid characters before the @-sign: ": N_(
        "it contains invalid characters before the @-sign: %(chars)s"
    ),
    "the part after the @-sign contains invalid characters: ": N_(
        "the part after the @-sign contains invalid characters: %(chars)s"
    ),
}


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


def _email_message(error: EmailNotValidError) -> str:
    """The message for an address email_validator refused, in the current language."""
    reason = _email_problem(error)
    if reason in EMAIL_PROBLEMS:
        reason = gettext(reason)
    elif start := next((s for s in EMAIL_PROBLEM_STARTS if reason.startswith(s)), ""):
        reason = gettext(EMAIL_PROBLEM_STARTS[start], chars=reason[len(start) :])
    elif not speaks_english():
        return gettext("This email address is not valid.")
    return gettext("This email address is not valid: %(reason)s", reason=reason)


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
    # A signup checks its address twice (before and after the before_signup hooks, which
    # may rewrite it): the same address checked again in one request gets the same answer.
    checked: dict[tuple[str, bool, bool], str] = (
        g.setdefault("registration_checked_addresses", {}) if has_request_context() else {}
    )
    key = (value, check_deliverability, allow_smtputf8)
    if key in checked:
        return checked[key]
    if len(value) > EMAIL_MAX_LENGTH:
        raise ValidationError(
            ngettext(
                "This email address is too long: it can have at most %(num)d character.",
                "This email address is too long: it can have at most %(num)d characters.",
                EMAIL_MAX_LENGTH,
            ),
            field="email",
            field_code="length",
        )
    try:
        info = validate_email(value, check_deliverability=check_deliverability, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValidationError(_email_message(exc), field="email", field_code="format") from None
    if info.smtputf8 and not allow_smtputf8:
        local = info.normalized.rpartition("@")[0]
        shown = ", ".join(repr(c) for c in dict.fromkeys(c for c in local if not c.isascii()))
        raise ValidationError(
            gettext(
                "This site cannot send email to an address with %(chars)s before the @. "
                "Please use an address with only ASCII letters, digits and punctuation before the @.",
                chars=shown,
            ),
            field="email",
            field_code="smtputf8",
        )
    checked[key] = info.normalized.lower()
    return checked[key]


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
    if password is None or password == "":
        raise ValidationError(blank(field), field=field, field_code="presence")
    if not isinstance(password, str) or not is_clean_text(password):
        message = gettext("The %(field)s must be text.", field=field_label(field))
        raise ValidationError(message, field=field, field_code="type")
    if len(password) < lo:
        message = ngettext(
            "The %(field)s must be at least %(num)d character long.",
            "The %(field)s must be at least %(num)d characters long.",
            lo,
            field=field_label(field),
        )
        raise ValidationError(message, field=field, field_code="length")
    if len(password) > hi:
        message = ngettext(
            "The %(field)s must be at most %(num)d character long.",
            "The %(field)s must be at most %(num)d characters long.",
            hi,
            field=field_label(field),
        )
        raise ValidationError(message, field=field, field_code="length")
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
        raise ValidationError(gettext("The request body must be a JSON object."), code="INVALID_BODY")
    required = list(required)
    allowed = set(required) | set(optional)
    problems: dict[str, list[tuple[str, str]]] = {}
    for name in required:
        value = data.get(name)
        if value is None or value == "":
            problems.setdefault(name, []).append(("presence", blank(name)))
        elif not isinstance(value, str):
            problems.setdefault(name, []).append(
                ("type", gettext("The %(field)s must be text.", field=field_label(name)))
            )
    for name, value in data.items():
        if not isinstance(name, str) or name not in allowed:
            shown = str(name)[:64]
            unknown = gettext("There is no field %(name)s that can be set.", name=repr(shown))
            problems.setdefault(shown, []).append(("unknown", unknown))
            continue
        # The field's name is translated only for a message (a lookup per field otherwise).
        if isinstance(value, str):
            if not is_clean_text(value):
                message = gettext("The %(field)s contains characters that are not allowed.", field=field_label(name))
                problems.setdefault(name, []).append(("type", message))
            elif name not in required and len(value) > FIELD_MAX_LENGTH:
                message = ngettext(
                    "The %(field)s is too long: it can have at most %(num)d character.",
                    "The %(field)s is too long: it can have at most %(num)d characters.",
                    FIELD_MAX_LENGTH,
                    field=field_label(name),
                )
                problems.setdefault(name, []).append(("length", message))
        elif name not in required and not isinstance(value, (int, float, bool, type(None))):
            message = gettext("The %(field)s must be text, a number, or true or false.", field=field_label(name))
            problems.setdefault(name, []).append(("type", message))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.setdefault(name, []).append(
                ("type", gettext("The %(field)s must be a finite number.", field=field_label(name)))
            )
    if problems:
        raise ValidationError.from_fields(problems)
    return dict(data)
