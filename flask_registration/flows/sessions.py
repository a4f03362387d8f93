"""Login sessions that end on the server: start, renew, end, and log out everywhere.

Flask keeps the session in a signed cookie, so the server has nothing to delete at
logout: a copy of the cookie made before it (by malware, a shared computer, a proxy log)
would keep working until the cookie's own expiry, and Flask-Login's "remember me" cookie
for ever. So each login is recorded on the server:

- The login gets a random session id (32 bytes). The cookie session holds
  ``"<id>:<auth_stamp>:<session id>"`` as Flask-Login's user id, and so does the
  remember cookie, which Flask-Login makes from it. The session model's table holds the
  SHA-256 of the session id, with its user, creation time and expiry
  (``PERMANENT_SESSION_LIFETIME``, or ``REMEMBER_COOKIE_DURATION`` with "remember me").
- The user loader accepts the cookie only while the stamp is the user's and that row
  lives. Logout deletes the row; "log out everywhere" gives the user a new stamp and
  deletes every row and access token; a password change or reset deletes the other rows
  (a change keeps the current one).
- Without a session model (``Registration(session_model=...)``) there is no row to
  delete: logout gives the user a new stamp instead, which ends every session and
  remember cookie of that user, in every browser.

A row per login, rather than a list of revoked cookies, keeps the check a primary-key
lookup and makes an expired session disappear by itself. The session id is a secret: it
is never logged, and only its digest is stored.

Every login also starts a new cookie session (session fixation): whatever a visitor's
session held before, a CSRF token above all, is dropped, except :data:`KEPT_AT_LOGIN`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import flask_login
from flask import current_app, g, session

from .. import signals
from .._compat import REMEMBER_SESSION_KEY, forget_csrf_token, remember_duration
from ..errors import RegistrationError
from ..i18n import gettext
from ..state import get_state

#: What a login keeps of the cookie session it replaces: flashed messages, where a
#: provider login goes next, and which addresses this browser signed up (digests). The
#: rest (the CSRF token above all) is dropped, so a session planted before the login is
#: worth nothing after it.
KEPT_AT_LOGIN = ("_flashes", "registration_oauth_next", "registration_signups")


def _sessions() -> Any | None:
    return get_state().store.sessions


def _lifetime(remember: bool) -> timedelta:
    if remember:
        return remember_duration()
    return current_app.permanent_session_lifetime


def _regenerate() -> None:
    """A new cookie session, with only :data:`KEPT_AT_LOGIN` carried over."""
    kept = {key: session[key] for key in KEPT_AT_LOGIN if key in session}
    permanent = session.permanent
    session.clear()
    session.update(kept)
    if permanent:
        session.permanent = True
    forget_csrf_token()


def refuse_if_deleted(user: Any) -> None:
    """Refuse to log in an account that its owner asked to delete and that waits out
    ``REGISTRATION_DELETE_GRACE`` (``deleted_at`` set): it is disabled until restored.

    :raises RegistrationError: 401 ``ACCOUNT_PENDING_DELETION``.
    """
    if user.deleted_at is not None:
        raise RegistrationError(
            gettext(
                "This account is being deleted. To keep it, open the restore link in the email we sent "
                "when its deletion was asked for."
            ),
            code="ACCOUNT_PENDING_DELETION",
            status=401,
        )


def start_session(user: Any, *, remember: bool = False) -> None:
    """Log ``user`` in, in this browser: a new cookie session, a Flask-Login login and,
    with a session model, a new session row. The one way the library logs someone in
    (password login, provider login); an app that logs users in by itself calls it too.

    :raises RegistrationError: 401 ``ACCOUNT_PENDING_DELETION`` (:func:`refuse_if_deleted`).
    """
    refuse_if_deleted(user)
    _regenerate()
    flask_login.login_user(user, remember=remember)
    sessions = _sessions()
    if sessions is not None:
        db_session = get_state().store.session()
        # The row's commit writes nothing of the user's row: what was read of it stays
        # loaded, and the id, the answer, the signal and the hooks read it with no
        # SELECT (one statement less per login).
        expiring, db_session.expire_on_commit = db_session.expire_on_commit, False
        try:
            session_id = sessions.create(user, _lifetime(remember))
        finally:
            db_session.expire_on_commit = expiring
        session["_user_id"] = f"{user.get_id()}:{session_id}"


def current_session_id() -> str | None:
    """The session id this request's cookie session carries, or None."""
    value = session.get("_user_id")
    if _sessions() is None or not isinstance(value, str) or value.count(":") < 2:
        return None
    return value.rsplit(":", 1)[1]


def renew_session(user: Any, *, remember: bool) -> None:
    """Give this browser's session ``user``'s new stamp, after the password changed here:
    the same session (and row) goes on, with a new remember cookie if ``remember``."""
    session_id = current_session_id()
    flask_login.login_user(user, remember=remember)
    if session_id is not None:
        session["_user_id"] = f"{user.get_id()}:{session_id}"


def forget_sessions(user: Any, *, keep_current: bool = False) -> None:
    """Delete ``user``'s session rows (all, or all but this browser's), in the current
    transaction: for a password change or reset, which also rotates the stamp."""
    sessions = _sessions()
    if sessions is not None:
        sessions.delete_all(user, keep=current_session_id() if keep_current else None)


def _drop_cookie_session() -> None:
    """Forget the login in this browser: Flask-Login's keys, the remember cookie and the
    rest of the cookie session (flashed messages excepted)."""
    flask_login.logout_user()  # asks for the remember cookie to be deleted, if sent
    kept = {key: session[key] for key in ("_flashes", REMEMBER_SESSION_KEY) if key in session}
    session.clear()
    session.update(kept)
    forget_csrf_token()


def forget_login_here() -> None:
    """Forget the login in this browser (its cookie session and remember cookie) and
    change nothing on the server: for an account whose rows are already gone or ended."""
    _drop_cookie_session()


def end_session(user: Any) -> None:
    """End the session this browser's cookies carry, on the server too: its row is
    deleted, or without a session model ``user`` gets a new stamp (every session of the
    user ends). A request made with an access token and no cookie session changes
    nothing on the server here (the caller revokes the token)."""
    store = get_state().store
    if "_user_id" in session:
        session_id = current_session_id()
        if session_id is not None:
            store.sessions.delete(session_id)  # type: ignore[union-attr]
        elif store.sessions is None and g.get("registration_access_token") is None:
            store.rotate_stamp(user)
            store.save()
        # The commit expired ``user``: load it again, for the signal's receivers to read
        # even after the request.
        store.session.refresh(user)
    _drop_cookie_session()


def log_out_everywhere(user: Any) -> None:
    """End every session, remember cookie and access token of ``user``, this one
    included: a new stamp, and their rows deleted, in one transaction. Sends
    ``user_logged_out``."""
    store = get_state().store
    while not store.rotate_stamp(user):  # lost a race with another change: that one
        store.session.refresh(user)  # rotated the stamp; this one still must
    forget_sessions(user)
    store.delete_tokens(user)
    store.save()
    store.session.refresh(user)
    _drop_cookie_session()
    signals.user_logged_out.send(signals.app_sender(), user=user)
