"""Usernames, when ``REGISTRATION_LOGIN_FIELDS`` lets people log in with one.

A username is then stored in one normal form, as an address is: surrounding spaces
dropped, Unicode NFKC, case folded (``"Ａlice"``, ``"ALICE"`` and ``"alice"`` are one
name). The app's ``username`` column keeps that form under its unique index, so the
database, not a query, makes one account per username, also when signups race.

A username never contains ``@``: a login field that holds an ``@`` is an address, one
that does not is a username, and no typed value can be read both ways. Spaces and
invisible characters are refused too, so two names that look alike on screen are not
two different accounts.

Without ``"username"`` in ``REGISTRATION_LOGIN_FIELDS``, a ``username`` column is one of
the app's own fields like any other, and none of this applies.
"""

from __future__ import annotations

import unicodedata
from collections.abc import MutableMapping
from typing import Any

from flask import current_app
from sqlalchemy import Index, UniqueConstraint
from sqlalchemy import inspect as sa_inspect

from .errors import ValidationError
from .i18n import gettext

#: The field (and column) name of a username.
USERNAME = "username"


def username_login() -> bool:
    """Whether people may log in with a username (``REGISTRATION_LOGIN_FIELDS``)."""
    return USERNAME in current_app.config["REGISTRATION_LOGIN_FIELDS"]


def normalize_username(value: Any) -> str:
    """The normal form of a username: spaces around it dropped, NFKC, case folded.

    :raises ValidationError: field ``username``, code ``type`` (not text), ``presence``
        (empty) or ``format`` (an ``@``, a space, or an invisible character).
    """
    if not isinstance(value, str):
        raise ValidationError(gettext("The username must be text."), field=USERNAME, field_code="type")
    name = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value.strip()).casefold())
    if not name:
        raise ValidationError(gettext("Enter a username."), field=USERNAME, field_code="presence")
    if "@" in name:
        raise ValidationError(gettext("A username cannot contain @."), field=USERNAME, field_code="format")
    # Categories Z* (spaces) and C* (control, format, surrogate, unassigned, private use).
    if any(unicodedata.category(c)[0] in "ZC" for c in name):
        raise ValidationError(
            gettext("A username cannot contain spaces or invisible characters."), field=USERNAME, field_code="format"
        )
    return name


def normalize_username_field(data: MutableMapping[str, Any]) -> None:
    """With username login on, put ``data["username"]`` (when present) in normal form,
    in place; an empty one (``""`` or null) becomes None: no username.

    :raises ValidationError: see :func:`normalize_username`.
    """
    if not username_login() or USERNAME not in data:
        return
    value = data[USERNAME]
    if value is None or (isinstance(value, str) and not value.strip()):
        data[USERNAME] = None
    else:
        data[USERNAME] = normalize_username(value)


def check_username_column(model: Any) -> None:
    """At ``init_app`` with username login on: the user model must map a ``username``
    column with a unique constraint or index of its own.

    :raises RuntimeError: it does not.
    """
    table = model.__table__
    column = table.c.get(USERNAME)
    example = "username: Mapped[str | None] = mapped_column(String(40), unique=True)"
    if column is None or USERNAME not in sa_inspect(model).column_attrs.keys():
        raise RuntimeError(
            f"REGISTRATION_LOGIN_FIELDS includes 'username', so the user model needs a username column: {example}."
        )
    unique = column.unique or any(
        isinstance(item, UniqueConstraint | Index)
        and (isinstance(item, UniqueConstraint) or item.unique)
        and list(item.columns) == [column]
        for item in (*table.constraints, *table.indexes)
    )
    if not unique:
        raise RuntimeError(
            "REGISTRATION_LOGIN_FIELDS includes 'username': the username column must be unique, so that "
            f"the database decides between two accounts asking for one name ({example})."
        )
