"""The one place that reads and writes second factors: the app's factor model (a subclass
of :class:`~flask_registration.factors.FactorMixin`), through ``db.session``.

Every change of a factor's state is one conditional UPDATE on its ``revision``
(:meth:`FactorStore.update`): of two requests that use the same TOTP code or recovery
code at once, or replay one passkey assertion, only one changes the row; the other is
told it lost and refuses. Adding a factor of which a user may have one (the
authenticator app, the recovery codes) locks the user's row first (``SELECT ... FOR
UPDATE`` where the database has it), as unlinking a provider does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError, InvalidRequestError

from ..models import utcnow
from .models import KINDS


class FactorExists(Exception):
    """The user already has a factor of this kind (``"totp"``), or the passkey's
    credential is already registered (``"credential"``)."""

    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


class FactorStore:
    """Reads and writes the app's factor model."""

    def __init__(self, db: Any, model: Any, user_model: Any) -> None:
        self.db = db
        self.model = model
        self.user_model = user_model

    @property
    def session(self) -> Any:
        return self.db.session

    def of_user(self, user: Any, kind: str | None = None) -> list[Any]:
        """The user's factors (of one kind), oldest first."""
        model = self.model
        query = select(model).where(model.user_id == user.id)
        if kind is not None:
            query = query.where(model.kind == kind)
        return list(self.session.scalars(query.order_by(model.created_at, model.id)))

    def one(self, user: Any, kind: str) -> Any | None:
        """The user's factor of a kind a user has one of at most, or None."""
        found = self.of_user(user, kind)
        return found[0] if found else None

    def get(self, user: Any, factor_id: Any, kind: str | None = None) -> Any | None:
        """The user's factor with this id (and kind), or None (also for an id of the
        wrong shape, or another user's)."""
        try:
            key = int(factor_id)
        except (TypeError, ValueError):
            return None
        if not -(2**63) <= key < 2**63 or isinstance(factor_id, bool):
            return None
        row = self.session.get(self.model, key)
        if row is None or row.user_id != user.id or (kind is not None and row.kind != kind):
            return None
        return row

    def by_credential(self, digest: str) -> Any | None:
        """The passkey whose credential id has this digest, or None."""
        model = self.model
        return self.session.scalars(select(model).where(model.credential_digest == digest)).first()

    def count(self, user: Any) -> int:
        """How many factors the user has."""
        model = self.model
        return int(self.session.scalar(select(func.count()).select_from(model).where(model.user_id == user.id)) or 0)

    def lock_user(self, user: Any) -> None:
        """Lock ``user``'s row until the transaction ends (``SELECT ... FOR UPDATE``
        where the database has it): changes that depend on the user's other factors
        happen one after the other."""
        users = self.user_model
        self.session.execute(select(users.id).where(users.id == user.id).with_for_update())

    def add(
        self,
        user: Any,
        kind: str,
        data: dict[str, Any],
        *,
        name: str | None = None,
        credential_digest: str | None = None,
        replace: bool = False,
    ) -> Any:
        """Insert and commit a factor of ``kind`` for ``user``.

        For a kind a user has one of (not a passkey), the user's row is locked first;
        with ``replace`` the old one is deleted in the same transaction (new recovery
        codes), else an existing one is refused.

        :raises FactorExists: ``"totp"``/``"recovery_codes"``: the user has one already;
            ``"credential"``: this passkey is registered already (to anyone).
        """
        if kind not in KINDS:
            raise ValueError(f"Unknown factor kind {kind!r}.")
        model = self.model
        if credential_digest is None:
            self.lock_user(user)
            existing = self.session.scalars(select(model).where(model.user_id == user.id, model.kind == kind)).all()
            if existing and not replace:
                self.session.rollback()
                raise FactorExists(kind)
            for row in existing:
                self.session.delete(row)
        row = model(
            user_id=user.id, kind=kind, name=name, credential_digest=credential_digest, data=data, created_at=utcnow()
        )
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise FactorExists("credential") from None
        return row

    def update(self, row: Any, data: dict[str, Any], *, used: bool = True, name: str | None = None) -> bool:
        """Replace ``row``'s ``data`` (and ``last_used_at`` when ``used``) if nobody
        changed it since it was read; commit. False when another request did first (the
        row is then reloaded): the caller must refuse what it was doing.
        """
        values: dict[str, Any] = {"data": data, "revision": row.revision + 1}
        if used:
            values["last_used_at"] = utcnow()
        if name is not None:
            values["name"] = name
        model = self.model
        result = self.session.execute(
            update(model)
            .where(model.id == row.id, model.revision == row.revision)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        self._reload(row)
        return bool(result.rowcount == 1)

    def rename(self, row: Any, name: str) -> None:
        """Give a passkey a new name; commit."""
        row.name = name
        self.session.commit()

    def _reload(self, row: Any) -> None:
        if row not in self.session:
            return
        try:
            self.session.refresh(row)
        except InvalidRequestError:  # deleted meanwhile: nothing to reload
            self.session.expunge(row)

    def delete(self, row: Any) -> bool:
        """Delete one factor and commit; False when it was gone already."""
        model = self.model
        result = self.session.execute(
            delete(model).where(model.id == row.id).execution_options(synchronize_session=False)
        )
        self.session.commit()
        return bool(result.rowcount == 1)

    def delete_all(self, user: Any, *, commit: bool = True) -> int:
        """Delete every factor of ``user`` and commit (or, without ``commit``, leave it to
        the caller's transaction); return how many there were."""
        model = self.model
        result = self.session.execute(
            delete(model).where(model.user_id == user.id).execution_options(synchronize_session=False)
        )
        if commit:
            self.session.commit()
        return int(result.rowcount or 0)
