"""The one place that reads and writes users: a small store over Flask-SQLAlchemy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .errors import ValidationError
from .models import utcnow


class DuplicateEmail(Exception):
    """The database's unique index refused a second account for one address."""


class UserStore:
    """Reads and writes the app's user model through ``db.session``.

    The flows commit through it, so a vetoed or failed change never leaves anything
    half-written in the session.
    """

    def __init__(self, db: Any, user_model: Any) -> None:
        self.db = db
        self.model = user_model
        pk_type = user_model.__table__.c.id.type
        try:
            self._id_type: type = pk_type.python_type
        except NotImplementedError:  # a custom type without python_type
            self._id_type = str

    @property
    def session(self) -> Any:
        return self.db.session

    def get(self, user_id: Any) -> Any | None:
        """The user with this id, or None (also for an id of the wrong shape)."""
        try:
            key = self._id_type(user_id)
        except (TypeError, ValueError):
            return None
        if isinstance(key, int) and not -(2**63) <= key < 2**63:
            return None
        return self.session.get(self.model, key)

    def find_by_email(self, email: str) -> Any | None:
        """The user with this normalised address, or None."""
        return self.session.scalars(select(self.model).where(self.model.email == email)).first()

    def create(self, fields: dict[str, Any]) -> Any:
        """Insert and commit a user; raise :class:`DuplicateEmail` if the address is taken."""
        user = self.model(**fields)
        self.session.add(user)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            if self.find_by_email(fields["email"]) is not None:
                raise DuplicateEmail(fields["email"]) from None
            taken = self._taken_unique_fields(fields)
            if not taken:
                raise
            raise ValidationError.from_fields(
                {name: [("uniqueness", "is already taken.")] for name in taken}
            ) from None
        return user

    def _taken_unique_fields(self, fields: dict[str, Any]) -> list[str]:
        """The app's own unique columns (e.g. ``username``) whose value is already used."""
        table = self.model.__table__
        taken = []
        for name, value in fields.items():
            column = table.c.get(name)
            if column is None or name == "email" or value is None:
                continue
            unique = column.unique or any(
                getattr(c, "columns", None) is not None and list(c.columns) == [column] for c in table.constraints
            )
            if unique and self.session.scalars(select(self.model).where(column == value)).first() is not None:
                taken.append(name)
        return taken

    def mark_verified(self, user: Any) -> bool:
        """Set ``email_verified_at`` once; True only for the call that set it.

        One conditional UPDATE, so that many concurrent confirms of one link agree on
        which of them verified the address.
        """
        result = self.session.execute(
            update(self.model)
            .where(self.model.id == user.id, self.model.email_verified_at.is_(None))
            .values(email_verified_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        self.session.refresh(user)
        return bool(result.rowcount == 1)

    def save(self) -> None:
        """Commit pending changes to users."""
        self.session.commit()

    def rollback(self) -> None:
        """Drop pending changes."""
        self.session.rollback()
