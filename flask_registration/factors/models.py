"""The mixin of the app's factor model: one row per second factor of a user (a passkey,
the authenticator app, the set of recovery codes).

One table for every kind, as django-allauth's ``Authenticator``, rather than one per kind
(Flask-Security-Too keeps WebAuthn credentials in a table and the TOTP secret and
recovery codes in columns of the user): one migration, one place that lists, counts and
deletes a user's factors (``flask registration reset-factors``, account deletion), and a
new kind of factor needs no new table. What differs between kinds lives in ``data`` (JSON).
Two things need columns of their own: the passkey's credential id, which a login looks up
(``credential_digest``, indexed and unique), and ``revision``, which makes every change of
a factor's state (a TOTP step used, a recovery code spent, a passkey's sign counter) a
conditional UPDATE, so that two requests racing with one code cannot both succeed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ..models import utcnow

#: The kinds of factor (``FactorMixin.kind``).
PASSKEY = "passkey"
TOTP = "totp"
RECOVERY_CODES = "recovery_codes"
KINDS = (PASSKEY, TOTP, RECOVERY_CODES)


class FactorMixin:
    """Columns of the app's factor model. Set ``__user_tablename__`` as for
    :class:`~flask_registration.AccessTokenMixin`, and pass the class as
    ``Registration(factor_model=...)``::

        from flask_registration.factors import FactorMixin

        class Factor(db.Model, FactorMixin):
            __tablename__ = "factors"
            __user_tablename__ = "users"

    - ``kind``: ``"passkey"``, ``"totp"`` or ``"recovery_codes"``; a user has at most one
      row of the last two (the flows lock the user's row while they add one).
    - ``name``: what the owner calls a passkey ("Laptop"); None for the other kinds.
    - ``credential_digest``: for a passkey, the SHA-256 (hex) of its credential id: a
      fixed length keeps the unique index portable (a credential id may have 1,023
      bytes), and a login finds the passkey by it. None for the other kinds.
    - ``data``: the kind's own state (JSON): a passkey's public key, sign counter and
      backup flags; the TOTP secret and the last time step used; the recovery codes'
      digests.
    - ``revision``: raised by one at every change of ``data``; changes are conditional
      on it (see :class:`~flask_registration.factors.store.FactorStore`).
    - ``created_at``, ``last_used_at``.

    Rows go when their user does (``ON DELETE CASCADE``, and the user store deletes them
    too, for databases that do not enforce foreign keys).
    """

    __user_tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    credential_digest: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @declared_attr
    def user_id(cls) -> Mapped[Any]:  # noqa: N805 (SQLAlchemy passes the class)
        return mapped_column(ForeignKey(f"{cls.__user_tablename__}.id", ondelete="CASCADE"), index=True, nullable=False)

    def __repr__(self) -> str:  # never ``data``: it holds secrets
        return f"<{type(self).__name__} {self.kind} {self.id} of user {self.user_id}>"
