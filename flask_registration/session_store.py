"""The one place that reads and writes login-session rows: the app's session model (a
subclass of :class:`~flask_registration.SessionMixin`), through ``db.session``.

A session id is 32 random bytes; only its SHA-256 is stored, so a copy of the table
names no live session. The id itself is never logged, nor shown in a row's ``repr``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from .models import as_utc, utcnow


def session_digest(session_id: str) -> str:
    """How a session id is stored: the SHA-256 of ``"session:" + id`` (a prefix of its
    own, so that the digest of a session id never equals that of an access token)."""
    return hashlib.sha256(f"session:{session_id}".encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    """Reads and writes the app's session model (one row per login)."""

    def __init__(self, db: Any, model: Any) -> None:
        self.db = db
        self.model = model

    @property
    def session(self) -> Any:
        return self.db.session

    def create(self, user: Any, lifetime: timedelta) -> str:
        """Store a new session of ``user`` that ends after ``lifetime``; commit and
        return its id. The user's expired rows are deleted on the way, so the table
        holds about one row per live login."""
        model = self.model
        now = utcnow()
        self.session.execute(
            delete(model)
            .where(model.user_id == user.id, model.expires_at <= now)
            .execution_options(synchronize_session=False)
        )
        session_id = secrets.token_urlsafe(32)
        self.session.add(
            model(id=session_digest(session_id), user_id=user.id, created_at=now, expires_at=now + lifetime)
        )
        self.session.commit()
        return session_id

    def is_live(self, session_id: str, user: Any) -> bool:
        """Whether ``session_id`` names a session of ``user`` that has not ended (an
        expired row is deleted)."""
        if not 16 <= len(session_id) <= 128:
            return False
        row = self.session.get(self.model, session_digest(session_id))
        if row is None or row.user_id != user.id:
            return False
        if as_utc(row.expires_at) <= utcnow():
            self.session.delete(row)
            self.session.commit()
            return False
        return True

    def delete(self, session_id: str) -> None:
        """End one session, and commit."""
        self.session.execute(
            delete(self.model)
            .where(self.model.id == session_digest(session_id))
            .execution_options(synchronize_session=False)
        )
        self.session.commit()

    def delete_all(self, user: Any, *, keep: str | None = None) -> None:
        """End every session of ``user`` but ``keep`` (a session id), in the current
        transaction (the caller commits)."""
        query = delete(self.model).where(self.model.user_id == user.id)
        if keep is not None:
            query = query.where(self.model.id != session_digest(keep))
        self.session.execute(query.execution_options(synchronize_session=False))
