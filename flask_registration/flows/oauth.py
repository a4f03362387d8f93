"""Log in with a provider: find, create or link the local account of an identity.

The rules, in one place (see docs/oauth.rst for the reasons):

1. A known identity (provider + the provider's user id) logs its user in.
2. An unknown identity whose address the provider asserts as verified, and a local
   account with that address that is verified too: the identity is linked and the user
   logged in (``REGISTRATION_OAUTH_LINK_BY_EMAIL``; off, the person is asked to log in
   with the password and link from the connections page).
3. The same, but the local account is NOT verified: refused. Nobody has proven that
   the account's password belongs to the owner of the address (it may be someone who
   signed up with another person's address and waits), so the account is never handed
   to the identity, nor the identity to whoever knows that password.
4. No local account: a new one, through the ``before_signup`` hooks; verified only when
   the provider asserts it. An address the provider does not assert (or one typed when
   the provider gave none) is treated as a signup would treat it: a verification link,
   and for a taken address the answer of a new one (enumeration prevention).
5. A logged-in user links an identity; one that belongs to another user is refused.
6. Unlinking never removes the last way to log in.

These functions know neither HTML, JSON nor flask-dance: the face hands them an
:class:`Identity` and the provider's token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import flask_login
from flask import current_app

from .. import limits, signals
from ..errors import EmailNotVerified, OAuthError, ValidationError
from ..identity_store import IdentityTaken, get_identities
from ..models import utcnow
from ..state import get_state
from ..store import DuplicateEmail
from ..validation import normalize_email
from .signup import answer_existing_account, check_column_values, user_fields
from .verify import send_verification

#: What a finished dance did (:attr:`OAuthResult.outcome`).
LOGGED_IN = "logged_in"  # a known identity: its user is logged in
LINKED = "linked"  # the identity is now linked (to a verified account, or to the logged-in user)
ALREADY_LINKED = "already_linked"  # a logged-in user linked an identity that was already theirs
CREATED = "created"  # a new account, logged in
CHECK_EMAIL = "check_email"  # follow the emailed link (new unverified account, or a taken address)
EMAIL_REQUIRED = "email_required"  # the provider gave no usable address: ask for one


@dataclass(frozen=True)
class Identity:
    """Who a provider says the person is.

    ``email_verified`` is True only when the provider asserts that it verified
    ``email``; ``profile`` is what it answered (the ``before_signup`` hooks see it).
    """

    provider: str
    provider_user_id: str
    email: str | None = None
    email_verified: bool = False
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class OAuthResult:
    """What a dance did. ``user`` is None when nothing may be shown about an account
    (a taken address with enumeration prevention on); ``logged_in`` says whether a
    session started; ``email_sent`` whether the mail server took a message."""

    outcome: str
    user: Any = None
    logged_in: bool = False
    email: str | None = None
    email_sent: bool = False


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _taken(which: str, provider: str) -> OAuthError:
    if which == "identity":
        return OAuthError(
            "This account of the provider is already linked to another user.",
            code="OAUTH_IDENTITY_TAKEN",
            status=409,
        )
    return OAuthError(
        "Another account of this provider is already linked: unlink it first.",
        code="OAUTH_PROVIDER_ALREADY_LINKED",
        status=409,
    )


def _provider_email(identity: Identity) -> str | None:
    """The identity's address in normal form, or None when it has none that is valid."""
    if not isinstance(identity.email, str) or not identity.email:
        return None
    try:
        # No DNS lookup: the provider already delivers mail to it (or says it does).
        return normalize_email(identity.email, check_deliverability=False)
    except ValidationError:
        return None


def _may_log_in(user: Any, provider: str) -> None:
    """The checks of a login, for a login through a provider: the address must be
    verified (``REGISTRATION_EMAIL_VERIFICATION_REQUIRED``), then ``before_login`` hooks."""
    if current_app.config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"] and not user.email_verified:
        signals.login_failed.send(_app(), email=user.email, code=EmailNotVerified.code)
        raise EmailNotVerified()
    get_state().extension.hooks.run("before_login", user, {"email": user.email, "oauth_provider": provider})


def _start_session(user: Any, provider: str) -> None:
    flask_login.login_user(user)
    signals.oauth_logged_in.send(_app(), user=user, provider=provider)
    get_state().extension.hooks.run("after_login", user)


def _linked(user: Any, identity: Identity) -> None:
    signals.oauth_identity_linked.send(
        _app(), user=user, provider=identity.provider, provider_user_id=identity.provider_user_id
    )


def login_with_identity(identity: Identity, token: dict[str, Any]) -> OAuthResult:
    """Finish a dance for someone who is not logged in (rules 1 to 4 above).

    :raises EmailNotVerified: the identity's user has not verified the address yet and
        verification is required.
    :raises OAuthError: ``OAUTH_ACCOUNT_NOT_VERIFIED`` (rule 3), ``OAUTH_ACCOUNT_EXISTS``
        (rule 2 with linking by address off), ``OAUTH_PROVIDER_ALREADY_LINKED``.
    :raises ValidationError: a ``before_signup`` hook's veto, or a taken address with
        enumeration prevention off.
    """
    state = get_state()
    identities = get_identities()
    row = identities.find(identity.provider, identity.provider_user_id)
    if row is not None:
        user = state.store.get(row.user_id)
        if user is None:  # the database has no cascade (SQLite without foreign keys)
            raise OAuthError("The account linked to this login no longer exists.", code="USER_NOT_FOUND", status=404)
        _may_log_in(user, identity.provider)
        identities.save_token(row, token)
        _start_session(user, identity.provider)
        return OAuthResult(LOGGED_IN, user, logged_in=True, email=user.email)

    email = _provider_email(identity)
    if email is None:
        return OAuthResult(EMAIL_REQUIRED)
    if not identity.email_verified:
        return _new_account(identity, token, email, verified=False)
    existing = state.store.find_by_email(email)
    if existing is None:
        return _new_account(identity, token, email, verified=True)
    if not existing.email_verified:
        raise OAuthError(
            "An account with this email address exists, but its address has not been verified, so it "
            "cannot be linked to this login. Verify the address (or reset the password through the "
            "emailed link), log in, and link the provider from your account's connections page.",
            code="OAUTH_ACCOUNT_NOT_VERIFIED",
            status=409,
        )
    if not current_app.config["REGISTRATION_OAUTH_LINK_BY_EMAIL"]:
        raise OAuthError(
            "An account with this email address exists. Log in with its password, then link the "
            "provider from your account's connections page.",
            code="OAUTH_ACCOUNT_EXISTS",
            status=409,
        )
    _may_log_in(existing, identity.provider)
    try:
        identities.link(existing, identity.provider, identity.provider_user_id, token)
    except IdentityTaken as exc:
        raise _taken(exc.which, identity.provider) from None
    _linked(existing, identity)
    _start_session(existing, identity.provider)
    return OAuthResult(LINKED, existing, logged_in=True, email=existing.email)


def finish_with_email(identity: Identity, token: dict[str, Any], email: Any) -> OAuthResult:
    """Finish a dance whose provider gave no usable address, with the one the person
    typed: a new account, unverified, and the normal verification email (rule 4).

    :raises ValidationError: the address is missing or not valid (field ``email``), a
        ``before_signup`` hook's veto, or a taken address with enumeration prevention off.
    """
    if not isinstance(email, str) or not email.strip():
        raise ValidationError("can't be blank.", field="email", field_code="presence")
    normalized = normalize_email(email.strip())
    limits.hit("signup", email=normalized)  # it sends a signup's email: a signup's limits
    if get_identities().find(identity.provider, identity.provider_user_id) is not None:
        return login_with_identity(identity, token)  # finished meanwhile, in another tab
    return _new_account(identity, token, normalized, verified=False)


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    """The checks and hooks of a signup, for an account without a password."""
    model = get_state().store.model
    email = data["email"]
    check_column_values(model, data)
    get_state().extension.hooks.run("before_signup", data)
    # A hook may have rewritten the address: check the new one, as signup does.
    if data.get("email") != email:
        if not isinstance(data.get("email"), str) or not data["email"]:
            raise ValidationError.from_fields({"email": [("presence", "can't be blank.")]})
        data["email"] = normalize_email(data["email"])
    check_column_values(model, data)
    return data


def _new_account(identity: Identity, token: dict[str, Any], email: str, *, verified: bool) -> OAuthResult:
    """A new local account for ``identity`` (rule 4)."""
    state = get_state()
    config = current_app.config
    data = _checked(
        {"email": email, "oauth_provider": identity.provider, "oauth_profile": dict(identity.profile)}
    )
    # Verified only if it is still the address the provider vouched for.
    verified = verified and data["email"] == email
    email = data["email"]
    existing = state.store.find_by_email(email)
    if existing is not None:
        return _existing(existing, email)
    fields = {**user_fields(data), "email": email, "password_hash": None}
    if verified:
        fields["email_verified_at"] = utcnow()
    try:
        user = state.store.create(fields)
    except DuplicateEmail:
        # Lost a race with another signup of the address: answer as for a taken one.
        return _existing(state.store.find_by_email(email), email)
    try:
        get_identities().link(user, identity.provider, identity.provider_user_id, token)
    except IdentityTaken as exc:
        # A second dance of the same identity won the race: this account would have no
        # way to log in, so it goes.
        get_identities().delete_user(user)
        raise _taken(exc.which, identity.provider) from None

    email_sent = False
    if not verified and config["REGISTRATION_SEND_VERIFICATION_ON_SIGNUP"]:
        email_sent = send_verification(user)
    signals.user_registered.send(_app(), user=user, data=data)
    state.extension.hooks.run("after_signup", user, data)
    _linked(user, identity)
    if user.email_verified or not config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"]:
        _may_log_in(user, identity.provider)
        _start_session(user, identity.provider)
        return OAuthResult(CREATED, user, logged_in=True, email=email, email_sent=email_sent)
    return OAuthResult(CHECK_EMAIL, user, email=email, email_sent=email_sent)


def _existing(existing: Any, email: str) -> OAuthResult:
    """A new account was asked for an address that has one, and the person has not
    proven it is theirs: the answer a signup gives (the identity is not linked)."""
    answer = answer_existing_account(existing, email)
    return OAuthResult(CHECK_EMAIL, None, email=email, email_sent=answer.email_sent)


def link_identity(user: Any, identity: Identity, token: dict[str, Any]) -> OAuthResult:
    """Link ``identity`` to the logged-in ``user`` (rule 5).

    :raises OAuthError: ``OAUTH_IDENTITY_TAKEN`` (it is another user's),
        ``OAUTH_PROVIDER_ALREADY_LINKED`` (``user`` has another account of this provider).
    """
    identities = get_identities()
    row = identities.find(identity.provider, identity.provider_user_id)
    if row is not None:
        if row.user_id != user.id:
            raise _taken("identity", identity.provider)
        identities.save_token(row, token)
        return OAuthResult(ALREADY_LINKED, user, logged_in=True, email=user.email)
    try:
        identities.link(user, identity.provider, identity.provider_user_id, token)
    except IdentityTaken as exc:
        raise _taken(exc.which, identity.provider) from None
    _linked(user, identity)
    return OAuthResult(LINKED, user, logged_in=True, email=user.email)


def identities_of(user: Any) -> list[Any]:
    """The user's linked identities (rows of the app's OAuth model), by provider."""
    return get_identities().of_user(user)


def unlink_identity(user: Any, provider: str) -> None:
    """Unlink ``user``'s identity of ``provider`` (rule 6).

    :raises OAuthError: ``OAUTH_NOT_LINKED`` (404) when there is none;
        ``OAUTH_LAST_LOGIN_METHOD`` (409) when the account has no password and this is
        its only linked identity.
    """
    if not isinstance(provider, str):
        raise OAuthError("No such provider.", code="OAUTH_NOT_LINKED", status=404)
    done = get_identities().unlink(user, provider, keep_last=not user.password_hash)
    if done is None:
        raise OAuthError("This provider is not linked to your account.", code="OAUTH_NOT_LINKED", status=404)
    if not done:
        raise OAuthError(
            "This is the only way to log in to your account. Set a password first (through "
            "\"Forgot your password?\") or link another provider, then unlink this one.",
            code="OAUTH_LAST_LOGIN_METHOD",
            status=409,
        )
    signals.oauth_identity_unlinked.send(_app(), user=user, provider=provider)


__all__ = [
    "ALREADY_LINKED",
    "CHECK_EMAIL",
    "CREATED",
    "EMAIL_REQUIRED",
    "LINKED",
    "LOGGED_IN",
    "Identity",
    "OAuthResult",
    "finish_with_email",
    "identities_of",
    "link_identity",
    "login_with_identity",
    "unlink_identity",
]
