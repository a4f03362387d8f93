"""The one place that reads and writes linked identities: the app's OAuth model
(a subclass of :class:`~flask_registration.OAuthMixin`), through ``db.session``.

:class:`IdentityStore` is the flows' store: the rows are plain SQLAlchemy objects. The
database's two unique constraints (one row per provider account, one account per
provider and user) decide every race; this store turns their refusals into
:class:`IdentityTaken`. :class:`TokenStorage` is flask-dance's storage over the same
model, for the app's own calls to a provider with the logged-in user's token.
"""

from __future__ import annotations

from typing import Any

import flask_login
from flask import Flask
from flask_dance.consumer.storage.sqla import SQLAlchemyStorage
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..state import get_state


class IdentityTaken(Exception):
    """The provider account is linked to another user, or the user already has another
    account of this provider linked (``which`` says: ``"identity"`` or ``"provider"``)."""

    def __init__(self, which: str) -> None:
        super().__init__(which)
        self.which = which


class IdentityStore:
    """Reads and writes the app's OAuth model (one row per linked provider account)."""

    def __init__(self, db: Any, model: Any, user_model: Any) -> None:
        self.db = db
        self.model = model
        self.user_model = user_model

    @property
    def session(self) -> Any:
        return self.db.session

    def find(self, provider: str, provider_user_id: str) -> Any | None:
        """The row of this provider account, or None."""
        model = self.model
        query = select(model).where(model.provider == provider, model.provider_user_id == provider_user_id)
        return self.session.scalars(query).first()

    def of_user(self, user: Any) -> list[Any]:
        """The user's rows, by provider name."""
        model = self.model
        return list(self.session.scalars(select(model).where(model.user_id == user.id).order_by(model.provider)))

    def link(self, user: Any, provider: str, provider_user_id: str, token: dict[str, Any]) -> Any:
        """Insert and commit the row that links this provider account to ``user``.

        :raises IdentityTaken: another user has this provider account (``"identity"``),
            or ``user`` already has another account of this provider (``"provider"``);
            decided by the unique constraints, so also under races.
        """
        row = self.model(provider=provider, provider_user_id=provider_user_id, user_id=user.id, token=dict(token))
        self.session.add(row)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            owner = self.find(provider, provider_user_id)
            if owner is not None and owner.user_id == user.id:
                return owner  # the same link, made meanwhile by a second callback
            raise IdentityTaken("identity" if owner is not None else "provider") from None
        return row

    def delete_all(self, user: Any) -> None:
        """Delete every row of ``user``, in the current transaction (the caller commits)."""
        self.session.execute(
            delete(self.model).where(self.model.user_id == user.id).execution_options(synchronize_session=False)
        )

    def save_token(self, row: Any, token: dict[str, Any]) -> None:
        """Keep the newest token the provider gave for this row."""
        row.token = dict(token)
        self.session.commit()

    def unlink(self, user: Any, provider: str, *, keep_last: bool) -> bool | None:
        """Delete the user's row for ``provider`` and commit.

        With ``keep_last``, the row is kept when it is the user's only one. The user's
        row is locked first (``SELECT ... FOR UPDATE`` where the database has it), so
        two unlinks at once cannot both see "another one is left" and remove both.

        :returns: True when deleted, False when kept as the last one, None when the
            user has no row for ``provider``.
        """
        users = self.user_model
        self.session.execute(select(users.id).where(users.id == user.id).with_for_update())
        model = self.model
        row = self.session.scalars(select(model).where(model.user_id == user.id, model.provider == provider)).first()
        if row is None:
            self.session.rollback()
            return None
        if keep_last:
            count = self.session.scalar(select(func.count()).select_from(model).where(model.user_id == user.id))
            if count <= 1:
                self.session.rollback()
                return False
        self.session.delete(row)
        self.session.commit()
        return True

    def delete_user(self, user: Any) -> None:
        """Remove a user created a moment ago whose identity could not be linked (with
        any token, session or identity row it has: the user store deletes them)."""
        get_state().store.delete_user(user)


def get_identities(app: Flask | None = None) -> IdentityStore:
    """The identity store of ``app`` (default: the current app).

    :raises RuntimeError: the app has no OAuth model (``Registration(oauth_model=...)``).
    """
    oauth = get_state(app).oauth
    if oauth is None:
        raise RuntimeError(
            "Third-party login is not set up on this app: pass oauth_model= to Registration or init_app."
        )
    return oauth.identities


class TokenStorage(SQLAlchemyStorage):
    """flask-dance's SQLAlchemy storage over the app's OAuth model, for the logged-in
    user: ``github.get("/user/repos")`` in an app's view uses that user's token.

    ``set`` (flask-dance calls it when it refreshes a token) updates the token of the
    user's linked identity; ``delete`` forgets the token but keeps the link (unlinking is
    a flow with rules: see :func:`~flask_registration.oauth.flows.unlink_identity`).
    """

    def __init__(self, model: Any, db: Any) -> None:
        super().__init__(model, db.session, user=flask_login.current_user, user_required=False)

    @staticmethod
    def _user_id(user: Any, user_id: Any) -> Any:
        if user_id is not None:
            return user_id
        user = user if user is not None else flask_login.current_user
        return user.id if getattr(user, "is_authenticated", False) else None

    def get(self, blueprint: Any, user: Any = None, user_id: Any = None) -> Any:
        uid = self._user_id(user, user_id)
        return super().get(blueprint, user_id=uid) if uid is not None else None

    def _row(self, blueprint: Any, user: Any, user_id: Any) -> Any:
        uid = self._user_id(user, user_id)
        row = self.session.query(self.model).filter_by(provider=blueprint.name, user_id=uid).first()
        if row is None:
            raise ValueError(f"No {blueprint.name} identity is linked to this user.")
        return row

    def set(self, blueprint: Any, token: Any, user: Any = None, user_id: Any = None) -> None:
        self._row(blueprint, user, user_id).token = dict(token)
        self.session.commit()

    def delete(self, blueprint: Any, user: Any = None, user_id: Any = None) -> None:
        self._row(blueprint, user, user_id).token = {}
        self.session.commit()
