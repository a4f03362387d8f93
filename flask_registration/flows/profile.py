"""The profile: the owner reads and changes the declared fields of their own account.

The fields are ``REGISTRATION_PROFILE_FIELDS`` (None: those of
``REGISTRATION_SIGNUP_FIELDS``) that are columns of the app's user model. Nothing else
can be changed this way: the address, its verification, the password, ids, stamps and
dates each have a process of their own (or none), and a field the app did not declare
may be one the app keeps for itself. A change naming any of them is refused whole
(LoopBack's ``rejectPasswordChangesViaPatchOrReplace``, always on, for every field).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import MappedColumn

from .. import signals
from ..config import PROTECTED_FIELDS
from ..errors import AuthorizationRequired, ValidationError
from ..i18n import N_, gettext
from ..models import UserMixin
from ..signals import app_sender
from ..state import get_state
from ..usernames import normalize_username_field
from ..validation import check_payload, field_label
from .signup import check_column_values

#: What a refusal says of the library's own fields, in LoopBack's names and ours.
_PROTECTED_MESSAGES = {
    "email": N_(
        "The email address cannot be changed here: ask for a change of address, which confirms the new one by email."
    ),
    "password": N_("The password cannot be changed here: change it with the current password, or reset it by email."),
    "emailVerified": N_("Whether the address is verified is set by its confirmation link, not here."),
}
_PROTECTED_MESSAGES["email_verified_at"] = _PROTECTED_MESSAGES["emailVerified"]
_PROTECTED_MESSAGES["password_hash"] = _PROTECTED_MESSAGES["password"]

#: The 401 a logged-in user gets for any account but their own, existing or not.
NOT_YOURS = N_("Authorization required: you can only read and change your own account.")


def library_columns() -> frozenset[str]:
    """The columns :class:`~flask_registration.UserMixin` gives the model: never profile
    fields, whatever the settings say."""
    return frozenset(name for name, value in vars(UserMixin).items() if isinstance(value, MappedColumn))


def check_profile_setup(model: Any, config: Mapping[str, Any]) -> None:
    """At ``init_app``: each name in ``REGISTRATION_PROFILE_FIELDS`` must be a column of
    the app's own, mapped on ``model`` (a typo, or a name that is not saved, is an
    error here rather than a field nobody can change).

    :raises RuntimeError: naming the first field that is not.
    """
    names = config["REGISTRATION_PROFILE_FIELDS"]
    mapped = set(sa_inspect(model).column_attrs.keys())
    for name in names or ():
        if name in library_columns():
            raise RuntimeError(f"REGISTRATION_PROFILE_FIELDS cannot name {name!r}: it is a column of UserMixin.")
        if name not in mapped or name not in model.__table__.c:
            raise RuntimeError(
                f"REGISTRATION_PROFILE_FIELDS names {name!r}, which is not a column of {model.__name__}: "
                "only the model's own columns can be profile fields."
            )


def declared_fields(app: Flask | None = None) -> tuple[str, ...]:
    """The profile fields of ``app`` (default: the current app): ``REGISTRATION_PROFILE_FIELDS``
    (None: ``REGISTRATION_SIGNUP_FIELDS``), less any that is not a column of the app's own."""
    config = (app or current_app).config
    names = config["REGISTRATION_PROFILE_FIELDS"]
    if names is None:
        names = config["REGISTRATION_SIGNUP_FIELDS"]
    model = get_state(app).store.model
    mapped = set(sa_inspect(model).column_attrs.keys())
    skip = PROTECTED_FIELDS | library_columns()
    return tuple(n for n in names if n in mapped and n in model.__table__.c and n not in skip)


def check_owner(user: Any, user_id: Any) -> None:
    """Refuse ``user`` any account but their own: one answer for an id that exists and
    one that does not (nothing is looked up), so no one learns which ids exist.

    :raises AuthorizationRequired: 401 ``AUTHORIZATION_REQUIRED``.
    """
    if user_id != user.id:
        raise AuthorizationRequired(gettext(NOT_YOURS))


def _refusal(names: list[str]) -> ValidationError:
    """One 422 naming every field that cannot be changed here (field code ``protected``):
    code ``PASSWORD_CHANGE_NOT_ALLOWED`` (LoopBack's) when ``password`` is one of them,
    else ``PROTECTED_FIELD``."""
    fields = {}
    for name in names:
        shown = name[:64]
        known = _PROTECTED_MESSAGES.get(name)
        message = (
            gettext(known) if known else gettext("The %(field)s cannot be changed here.", field=field_label(shown))
        )
        fields[shown] = [("protected", message)]
    error = ValidationError.from_fields(fields)
    error.code = "PASSWORD_CHANGE_NOT_ALLOWED" if "password" in names else "PROTECTED_FIELD"
    return error


def check_changes(data: Any, *, replace: bool = False) -> dict[str, Any]:
    """The changes ``data`` asks for, checked: only declared fields, each a value its
    column takes (a username in its normal form). With ``replace``, every declared
    field missing from ``data`` is set to null.

    :raises ValidationError: 422 ``INVALID_BODY`` (not an object), ``PROTECTED_FIELD`` or
        ``PASSWORD_CHANGE_NOT_ALLOWED`` (a field that cannot be changed here), or
        ``VALIDATION_ERROR`` (a value that does not fit: codes ``type``, ``length``,
        ``presence``, ``format``).
    """
    if not isinstance(data, Mapping):
        raise ValidationError(gettext("The request body must be a JSON object."), code="INVALID_BODY")
    allowed = declared_fields()
    refused = [str(name) for name in data if name not in allowed]
    if refused:
        raise _refusal(refused)
    changes = check_payload(data, required=(), optional=allowed)
    if replace:
        changes = {name: changes.get(name) for name in allowed}
    normalize_username_field(changes)
    check_column_values(get_state().store.model, changes, allowed)
    return changes


def update_profile(user: Any, data: Any, *, replace: bool = False) -> dict[str, Any]:
    """Change ``user``'s profile fields from submitted ``data``: the given fields
    (``PATCH``), or every declared field, those missing set to null (``replace``,
    ``PUT``).

    Order: check the changes (:func:`check_changes`); ``before_update`` hooks with
    ``(user, changes)``, which may change ``changes`` in place or veto by raising; check
    again; write and commit (a unique column decides between two users asking for one
    value); ``profile_updated``; ``after_update`` hooks with ``(user, changes)``. A
    refusal at any step writes nothing. No change at all writes nothing and sends
    nothing.

    :returns: the changes written.
    :raises ValidationError: see :func:`check_changes`; code ``uniqueness`` for a value
        another user has; or a hook's veto.
    """
    state = get_state()
    changes = check_changes(data, replace=replace)
    state.extension.hooks.run("before_update", user, changes)
    changes = check_changes(changes)  # a hook may have changed them
    if not changes:
        return changes
    state.store.update_user(user, changes)
    signals.profile_updated.send(app_sender(), user=user, changes=dict(changes))
    state.extension.hooks.run("after_update", user, dict(changes))
    return changes
