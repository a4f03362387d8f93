"""Login that waits for verification, and logout (Flask-Login sessions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask_login
from flask import current_app

from .. import limits, signals
from ..errors import EmailNotVerified, LoginFailed, RegistrationError, ServerBusy, ValidationError
from ..i18n import N_, gettext
from ..signals import app_sender
from ..state import get_state
from ..usernames import normalize_username, username_login
from ..validation import check_payload, field_label, normalize_email
from .access import check_ttl, issue_access_token
from .sessions import end_session, forget_login_here, refuse_if_deleted, start_session
from .verify import send_verification


def authenticate(email: str | None, password: str, *, username: str | None = None) -> Any:
    """The user with this email (or, given ``username`` instead, this username) and password.

    The password is checked against a dummy hash when no such user exists, so a wrong
    address or username and a wrong password cost the same time and give the same
    error. A hash made with older argon2 parameters is upgraded here.

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
    :raises RegistrationError: right password, but the account waits out its deletion's
        grace period (401 ``ACCOUNT_PENDING_DELETION``).
    """
    state = get_state()
    config = current_app.config
    typed = username if username is not None else email or ""
    normalized = _normal_login_name(email, username)
    # Every login counts per client; refused ones count per client and per address (or
    # username: it has no @, so it names no address's bucket) too. The guess takes its
    # place before the hash is checked (a full bucket refuses), and a right password
    # gives back only its own: nothing else is cleared on success.
    bucket = normalized or typed
    limits.hit("login")
    attempt = limits.reserve("failed_login", email=bucket)
    find = state.store.find_by_email if username is None else state.store.find_by_username
    user = find(normalized) if normalized else None
    too_long = len(password) > config["REGISTRATION_PASSWORD_MAX_LENGTH"]
    # A too-long password is checked against the dummy: same cost, never a match.
    try:
        ok = state.passwords.verify(user.password_hash if user and not too_long else None, password)
    except ServerBusy:  # no password was checked: the guess does not count
        attempt.give_back()
        raise
    if user is None or not ok or too_long:
        signals.login_failed.send(app_sender(), email=normalized or typed[:320], code=LoginFailed.code)
        raise LoginFailed()
    if config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"] and not user.email_verified:
        if not config["REGISTRATION_PREVENT_ENUMERATION"]:
            attempt.give_back()  # with prevention, it stays counted as a wrong password would
        refuse_unverified(user)
    attempt.give_back()
    try:  # the right password of a disabled account: say so, and how to restore it
        refuse_if_deleted(user)
    except RegistrationError as exc:
        signals.login_failed.send(app_sender(), email=user.email, code=exc.code)
        raise
    assert user.password_hash is not None
    if state.passwords.needs_rehash(user.password_hash):
        user.password_hash = state.passwords.hash(password)
        state.store.save()
    return user


def refuse_unverified(user: Any) -> None:
    """Refuse the login of ``user``, whose address is not verified while
    ``REGISTRATION_EMAIL_VERIFICATION_REQUIRED`` is on: the one rule of every login that
    proves who the person is (a password, a passkey).

    :raises LoginFailed: with ``REGISTRATION_PREVENT_ENUMERATION`` on: the answer a wrong
        password gets, and a fresh verification link goes to the address.
    :raises EmailNotVerified: with enumeration prevention off.
    """
    signals.login_failed.send(app_sender(), email=user.email, code=EmailNotVerified.code)
    if current_app.config["REGISTRATION_PREVENT_ENUMERATION"]:
        # The answer of a wrong password; the link leaves from a thread of its own, so
        # the answer does not wait for it either.
        send_verification(user, detached=True)
        raise LoginFailed()
    raise EmailNotVerified(user_id=user.id)


def _normal_login_name(email: str | None, username: str | None) -> str | None:
    """The normal form of the address or username typed, or None: it can be no one's."""
    try:
        if username is not None:
            return normalize_username(username)
        # No DNS at login, and any address an account may have: it was checked when the
        # account was made (perhaps while REGISTRATION_EMAIL_ALLOW_SMTPUTF8 was on).
        return normalize_email(email or "", check_deliverability=False, allow_smtputf8=True)
    except ValidationError:
        return None


def credentials(typed: str) -> dict[str, str]:
    """The one "email or username" field of a login page as the login takes it:
    ``{"username": typed}`` when username login is on and ``typed`` has no ``@`` (a
    username never has one), else ``{"email": typed}``."""
    return {"username": typed} if username_login() and "@" not in typed else {"email": typed}


@dataclass
class LoginResult:
    """The logged-in user, and the access token issued (LoopBack's shape) if asked for
    and a token model is set up."""

    user: Any
    access_token: dict[str, Any] | None = None


class LoginStepRequired(RegistrationError):
    """The first factor passed (a password, a provider), but the login needs one more
    step before the session starts: a second factor (see :doc:`factors`). The plug-in
    that asks for it raises a subclass with its own code; ``location`` is the page that
    asks for it, where the HTML faces send the browser. 401."""

    status = 401
    code = "LOGIN_STEP_REQUIRED"
    default_message = N_("One more step is needed to log in.")
    location = ""


def second_step(user: Any, *, code: Any = None, remember: bool = False, provider: str | None = None) -> None:
    """The second step of a login whose first factor passed, before the session starts:
    nothing without second factors; else :attr:`~flask_registration.state.FactorsState.login_step`
    (a ``code`` given with the login is checked there).

    :raises LoginStepRequired: the account has a second factor and no right ``code`` came.
    """
    factors = get_state().factors
    if factors is not None and factors.login_step is not None:
        factors.login_step(user, code=code, remember=remember, provider=provider)


def complete_login(
    user: Any, *, remember: bool = False, ttl: int | None = None, issue_token: bool = False, provider: str | None = None
) -> LoginResult:
    """Log ``user`` in once every factor passed, whichever way they came (a password, a
    second factor, a passkey, a provider): a new session (:func:`~.sessions.start_session`),
    an access token when ``issue_token`` and a token model is set up (``ttl`` seconds,
    checked), the signal (``user_logged_in``, or ``oauth_logged_in`` for a ``provider``),
    then the ``after_login`` hooks."""
    state = get_state()
    start_session(user, remember=remember)
    token = issue_access_token(user, check_ttl(ttl)) if issue_token else None
    if provider is None:
        signals.user_logged_in.send(app_sender(), user=user)
    else:
        signals.oauth_logged_in.send(app_sender(), user=user, provider=provider)
    state.extension.hooks.run("after_login", user)
    return LoginResult(user=user, access_token=token)


def login(data: Any, *, issue_token: bool = False) -> LoginResult:
    """Log a user in from submitted ``email`` and ``password`` (optional ``remember``,
    and ``ttl`` in seconds for the access token). With ``"username"`` in
    ``REGISTRATION_LOGIN_FIELDS``, ``username`` may stand in for ``email`` (LoopBack's
    rule: ``email`` is used when both are given).

    Runs ``before_login`` hooks with ``(user, data)`` after the credentials are checked
    (a hook may veto by raising); with second factors set up, asks for the account's
    (:func:`second_step`: ``code`` may come with the login); then :func:`complete_login`:
    a new session (a new cookie session, so a CSRF token from before stops working), an
    access token when ``issue_token`` is true and a token model is set up,
    ``user_logged_in`` and the ``after_login`` hooks with ``(user,)``.

    :raises LoginStepRequired: the account has a second factor, and no ``code`` came.
    """
    data = _checked_login_data(data)
    remember = data.get("remember", False)
    if not isinstance(remember, bool):
        raise ValidationError.from_fields(
            {"remember": [("type", gettext("The remember option must be true or false."))]}
        )
    ttl = check_ttl(data.get("ttl"))
    if data.get("email"):
        user = authenticate(data["email"], data["password"])
    else:
        user = authenticate(None, data["password"], username=data["username"])
    public = {k: v for k, v in data.items() if k not in ("password", "code")}
    get_state().extension.hooks.run("before_login", user, public)
    second_step(user, code=data.get("code"), remember=remember)
    return complete_login(user, remember=remember, ttl=ttl, issue_token=issue_token)


def _checked_login_data(data: Any) -> dict[str, Any]:
    """A login body's shape: ``email`` and ``password``; with username login, ``email``
    or ``username`` (400 ``USERNAME_EMAIL_REQUIRED``, LoopBack's, when neither is there)."""
    # With second factors set up, a login may bring one: "code" (the app's, or a recovery code).
    more = ("code",) if get_state().factors is not None else ()
    if not username_login():
        return _checked_code(check_payload(data, required=("email", "password"), optional=("remember", "ttl", *more)))
    if isinstance(data, dict) and not data.get("email") and not data.get("username"):
        raise RegistrationError(
            gettext("Enter your email address or your username."), code="USERNAME_EMAIL_REQUIRED", status=400
        )
    optional = ("email", "username", "remember", "ttl", *more)
    checked = check_payload(data, required=("password",), optional=optional)
    problems = {
        name: [("type", gettext("The %(field)s must be text.", field=field_label(name)))]
        for name in ("email", "username")
        if checked.get(name) is not None and not isinstance(checked[name], str)
    }
    if problems:
        raise ValidationError.from_fields(problems)
    return _checked_code(checked)


def _checked_code(checked: dict[str, Any]) -> dict[str, Any]:
    code = checked.get("code")
    if code is not None and not isinstance(code, str):
        raise ValidationError.from_fields({"code": [("type", gettext("The code must be text."))]})
    return checked


def logout() -> None:
    """End the current session, on the server too: a copy of its cookies stops working
    (see :func:`~.sessions.end_session`). When nobody is logged in, only the cookie
    session is cleared (a login half done, waiting for its second factor, ends too)."""
    user = flask_login.current_user
    if getattr(user, "is_authenticated", False):
        user = user._get_current_object()
        end_session(user)
        signals.user_logged_out.send(app_sender(), user=user)
    else:
        forget_login_here()
