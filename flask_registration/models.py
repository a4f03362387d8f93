"""Mixins for the app's own model classes (the app owns the models; we own the columns)."""

from __future__ import annotations

from datetime import UTC, datetime

import flask_login
from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UserMixin(flask_login.UserMixin):
    """Columns flask_registration needs on the app's user model.

    Inherit it beside Flask-SQLAlchemy's model class and add any columns of your own::

        class User(db.Model, UserMixin):
            username: Mapped[str | None] = mapped_column(String(40), unique=True)

    ``email`` is stored in normal form, lower-cased, under a unique constraint: the
    database, not only a query, makes one account per address. It is a Flask-Login user
    (``is_authenticated``, ``get_id``...).
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    @property
    def email_verified(self) -> bool:
        """Whether the address has been verified (LoopBack's ``emailVerified``)."""
        return self.email_verified_at is not None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.email!r}>"
