"""Login that waits for verification, and logout (Flask-Login sessions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask_login
from flask import current_app

from .. import limits, signals
from ..errors import EmailNotVerified, LoginFailed, ValidationError
from ..state import get_state
from ..validation import check_payload, normalize_email
from .access import check_ttl, issue_access_token


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def authenticate(email: str, password: str) -> Any:
    """The user with this email and password.

    The password is checked against a dummy hash when no such user exists, so a wrong
    address and a wrong password cost the same time and give the same error. A hash
    made with older argon2 parameters is upgraded here.

    :raises LoginFailed: wrong address or password (code ``LOGIN_FAILED``).
    :raises EmailNotVerified: right password, address not verified and
        ``REGISTRATION_EMAIL_VERIFICATION_REQUIRED`` on.
    """
    state = get_state()
    config = current_app.config
    try:
        # No DNS at login: the address was checked when the account was made.
        normalized: str | None = normalize_email(email, check_deliverability=False)
    except ValidationError:
        normalized = None
    # Every login counts per client; refused ones count per client and per address too,
    # and a full bucket refuses before the hash is checked. Nothing is cleared on
    # success (see limits.failed_login).
    bucket = normalized or email
    limits.hit("login")
    limits.check("failed_login", email=bucket)
    user = state.store.find_by_email(normalized) if normalized else None
    too_long = len(password) > config["REGISTRATION_PASSWORD_MAX_LENGTH"]
    # A too-long password is checked against the dummy: same cost, never a match.
    ok = state.passwords.verify(user.password_hash if user and not too_long else None, password)
    if user is None or not ok or too_long:
        limits.failed_login(bucket)
        signals.login_failed.send(_app(), email=normalized or email[:320], code=LoginFailed.code)
        raise LoginFailed()
    assert user.password_hash is not None
    if state.passwords.needs_rehash(user.password_hash):
        user.password_hash = state.passwords.hash(password)
        state.store.save()
    if config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"] and not user.email_verified:
        signals.login_failed.send(_app(), email=user.email, code=EmailNotVerified.code)
        raise EmailNotVerified()
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
    (a hook may veto by raising), starts the Flask-Login session, issues an access token
    when ``issue_token`` is true and a token model is set up, sends ``user_logged_in``
    and runs ``after_login`` hooks with ``(user,)``.
    """
    data = check_payload(data, required=("email", "password"), optional=("remember", "ttl"))
    remember = data.get("remember", False)
    if not isinstance(remember, bool):
        raise ValidationError.from_fields({"remember": [("type", "must be true or false.")]})
    ttl = check_ttl(data.get("ttl"))
    user = authenticate(data["email"], data["password"])
    state = get_state()
    state.extension.hooks.run("before_login", user, {k: v for k, v in data.items() if k != "password"})
    flask_login.login_user(user, remember=remember)
    token = issue_access_token(user, ttl) if issue_token else None
    signals.user_logged_in.send(_app(), user=user)
    state.extension.hooks.run("after_login", user)
    return LoginResult(user=user, access_token=token)


def logout() -> None:
    """End the current session (nothing happens when nobody is logged in)."""
    user = flask_login.current_user
    if getattr(user, "is_authenticated", False):
        user = user._get_current_object()
        flask_login.logout_user()
        signals.user_logged_out.send(_app(), user=user)
