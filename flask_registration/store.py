"""The one place that reads and writes users: a small store over Flask-SQLAlchemy."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from .errors import ValidationError
from .models import as_utc, new_stamp, python_type_of, utcnow
from .session_store import SessionStore
from .validation import taken_message


def token_digest(token: str) -> str:
    """How an access token is stored: its SHA-256 (the token has 256 random bits, so a
    fast hash is enough; a slow one would only slow every request)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class DuplicateEmail(Exception):
    """The database's unique index refused a second account for one address."""


class UserStore:
    """Reads and writes the app's user model through ``db.session``.

    The flows commit through it, so a vetoed or failed change never leaves anything
    half-written in the session. ``sessions`` is the store of login-session rows, or
    None without a session model.
    """

    def __init__(
        self, db: Any, user_model: Any, token_model: Any = None, *, session_model: Any = None, oauth_model: Any = None
    ) -> None:
        self.db = db
        self.model = user_model
        self.token_model = token_model
        self.sessions = SessionStore(db, session_model) if session_model is not None else None
        # The rows that let someone in as a user: deleted with the user, explicitly, as
        # a database that does not enforce foreign keys would keep them for the next
        # user given the id.
        self.credential_models = [m for m in (token_model, session_model, oauth_model) if m is not None]
        self._id_type = python_type_of(user_model.__table__.c.id.type)

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

    def get_by_session_id(self, session_id: Any) -> Any | None:
        """The user a Flask-Login session id names, or None when that session is over.

        The id is ``"<id>:<auth_stamp>"``; with a session model,
        ``"<id>:<auth_stamp>:<session id>"``, and its row must exist and not have
        expired. A new stamp (password changed, log out everywhere) ends every session.
        """
        if not isinstance(session_id, str) or ":" not in session_id:
            return None
        login = None
        if self.sessions is not None:
            if session_id.count(":") < 2:
                return None  # no row to check: made before the session model, or not by us
            session_id, login = session_id.rsplit(":", 1)
        user_id, stamp = session_id.rsplit(":", 1)
        user = self.get(user_id)
        if user is None or not hmac.compare_digest(str(user.auth_stamp).encode(), stamp.encode()):
            return None
        if user.deleted_at is not None:  # disabled while its deletion waits: no session lives
            return None
        if login is not None and not self.sessions.is_live(login, user):  # type: ignore[union-attr]
            return None
        return user

    def find_by_email(self, email: str) -> Any | None:
        """The user with this normalised address, or None."""
        return self.session.scalars(select(self.model).where(self.model.email == email)).first()

    def find_by_username(self, username: str) -> Any | None:
        """The user with this normalised username (see :mod:`flask_registration.usernames`), or None."""
        return self.session.scalars(select(self.model).where(self.model.username == username)).first()

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
            self._refuse_taken(fields)
            raise
        return user

    def update_user(self, user: Any, changes: dict[str, Any]) -> None:
        """Set the columns ``changes`` names on ``user`` and commit; if a unique index
        refuses a value (also in a race), roll back: nothing is written.

        :raises ValidationError: code ``uniqueness`` on each value another user has.
        """
        for name, value in changes.items():
            setattr(user, name, value)
        try:
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            self._refuse_taken(changes, other_than=user.id)
            raise

    def _refuse_taken(self, fields: dict[str, Any], *, other_than: Any = None) -> None:
        """Raise a ``uniqueness`` :class:`ValidationError` naming the app's own unique
        columns (e.g. ``username``) whose value in ``fields`` another user (not the one
        with id ``other_than``) has; return if there are none."""
        table = self.model.__table__
        taken = {}
        for name, value in fields.items():
            column = table.c.get(name)
            if column is None or name == "email" or value is None:
                continue
            unique = column.unique or any(
                getattr(c, "columns", None) is not None and list(c.columns) == [column] for c in table.constraints
            )
            others = select(self.model.id).where(column == value, self.model.id != other_than)
            if unique and self.session.scalars(others).first() is not None:
                taken[name] = [("uniqueness", taken_message(name))]
        if taken:
            raise ValidationError.from_fields(taken) from None

    def mark_verified(self, user: Any) -> bool:
        """Set ``email_verified_at`` once; True only for the call that set it.

        One conditional UPDATE, so that many concurrent confirms of one link agree on
        which of them verified the address. The winner knows the row's new state without
        reading it again: what was loaded, plus the time it set (two statements a confirm).
        """
        now = utcnow()
        result = self.session.execute(
            update(self.model)
            .where(self.model.id == user.id, self.model.email_verified_at.is_(None))
            .values(email_verified_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            self.session.commit()
            self.session.refresh(user)
            return False
        state = sa_inspect(user)
        loaded = {k: state.dict[k] for k in state.mapper.column_attrs.keys() if k in state.dict}
        self.session.commit()
        for key, value in {**loaded, "email_verified_at": now}.items():
            set_committed_value(user, key, value)
        return True

    def rotate_stamp(self, user: Any) -> bool:
        """Give ``user`` a new auth stamp (every session and remember cookie ends), in
        the current transaction.

        A conditional UPDATE on the stamp as it was read: of two changes racing with the
        same stamp (one reset link followed twice at once) only one gets True; the other
        must give up (its transaction is rolled back here).
        """
        old, new = user.auth_stamp, new_stamp()
        result = self.session.execute(
            update(self.model)
            .where(self.model.id == user.id, self.model.auth_stamp == old)
            .values(auth_stamp=new)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            self.session.rollback()
            return False
        user.auth_stamp = new
        return True

    def apply_pending_email(self, user: Any, new_email: str) -> bool:
        """Make ``new_email`` the address, verified, if it is still the pending one.

        One conditional UPDATE, so that of two racing change requests only the address
        whose link was followed can be applied, and only while it is still pending.

        :raises DuplicateEmail: another account took the address meanwhile.
        """
        try:
            result = self.session.execute(
                update(self.model)
                .where(self.model.id == user.id, self.model.pending_email == new_email)
                .values(email=new_email, pending_email=None, email_verified_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            self.session.commit()
        except IntegrityError:
            self.session.rollback()
            raise DuplicateEmail(new_email) from None
        self.session.refresh(user)
        return bool(result.rowcount == 1)

    # Unverified accounts (the operator's commands).

    def unverified(self, *, created_before: datetime | None = None) -> list[Any]:
        """Users whose address is not verified, oldest first; with ``created_before``,
        only those created before that time."""
        model = self.model
        query = select(model).where(model.email_verified_at.is_(None))
        if created_before is not None:
            query = query.where(model.created_at < created_before)
        return list(self.session.scalars(query.order_by(model.created_at, model.id)))

    def delete_unverified(self, *, created_before: datetime, limit: int | None = None) -> list[Any]:
        """Delete the users still unverified that were created before ``created_before``
        (the ``limit`` oldest of them: a purge's batch), with their access tokens, sessions
        and linked identities, in one transaction; return them (detached).

        The DELETE repeats both conditions, so an account verified meanwhile is kept.
        """
        model = self.model
        condition = (model.email_verified_at.is_(None), model.created_at < created_before)
        query = select(model).where(*condition).order_by(model.created_at, model.id).limit(limit)
        users = list(self.session.scalars(query))
        if not users:
            return []
        ids = [user.id for user in users]
        self._delete_credentials(select(model.id).where(model.id.in_(ids), *condition))
        result = self.session.execute(
            delete(model).where(model.id.in_(ids), *condition).execution_options(synchronize_session=False)
        )
        deleted = set(ids)
        if result.rowcount != len(ids):  # some were verified meanwhile (no RETURNING: MySQL has none)
            deleted -= set(self.session.scalars(select(model.id).where(model.id.in_(ids))))
        for user in users:
            self.session.expunge(user)
        self.session.commit()
        return [user for user in users if user.id in deleted]

    def delete_user(self, user: Any) -> None:
        """Delete ``user`` with its access tokens, sessions and linked identities; commit."""
        self._delete_credentials([user.id])
        self.session.delete(user)
        self.session.commit()

    # Deleting an account at its owner's request (flows/deletion.py).

    def delete_account(self, user: Any, *conditions: Any) -> bool:
        """Delete ``user`` with its access tokens, sessions and linked identities, in the
        current transaction (the caller commits, or rolls back on False); ``conditions``
        (on the user model) must still hold, or nothing of the user is deleted and the
        answer is False. ``user`` leaves the session either way.

        One DELETE by id, with the conditions repeated: of two racing deletions, or a
        purge racing a restore, only one wins.
        """
        model = self.model
        ids = select(model.id).where(model.id == user.id, *conditions)
        self._delete_credentials(ids)
        result = self.session.execute(
            delete(model).where(model.id == user.id, *conditions).execution_options(synchronize_session=False)
        )
        if user in self.session:
            self.session.expunge(user)
        return bool(result.rowcount == 1)

    def restore_account(self, user: Any) -> bool:
        """Clear ``deleted_at`` if it still holds the value read; commit. True only for
        the call that cleared it (a purge or another restore may have come first)."""
        model = self.model
        result = self.session.execute(
            update(model)
            .where(model.id == user.id, model.deleted_at == user.deleted_at)
            .values(deleted_at=None)
            .execution_options(synchronize_session=False)
        )
        self.session.commit()
        self.session.refresh(user)
        return bool(result.rowcount == 1)

    def deletion_due(self, cutoff: datetime, *, after: Any = None, limit: int = 100) -> list[Any]:
        """Up to ``limit`` users whose deletion was asked for before ``cutoff``, by id,
        those with an id over ``after`` only (a purge's next batch)."""
        model = self.model
        query = select(model).where(model.deleted_at.is_not(None), model.deleted_at <= cutoff)
        if after is not None:
            query = query.where(model.id > after)
        return list(self.session.scalars(query.order_by(model.id).limit(limit)))

    def sessions_of(self, user: Any) -> list[Any]:
        """``user``'s live session rows, oldest first (none without a session model)."""
        if self.sessions is None:
            return []
        model = self.sessions.model
        query = select(model).where(model.user_id == user.id, model.expires_at > utcnow())
        return list(self.session.scalars(query.order_by(model.created_at)))

    def tokens_of(self, user: Any) -> list[Any]:
        """``user``'s live access-token rows, oldest first (none without a token model)."""
        if self.token_model is None:
            return []
        model = self.token_model
        rows = self.session.scalars(select(model).where(model.user_id == user.id).order_by(model.created_at))
        now = utcnow()
        return [row for row in rows if row.expires_at() > now]

    def _delete_credentials(self, user_ids: Any) -> None:
        """Delete the credential rows of these users (a list, or a SELECT of ids), in
        the current transaction."""
        for credential in self.credential_models:
            self.session.execute(
                delete(credential).where(credential.user_id.in_(user_ids)).execution_options(synchronize_session=False)
            )

    # Access tokens (only with a token model).

    def create_token(self, user: Any, ttl_seconds: int) -> tuple[str, Any]:
        """Store a new access token for ``user``; return ``(token, row)``.

        The token is 32 random bytes; only its SHA-256 is stored.
        """
        token = secrets.token_urlsafe(32)
        row = self._token_model()(id=token_digest(token), user_id=user.id, ttl=ttl_seconds, created_at=utcnow())
        self.session.add(row)
        self.session.commit()
        return token, row

    def find_token(self, token: str) -> Any | None:
        """The live token row for ``token``, or None (an expired row is deleted)."""
        if self.token_model is None or not isinstance(token, str) or not 16 <= len(token) <= 128:
            return None
        row = self.session.get(self.token_model, token_digest(token))
        if row is None:
            return None
        if row.expires_at() <= utcnow():
            self.session.delete(row)
            self.session.commit()
            return None
        return row

    def delete_token(self, row: Any) -> None:
        """Revoke one token."""
        self.session.delete(row)
        self.session.commit()

    def delete_tokens(self, user: Any, *, keep: Any = None) -> None:
        """Revoke every token of ``user`` but ``keep`` (a row), in the current transaction."""
        if self.token_model is None:
            return
        query = delete(self.token_model).where(self.token_model.user_id == user.id)
        if keep is not None:
            query = query.where(self.token_model.id != keep.id)
        self.session.execute(query.execution_options(synchronize_session=False))

    def delete_expired_tokens(self, *, after: Any = None, limit: int = 1000) -> tuple[int, Any]:
        """Look at the next ``limit`` access tokens by id (those after ``after``), delete
        those past their ``ttl`` and commit: a purge's batch. Return how many were
        deleted, and the last id looked at (None when there were no more).

        Expiry is ``created_at + ttl``, compared in Python so that it works on every
        database (a live token is also dropped when presented after its time).
        """
        model = self.token_model
        if model is None:
            return 0, None
        query = select(model.id, model.created_at, model.ttl).order_by(model.id).limit(limit)
        rows = self.session.execute(query if after is None else query.where(model.id > after)).all()
        now = utcnow()
        expired = [row.id for row in rows if as_utc(row.created_at) + timedelta(seconds=row.ttl) <= now]
        if expired:
            doomed = delete(model).where(model.id.in_(expired))
            self.session.execute(doomed.execution_options(synchronize_session=False))
        self.session.commit()
        return len(expired), (rows[-1].id if rows else None)

    def _token_model(self) -> Any:
        if self.token_model is None:
            raise RuntimeError("Access tokens need Registration(token_model=...).")
        return self.token_model

    def save(self) -> None:
        """Commit pending changes to users."""
        self.session.commit()

    def rollback(self) -> None:
        """Drop pending changes."""
        self.session.rollback()
