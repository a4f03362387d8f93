"""Recent re-authentication: proof, in this browser, that the person at the keyboard is
the account's owner, and not only someone holding a copy of its session cookie or one
of its access tokens.

The mark is made when the password is typed (a login, the re-authentication page) or
when a re-authentication link emailed to the address is pressed in this browser. It
lives in the cookie session, bound to the account's id and auth stamp (a password change
ends it), and lasts ``REGISTRATION_REAUTH_WITHIN``. A session restored from a remember
cookie has no mark, and a request authenticated by an access token never has one: so
neither a stolen cookie nor a stolen token can add a way to log in to the account.

The same session also remembers which addresses this browser signed up
(:func:`remember_signup`): opened there, a verification link needs no password, since
the person confirming is the one who chose it.

The faces call these functions; the flows only receive the answers.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, g, session

from .errors import ReauthenticationRequired
from .tokens import digest

#: Where the mark lives in the session.
SESSION_KEY = "registration_reauth"


def _who(user: Any) -> str:
    # Bound to the stamp: a password change or "log out everywhere" ends the mark too.
    return digest(f"{user.id}:{user.auth_stamp}")


def mark(user: Any) -> None:
    """Record in this browser's session that ``user`` has just re-authenticated."""
    session[SESSION_KEY] = {"who": _who(user), "at": int(time.time())}


def clear() -> None:
    """Forget the mark (logout)."""
    session.pop(SESSION_KEY, None)


def is_recent(user: Any) -> bool:
    """Whether this browser re-authenticated as ``user`` within
    ``REGISTRATION_REAUTH_WITHIN`` (never for a request made with an access token)."""
    if g.get("registration_access_token") is not None:
        return False
    value = session.get(SESSION_KEY)
    if not isinstance(value, dict) or value.get("who") != _who(user):
        return False
    at = value.get("at")
    if not isinstance(at, int) or isinstance(at, bool):
        return False
    within = current_app.config["REGISTRATION_REAUTH_WITHIN"].total_seconds()
    return bool(0 <= time.time() - at <= within)


def require(recent: bool) -> None:
    """Refuse unless the face found a recent re-authentication.

    :raises ReauthenticationRequired: ``recent`` is False.
    """
    if not recent:
        raise ReauthenticationRequired()


#: Where the addresses this browser signed up live in the session (digests only).
SIGNUPS_KEY = "registration_signups"
#: How many signups one browser remembers.
SIGNUPS_KEPT = 5


def remember_signup(email: str) -> None:
    """Record that this browser signed ``email`` up (whether or not the address already
    had an account, so the session looks the same either way): the verification link,
    opened here, needs no password (:func:`signed_up_here`)."""
    kept = [d for d in session.get(SIGNUPS_KEY) or [] if isinstance(d, str)]
    mark_ = digest(email)
    session[SIGNUPS_KEY] = [*(d for d in kept if d != mark_), mark_][-SIGNUPS_KEPT:]


def signed_up_here(email: str) -> bool:
    """Whether this browser signed ``email`` up (see :func:`remember_signup`)."""
    kept = session.get(SIGNUPS_KEY)
    return isinstance(kept, list) and digest(email) in kept
