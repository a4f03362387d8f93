"""Login that waits for verification, and logout (Flask-Login sessions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask_login
from flask import current_app

from .. import limits, signals
from ..errors import EmailNotVerified, LoginFailed, ValidationError
from ..signals import app_sender
from ..state import get_state
from ..validation import check_payload, normalize_email
from .access import check_ttl, issue_access_token
from .sessions import end_session, start_session
from .verify import send_verification


def authenticate(email: str, password: str) -> Any:
    """The user with this email and password.

    The password is checked against a dummy hash when no such user exists, so a wrong
    address and a wrong password cost the same time and give the same error. A hash
    made with older argon2 parameters is upgraded here.

    With ``REGISTRATION_PREVENT_ENUMERATION`` on (the default), the right password of
    an account whose address is not verified gets the answer a wrong one gets (and
    stays counted as a failed attempt), and a fresh verification link goes to the
    address: otherwise anyone could sign an address up with a password of their own,
    log in with it, and learn from the answer whether the address already had an
    account (their password would not be its password).

    :raises LoginFailed: wrong address or password (code ``LOGIN_FAILED``), or, with
        enumeration prevention on, an address not verified yet.
    :raises EmailNotVerified: right password, address not verified,
        ``REGISTRATION_EMAIL_VERIFICATION_REQUIRED`` on and enumeration prevention off.
    """
    state = get_state()
    config = current_app.config
    try:
        # No DNS at login, and any address an account may have: it was checked when the
        # account was made (perhaps while REGISTRATION_EMAIL_ALLOW_SMTPUTF8 was on).
        normalized: str | None = normalize_email(email, check_deliverability=False, allow_smtputf8=True)
    except ValidationError:
        normalized = None
    # Every login counts per client; refused ones count per client and per address too.
    # The guess takes its place before the hash is checked (a full bucket refuses), and a
    # right password gives back only its own: nothing else is cleared on success.
    bucket = normalized or email
    limits.hit("login")
    attempt = limits.reserve("failed_login", email=bucket)
    user = state.store.find_by_email(normalized) if normalized else None
    too_long = len(password) > config["REGISTRATION_PASSWORD_MAX_LENGTH"]
    # A too-long password is checked against the dummy: same cost, never a match.
    ok = state.passwords.verify(user.password_hash if user and not too_long else None, password)
    if user is None or not ok or too_long:
        signals.login_failed.send(app_sender(), email=normalized or email[:320], code=LoginFailed.code)
        raise LoginFailed()
    if config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"] and not user.email_verified:
        signals.login_failed.send(app_sender(), email=user.email, code=EmailNotVerified.code)
        if config["REGISTRATION_PREVENT_ENUMERATION"]:
            # The answer and the bucket of a wrong password; the link leaves from a
            # thread of its own, so the answer does not wait for it either.
            send_verification(user, detached=True)
            raise LoginFailed()
        attempt.give_back()
        raise EmailNotVerified(user_id=user.id)
    attempt.give_back()
    assert user.password_hash is not None
    if state.passwords.needs_rehash(user.password_hash):
        user.password_hash = state.passwords.hash(password)
        state.store.save()
    return user


@dataclass
class LoginResult:
    """The logged-in user, and the access token issued (LoopBack's shape) if asked for
    and a token model is set up."""

    user: Any
    access_token: dict[str, Any] | None = None


def login(data: Any, *, issue_token: bool = False) -> LoginResult:
    """Log a user in from submitted ``email`` and ``password`` (optional ``remember``,
    and ``ttl`` in seconds for the access token).

    Runs ``before_login`` hooks with ``(user, data)`` after the credentials are checked
    (a hook may veto by raising), starts a new session (:func:`~.sessions.start_session`:
    a new cookie session, so a CSRF token from before stops working), issues an access token
    when ``issue_token`` is true and a token model is set up, sends ``user_logged_in``
    and runs ``after_login`` hooks with ``(user,)``.
    """
    data = check_payload(data, required=("email", "password"), optional=("remember", "ttl"))
    remember = data.get("remember", False)
    if not isinstance(remember, bool):
        raise ValidationError.from_fields({"remember": [("type", "The remember option must be true or false.")]})
    ttl = check_ttl(data.get("ttl"))
    user = authenticate(data["email"], data["password"])
    state = get_state()
    state.extension.hooks.run("before_login", user, {k: v for k, v in data.items() if k != "password"})
    start_session(user, remember=remember)
    token = issue_access_token(user, ttl) if issue_token else None
    signals.user_logged_in.send(app_sender(), user=user)
    state.extension.hooks.run("after_login", user)
    return LoginResult(user=user, access_token=token)


def logout() -> None:
    """End the current session, on the server too: a copy of its cookies stops working
    (see :func:`~.sessions.end_session`). Nothing happens when nobody is logged in."""
    user = flask_login.current_user
    if getattr(user, "is_authenticated", False):
        user = user._get_current_object()
        end_session(user)
        signals.user_logged_out.send(app_sender(), user=user)
