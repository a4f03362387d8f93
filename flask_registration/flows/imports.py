"""Bring users over from LoopBack 3: their bcrypt hashes keep working.

A LoopBack ``User`` export (``User.find()`` as JSON, or rows of its table) becomes
accounts of the app's user model. Password hashes are copied as they are; the first
successful login checks the bcrypt hash and replaces it with argon2id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import ValidationError
from ..models import utcnow
from ..passwords import BCRYPT_PREFIXES
from ..state import get_state
from ..store import DuplicateEmail
from ..usernames import normalize_username_field
from ..validation import normalize_email


@dataclass
class ImportReport:
    """What :func:`import_loopback_users` did: addresses created, and those skipped with
    the reason (``"invalid email"``, ``"invalid username"``, ``"unknown password hash"``,
    ``"exists"``)."""

    created: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _created_at(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def import_loopback_users(records: Iterable[Mapping[str, Any]], *, fields: Iterable[str] = ()) -> ImportReport:
    """Create one account per LoopBack user record; call inside an app context.

    Each record has ``email``, ``password`` (LoopBack's bcrypt hash, ``$2a$...``),
    ``emailVerified`` and optionally ``created``. ``fields`` names other record keys to
    copy into columns of the same name (e.g. ``username``). Addresses are normalised
    (lower-case, as this library stores them: LoopBack's ``caseSensitiveEmail`` is not
    kept); an address that already has an account is skipped, never overwritten.
    """
    store = get_state().store
    columns = set(store.model.__table__.c.keys())
    report = ImportReport()
    for record in records:
        raw = record.get("email")
        try:
            email = normalize_email(raw, check_deliverability=False) if isinstance(raw, str) else None
        except ValidationError:
            email = None
        if email is None:
            report.skipped.append((str(raw), "invalid email"))
            continue
        password_hash = record.get("password")
        if not isinstance(password_hash, str) or not password_hash.startswith(BCRYPT_PREFIXES + ("$argon2",)):
            report.skipped.append((email, "unknown password hash"))
            continue
        created = _created_at(record.get("created")) or utcnow()
        values: dict[str, Any] = {
            "email": email,
            "password_hash": password_hash,
            "created_at": created,
            "email_verified_at": created if record.get("emailVerified") is True else None,
        }
        values.update({name: record[name] for name in fields if name in record and name in columns})
        try:  # with username login, usernames are stored in the form login looks them up by
            normalize_username_field(values)
        except ValidationError:
            report.skipped.append((email, "invalid username"))
            continue
        if store.find_by_email(email) is not None:
            report.skipped.append((email, "exists"))
            continue
        try:
            store.create(values)
        except (DuplicateEmail, ValidationError):
            report.skipped.append((email, "exists"))
            continue
        report.created.append(email)
    return report
