"""Mixins for the app's own model classes (the app owns the models; we own the columns)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import flask_login
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeEngine

try:  # the ``oauth`` extra; without it, OAuthMixin says what to install when it is used
    from flask_dance.consumer.storage.sqla import OAuthConsumerMixin as _OAuthConsumerMixin
except ImportError:  # pragma: no cover (the tests run with the extra)

    class _OAuthConsumerMixin:  # type: ignore[no-redef]
        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            if cls.__module__ != __name__:
                raise ImportError("OAuthMixin needs flask-dance: pip install 'flask-registration[oauth]'.")


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` with its zone (SQLite returns stored UTC times without one)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def python_type_of(kind: TypeEngine[Any]) -> type:
    """The Python type values of a column type have; ``str`` for a custom type that does
    not declare one (SQLAlchemy's base ``python_type`` would raise)."""
    if type(kind).python_type is TypeEngine.python_type:
        return str
    return kind.python_type


def new_stamp() -> str:
    """A fresh random auth stamp."""
    return secrets.token_hex(16)


def unverified_index(model: Any) -> Index:
    """The user table's index for the unverified accounts, oldest first (see
    :class:`UserMixin`), for a model that sets its own ``__table_args__``."""
    return Index(f"ix_{model.__tablename__}_unverified_created", "email_verified_at", "created_at")


class UserMixin(flask_login.UserMixin):
    """Columns flask_registration needs on the app's user model.

    Inherit it beside Flask-SQLAlchemy's model class and add any columns of your own::

        class User(db.Model, UserMixin):
            username: Mapped[str | None] = mapped_column(String(40), unique=True)

    ``email`` is stored in normal form, lower-cased, under a unique constraint: the
    database, not only a query, makes one account per address. ``pending_email`` holds a
    requested new address until its link is followed. ``auth_stamp`` is a random value
    that changes when the password does: it is part of the Flask-Login session id, so
    changing it logs out every session. ``deleted_at`` is set while the owner's request
    to delete the account waits out ``REGISTRATION_DELETE_GRACE``: the account is
    disabled meanwhile (see :doc:`lifecycle`). It is a Flask-Login user
    (``is_authenticated``, ``get_id``...).

    The table is made with SQLite's ``AUTOINCREMENT``, so that an id is never given out
    twice: without it SQLite hands the highest deleted id to the next row, and anything
    left pointing at the deleted user would pass to the new one. The index
    ``ix_<table>_unverified_created`` on ``(email_verified_at, created_at)`` serves
    ``list-unverified`` and ``purge-unverified`` (the unverified accounts, oldest first).
    A model that sets its own ``__table_args__`` replaces both and should include them:
    ``(unverified_index(cls), {"sqlite_autoincrement": True})`` (other databases never
    reuse ids).
    """

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:  # noqa: N805 (SQLAlchemy passes the class)
        return (unverified_index(cls), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    pending_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    auth_stamp: Mapped[str] = mapped_column(String(64), default=new_stamp, nullable=False)
    # Set while a deletion waits out REGISTRATION_DELETE_GRACE: the account is disabled.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)

    @property
    def email_verified(self) -> bool:
        """Whether the address has been verified (LoopBack's ``emailVerified``)."""
        return self.email_verified_at is not None

    def get_id(self) -> str:
        """The Flask-Login session id: ``"<id>:<auth_stamp>"``, so that a new stamp
        (password changed or reset) ends every session and remember cookie."""
        return f"{self.id}:{self.auth_stamp}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.email!r}>"


class LocaleMixin:
    """An optional column for the user model: ``locale``, the language of the user's
    emails, as a BCP 47 tag (``"de"``, ``"pt-BR"``). Add it beside
    :class:`UserMixin` (and to an existing table with a migration, see :doc:`migrations`)::

        class User(db.Model, UserMixin, LocaleMixin):
            ...

    When the model has a ``locale`` column (this one or the app's own), a signup through
    the library fills it with the language of the signup's request, and every email to
    the user is written in it, also those sent outside a request (the CLI's ``resend``, a
    worker). The app may change it (a language setting). See :doc:`translations`.
    """

    locale: Mapped[str | None] = mapped_column(String(35), nullable=True)


class AccessTokenMixin:
    """Columns of an access-token model, for JSON clients (LoopBack's ``AccessToken``).

    The token itself is never stored: ``id`` is the SHA-256 of it, so a copy of the
    table lets nobody in. Set ``__user_tablename__`` to the user model's table name
    (default ``"user"``, Flask-SQLAlchemy's name for a ``User`` class)::

        class AccessToken(db.Model, AccessTokenMixin):
            __user_tablename__ = "users"
    """

    __user_tablename__ = "user"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ttl: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    @declared_attr
    def user_id(cls) -> Mapped[Any]:  # noqa: N805 (SQLAlchemy passes the class)
        return mapped_column(ForeignKey(f"{cls.__user_tablename__}.id", ondelete="CASCADE"), index=True, nullable=False)

    def expires_at(self) -> datetime:
        """When the token stops working."""
        from datetime import timedelta

        return as_utc(self.created_at) + timedelta(seconds=self.ttl)


class SessionMixin:
    """Columns of a login-session model: one row per login, so that a logout ends that
    session on the server (a copy of its cookie stops working) and "log out everywhere"
    ends them all.

    Each login gets a random session id, kept in the signed cookie session (and in the
    "remember me" cookie); the row stores only its SHA-256, in ``id``. The session lives
    while its row does, until ``expires_at``. Set ``__user_tablename__`` as for
    :class:`AccessTokenMixin`, and pass the class as ``Registration(session_model=...)``::

        class LoginSession(db.Model, SessionMixin):
            __tablename__ = "login_sessions"
            __user_tablename__ = "users"
    """

    __user_tablename__ = "user"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    @declared_attr
    def user_id(cls) -> Mapped[Any]:  # noqa: N805 (SQLAlchemy passes the class)
        return mapped_column(ForeignKey(f"{cls.__user_tablename__}.id", ondelete="CASCADE"), index=True, nullable=False)

    def __repr__(self) -> str:  # never the digest: it names a live session
        return f"<{type(self).__name__} of user {self.user_id}>"


class OAuthMixin(_OAuthConsumerMixin):
    """Columns of the app's OAuth model: one row per provider account linked to a user.

    On top of flask-dance's ``OAuthConsumerMixin`` (``id``, ``provider``, ``token``,
    ``created_at``, here timezone-aware) it adds ``provider_user_id`` (the provider's id
    for the person) and ``user_id``. Set ``__user_tablename__`` as for
    :class:`AccessTokenMixin`, and pass the class as ``Registration(oauth_model=...)``::

        class OAuth(db.Model, OAuthMixin):
            __tablename__ = "oauth"
            __user_tablename__ = "users"

    Two unique constraints decide every race: ``(provider, provider_user_id)``, so a
    provider account belongs to one local user at most, and ``(provider, user_id)``, so
    a user has one account of each provider (flask-dance's storage reads one token per
    provider for the logged-in user). Rows go when their user does (``ON DELETE CASCADE``).
    """

    __user_tablename__ = "user"

    provider_user_id: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    @declared_attr
    def user_id(cls) -> Mapped[Any]:  # noqa: N805 (SQLAlchemy passes the class)
        return mapped_column(ForeignKey(f"{cls.__user_tablename__}.id", ondelete="CASCADE"), index=True, nullable=False)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:  # noqa: N805
        return (UniqueConstraint("provider", "provider_user_id"), UniqueConstraint("provider", "user_id"))
