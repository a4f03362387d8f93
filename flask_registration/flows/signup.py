"""Signup: check the data, run the hooks, hash, insert under the unique index, email."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Boolean, Float, Integer, Numeric, String
from sqlalchemy import inspect as sa_inspect

from .. import limits, signals
from ..config import PROTECTED_FIELDS
from ..errors import ValidationError
from ..i18n import N_, gettext, ngettext
from ..links import check_request_host
from ..mail import send_mail
from ..models import python_type_of, utcnow
from ..signals import app_sender
from ..state import get_state
from ..store import DuplicateEmail
from ..usernames import normalize_username_field
from ..validation import blank, check_password, check_payload, field_label, normalize_email
from .verify import send_verification, verify_user


@dataclass
class SignupResult:
    """What :func:`signup` did.

    ``created`` is False when the address already had an account and enumeration
    prevention answered as if it were new (``user`` is then None: the faces must not
    show the existing account). ``email_sent`` says whether the mail server took the
    message (the verification link, or the "you already have an account" notice).
    """

    user: Any
    created: bool
    email_sent: bool
    email: str


def check_signup_data(data: Any) -> dict[str, Any]:
    """Check the shape, the address and the password; return the data, email normalised."""
    extras = current_app.config["REGISTRATION_SIGNUP_FIELDS"]
    checked = check_payload(data, required=("email", "password"), optional=extras)
    problems: dict[str, list[tuple[str, str]]] = {}
    try:
        checked["email"] = normalize_email(checked["email"])
    except ValidationError as exc:
        problems.update(exc.fields)
    try:
        check_password(checked["password"])
    except ValidationError as exc:
        problems.update(exc.fields)
    if problems:
        raise ValidationError.from_fields(problems)
    return checked


def _column_problem(column: Any, value: Any) -> tuple[str, str] | None:
    """Whether ``value`` fits ``column`` (type and length), as a LoopBack field error."""
    kind = column.type
    label = field_label(column.name)
    if value is None:
        return None if column.nullable else ("presence", blank(column.name))
    if isinstance(kind, Boolean):
        ok = isinstance(value, bool)
    elif isinstance(kind, Integer):
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    elif isinstance(kind, Float | Numeric):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    elif isinstance(kind, String):
        ok = isinstance(value, str)
        if ok and kind.length is not None and len(value) > kind.length:
            message = ngettext(
                "The %(field)s must be at most %(num)d character long.",
                "The %(field)s must be at most %(num)d characters long.",
                kind.length,
                field=label,
            )
            return ("length", message)
    else:
        # Other column types (dates...) take only their own Python type, which a hook
        # may have made from the submitted text.
        ok = isinstance(value, python_type_of(kind))
    wanted = _TYPE_MESSAGES.get(python_type_of(kind), N_("The %(field)s must be a value of another type."))
    return None if ok else ("type", gettext(wanted, field=label))


#: What a value of the wrong type hears, by the Python type its column takes.
_TYPE_MESSAGES = {
    str: N_("The %(field)s must be text."),
    int: N_("The %(field)s must be a whole number."),
    float: N_("The %(field)s must be a number."),
    bool: N_("The %(field)s must be true or false."),
}


def check_column_values(model: Any, data: Mapping[str, Any], fields: Iterable[str] | None = None) -> None:
    """Refuse declared fields (``fields``, default ``REGISTRATION_SIGNUP_FIELDS``) whose
    value in ``data`` does not fit the app's column (its type and length)."""
    table = model.__table__
    problems = {}
    for name in current_app.config["REGISTRATION_SIGNUP_FIELDS"] if fields is None else fields:
        column = table.c.get(name)
        if column is not None and name in data:
            problem = _column_problem(column, data[name])
            if problem:
                problems[name] = [problem]
    if problems:
        raise ValidationError.from_fields(problems)


def _model_fields(model: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The declared extra fields that are columns of the app's model (others only reach hooks)."""
    columns: set[str] = set(sa_inspect(model).column_attrs.keys())
    extras = current_app.config["REGISTRATION_SIGNUP_FIELDS"]
    return {k: v for k, v in data.items() if k in extras and k in columns and k not in PROTECTED_FIELDS}


def checked_new_user_data(data: Any, *, with_password: bool = True) -> dict[str, Any]:
    """Every check a new account goes through, whichever way it comes: the data's shape,
    the address, the password (``with_password``; a provider login has none) and the
    extra fields' columns; then the ``before_signup`` hooks (which may change ``data`` in
    place or veto by raising); then the same checks again, as a hook may have rewritten
    the address or the password.

    :returns: the checked data, its address normalised.
    :raises ValidationError: bad data or a hook's veto.
    """
    state = get_state()

    def check(data: Any) -> dict[str, Any]:
        checked = check_signup_data(data) if with_password else _checked_address(data)
        normalize_username_field(checked)  # with username login: its stored form, before the length check
        check_column_values(state.store.model, checked)
        return checked

    data = check(data)
    state.extension.hooks.run("before_signup", data)
    return check(data)


def _checked_address(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its address present and in normal form (a provider login's)."""
    email = data.get("email")
    if not isinstance(email, str) or not email:
        raise ValidationError.from_fields({"email": [("presence", gettext("Enter your email address."))]})
    data["email"] = normalize_email(email, check_deliverability=False)
    return data


def signup(data: Any) -> SignupResult:
    """Register a user from submitted data (``email``, ``password``, declared extras).

    Order: check the data and run ``before_signup`` hooks (see
    :func:`checked_new_user_data`); hash the password; insert and commit (the unique
    index decides between two signups of one address); send the verification email;
    send ``user_registered``; run ``after_signup`` hooks.

    :raises ValidationError: bad data, a hook's veto, or (enumeration prevention off)
        an address that is taken (field ``email``, code ``uniqueness``).
    :raises UntrustedHost: an email would go out, and the request's host and port are
        not ones links are built for (checked before anything is written).
    """
    state = get_state()
    if current_app.config["REGISTRATION_SEND_VERIFICATION_ON_SIGNUP"]:
        check_request_host()
    data = checked_new_user_data(data)
    limits.hit("signup", email=data["email"])  # before the hash: a refusal costs nothing
    return open_account(data, password_hash=state.passwords.hash(data["password"]))


def open_account(
    data: Mapping[str, Any], *, password_hash: str | None, then: Callable[[Any], None] | None = None
) -> SignupResult:
    """The end of every signup, whichever way it comes (a password, or a passkey: see
    :doc:`factors`), once ``data`` passed :func:`checked_new_user_data` and the limits:
    insert and commit the account (an address that has one gets the answer a new one
    gets, and its owner an email, with enumeration prevention on); then ``then(user)``
    (what else the new account needs, such as its passkey); then the verification email,
    ``user_registered`` and the ``after_signup`` hooks.

    :raises ValidationError: (enumeration prevention off) the address is taken.
    """
    email = data["email"]
    # No look-up first: the unique index decides, for a taken address as for two
    # signups racing (one statement less per signup).
    try:
        user = create_account(data, password_hash=password_hash)
    except DuplicateEmail:
        return _existing_account(get_state().store.find_by_email(email), email)
    if then is not None:
        then(user)

    email_sent = False
    if current_app.config["REGISTRATION_SEND_VERIFICATION_ON_SIGNUP"] and not user.email_verified:
        email_sent = send_verification(user)
    announce_account(user, data)
    return SignupResult(user=user, created=True, email_sent=email_sent, email=email)


def create_account(data: Mapping[str, Any], *, password_hash: str | None, verified: bool = False) -> Any:
    """The one place an account is made, whichever way it comes (signup, an operator's
    ``create-user``, a provider login): insert and commit the declared extra columns of
    checked ``data``, its address, ``password_hash`` (None: no password) and, with
    ``verified``, the address verified now.

    :raises DuplicateEmail: the address has an account (decided by the unique index, also
        when two signups race).
    """
    state = get_state()
    fields = {**_model_fields(state.store.model, data), "email": data["email"], "password_hash": password_hash}
    if verified:
        fields["email_verified_at"] = utcnow()
    return state.store.create(fields)


def announce_account(user: Any, data: Mapping[str, Any]) -> None:
    """After a new account is committed: ``user_registered``, then the ``after_signup``
    hooks, both with ``data`` less any password."""
    public = {k: v for k, v in data.items() if k != "password"}
    signals.user_registered.send(app_sender(), user=user, data=public)
    get_state().extension.hooks.run("after_signup", user, public)


def _existing_account(existing: Any, email: str) -> SignupResult:
    if not current_app.config["REGISTRATION_PREVENT_ENUMERATION"]:
        raise ValidationError.from_fields(
            {"email": [("uniqueness", gettext("An account with this email address already exists."))]}
        )
    signals.signup_existing_email.send(app_sender(), user=existing)
    if not current_app.config["REGISTRATION_SEND_VERIFICATION_ON_SIGNUP"]:
        # The app sends its own emails: a new account gets none from us, so neither does
        # the owner of a taken address (the answers must not differ). The signal above
        # lets the app tell the owner itself.
        return SignupResult(user=None, created=False, email_sent=False, email=email)
    sent = send_mail(
        "existing_account",
        recipient=existing.email,
        subject=current_app.config["REGISTRATION_EXISTING_ACCOUNT_SUBJECT"],
        user=existing,
    )
    return SignupResult(user=None, created=False, email_sent=sent, email=email)


def create_user(data: Any, *, verified: bool = False) -> Any:
    """Create an account without a signup's emails (an operator's command, an import).

    The same checks and ``before_signup`` hooks as :func:`signup`; then
    ``user_registered`` and the ``after_signup`` hooks; then, with ``verified``, the
    address is marked verified as by :func:`~flask_registration.flows.verify.verify_user`
    (``before_confirm`` may still refuse: the account then exists, unverified).

    :returns: the new user.
    :raises ValidationError: bad data, a hook's veto, or an address that is taken (field
        ``email``, code ``uniqueness``): the caller is trusted, so enumeration
        prevention does not apply.
    """
    state = get_state()
    data = checked_new_user_data(data)
    taken = ValidationError.from_fields(
        {"email": [("uniqueness", gettext("This email address already has an account."))]}
    )
    if state.store.find_by_email(data["email"]) is not None:
        raise taken
    try:
        user = create_account(data, password_hash=state.passwords.hash(data["password"]))
    except DuplicateEmail:
        raise taken from None
    announce_account(user, data)
    if verified:
        verify_user(user)
    return user
