"""Log in with a provider: find, create or link the local account of an identity.

The rules, in one place (see docs/oauth.rst and docs/security.rst for the reasons):

1. A known identity (provider + the provider's user id) logs its user in.
2. An unknown identity whose address the provider vouches for (asserts as verified),
   and no local account with that address: a new account, verified, logged in.
3. Every other unknown identity (the provider does not vouch for the address, the
   person typed one, or an account already has it) becomes a pending login: a link is
   emailed to the address, and only that link, pressed in the browser that did the
   dance, creates the account or links the identity (:mod:`.pending`). Nothing is
   created or linked before the owner of the address has proven it, so no stranger's
   identity can wait inside an account for its owner to verify it, and the answer is
   the same whether or not the address has an account.
4. An account whose address was not verified, reached that way, is the owner's from
   then on: every earlier way to log in (a password, other providers, sessions, tokens)
   is removed, and the owner is told by email.
5. A logged-in user links an identity only after a recent re-authentication in that
   browser; the owner is emailed. One that belongs to another user is refused.
6. Unlinking never removes the last way to log in.

These functions know neither HTML, JSON nor flask-dance: the face hands them an
:class:`~flask_registration.oauth.providers.Identity` and the provider's token. Finishing
a pending login (rules 3 and 4) is in :mod:`.pending`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import current_app

from .. import limits, reauth, signals
from ..errors import EmailNotVerified, OAuthError, ValidationError
from ..flows.login import second_step
from ..flows.methods import provider_title, tell_added
from ..flows.sessions import start_session
from ..flows.signup import announce_account, checked_new_user_data, create_account
from ..i18n import gettext
from ..links import check_request_host, external_url
from ..mail import send_mail
from ..signals import app_sender
from ..state import get_state
from ..store import DuplicateEmail
from ..tokens import make_token
from ..validation import normalize_email
from .providers import Identity
from .storage import IdentityTaken, get_identities

#: What a finished dance did (:attr:`OAuthResult.outcome`).
LOGGED_IN = "logged_in"  # a known identity: its user is logged in
LINKED = "linked"  # the identity is now linked (to a verified account, or to the logged-in user)
ALREADY_LINKED = "already_linked"  # a logged-in user linked an identity that was already theirs
CREATED = "created"  # a new account, logged in
CHECK_EMAIL = "check_email"  # follow the emailed link (new unverified account, or a taken address)
EMAIL_REQUIRED = "email_required"  # the provider gave no usable address: ask for one


@dataclass
class OAuthResult:
    """What a dance did. ``user`` is None when nothing may be shown about an account
    (a pending login); ``logged_in`` says whether a session started; ``email_sent``
    whether the mail server took a message; ``pending`` what the face keeps in the
    browser's session for a pending login (no secret: the link's token is only emailed).
    """

    outcome: str
    user: Any = None
    logged_in: bool = False
    email: str | None = None
    email_sent: bool = False
    pending: dict[str, Any] | None = None


def taken_error(which: str, provider: str) -> OAuthError:
    """The refusal of a link that :class:`~.storage.IdentityTaken` stopped (``which``)."""
    if which == "identity":
        return OAuthError(
            gettext("This account of the provider is already linked to another user."),
            code="OAUTH_IDENTITY_TAKEN",
            status=409,
        )
    return OAuthError(
        gettext("Another account of this provider is already linked: unlink it first."),
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


def check_may_log_in(user: Any, provider: str) -> None:
    """The checks of a login, for a login through a provider: the address must be
    verified (``REGISTRATION_EMAIL_VERIFICATION_REQUIRED``), then ``before_login`` hooks."""
    if current_app.config["REGISTRATION_EMAIL_VERIFICATION_REQUIRED"] and not user.email_verified:
        signals.login_failed.send(app_sender(), email=user.email, code=EmailNotVerified.code)
        raise EmailNotVerified()
    get_state().extension.hooks.run("before_login", user, {"email": user.email, "oauth_provider": provider})


def start_oauth_session(user: Any, provider: str) -> None:
    """Log ``user`` in through ``provider``: a new session, the signal, ``after_login``.

    An account with a second factor is asked for it first, as after a password
    (:func:`~flask_registration.flows.login.second_step`): a provider stands for the
    first factor only.

    :raises LoginStepRequired: the account has a second factor (the face sends the
        browser to the page that asks for it).
    """
    second_step(user, provider=provider)
    start_session(user)  # a new cookie session and session row, as a password login
    signals.oauth_logged_in.send(app_sender(), user=user, provider=provider)
    get_state().extension.hooks.run("after_login", user)


def announce_link(user: Any, identity: Identity) -> None:
    """An identity was linked to an existing account: the signal, and an email to the
    owner with the way to remove it."""
    signals.oauth_identity_linked.send(
        app_sender(), user=user, provider=identity.provider, provider_user_id=identity.provider_user_id
    )
    tell_added(user, provider_title(identity.provider))


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
            raise OAuthError(
                gettext("The account linked to this login no longer exists."), code="USER_NOT_FOUND", status=404
            )
        check_may_log_in(user, identity.provider)
        identities.save_token(row, token)
        start_oauth_session(user, identity.provider)
        return OAuthResult(LOGGED_IN, user, logged_in=True, email=user.email)

    email = _provider_email(identity)
    if email is None:
        return OAuthResult(EMAIL_REQUIRED)
    existing = state.store.find_by_email(email)
    if identity.email_verified and existing is not None and not current_app.config["REGISTRATION_OAUTH_LINK_BY_EMAIL"]:
        # Only the owner of the provider account that vouches for the address sees this.
        raise OAuthError(
            gettext(
                "An account with this email address exists. Log in with its password, then link the "
                "provider from your account's connections page."
            ),
            code="OAUTH_ACCOUNT_EXISTS",
            status=409,
        )
    if identity.email_verified and existing is None:
        return new_account(identity, token, email)
    return pending_login(identity, email)


def finish_with_email(identity: Identity, token: dict[str, Any], email: Any) -> OAuthResult:
    """Finish a dance whose provider gave no usable address, with the one the person
    typed: a pending login, confirmed by a link emailed to that address (rule 3).

    :raises ValidationError: the address is missing or not valid (field ``email``).
    """
    if not isinstance(email, str) or not email.strip():
        raise ValidationError(gettext("Enter your email address."), field="email", field_code="presence")
    normalized = normalize_email(email.strip())
    if get_identities().find(identity.provider, identity.provider_user_id) is not None:
        return login_with_identity(identity, token)  # finished meanwhile, in another tab
    return pending_login(identity, normalized)


def new_account(identity: Identity, token: dict[str, Any], email: str) -> OAuthResult:
    """A new local account for ``identity``, its address proven (rule 2, or a pending
    login's link pressed): verified, linked and logged in.

    :raises ValidationError: a ``before_signup`` hook's veto.
    :raises OAuthError: the identity or the address was taken meanwhile.
    """
    data = checked_new_user_data(
        {"email": email, "oauth_provider": identity.provider, "oauth_profile": dict(identity.profile)},
        with_password=False,
    )
    if data["email"] != email:
        # A hook moved the account to another address: one nobody has proven yet.
        return pending_login(identity, data["email"])
    try:
        user = create_account(data, password_hash=None, verified=True)
    except DuplicateEmail:
        raise OAuthError(
            gettext("An account with this email address was just created. Please start again."),
            code="OAUTH_ACCOUNT_EXISTS",
            status=409,
        ) from None
    try:
        get_identities().link(user, identity.provider, identity.provider_user_id, token)
    except IdentityTaken as exc:
        # A second dance of the same identity won the race: this account would have no
        # way to log in, so it goes.
        get_identities().delete_user(user)
        raise taken_error(exc.which, identity.provider) from None
    announce_account(user, data)
    signals.oauth_identity_linked.send(
        app_sender(), user=user, provider=identity.provider, provider_user_id=identity.provider_user_id
    )
    check_may_log_in(user, identity.provider)
    start_oauth_session(user, identity.provider)
    return OAuthResult(CREATED, user, logged_in=True, email=email)


def link_identity(user: Any, identity: Identity, token: dict[str, Any], *, recent: bool) -> OAuthResult:
    """Link ``identity`` to the logged-in ``user`` (rule 5), who re-authenticated in this
    browser lately (``recent``, the face's finding); the owner is emailed.

    :raises ReauthenticationRequired: ``recent`` is False (a session cookie or access
        token alone never adds a way to log in).
    :raises OAuthError: ``OAUTH_IDENTITY_TAKEN`` (it is another user's),
        ``OAUTH_PROVIDER_ALREADY_LINKED`` (``user`` has another account of this provider).
    """
    reauth.require(recent)
    identities = get_identities()
    row = identities.find(identity.provider, identity.provider_user_id)
    if row is not None:
        if row.user_id != user.id:
            raise taken_error("identity", identity.provider)
        identities.save_token(row, token)
        return OAuthResult(ALREADY_LINKED, user, logged_in=True, email=user.email)
    try:
        identities.link(user, identity.provider, identity.provider_user_id, token)
    except IdentityTaken as exc:
        raise taken_error(exc.which, identity.provider) from None
    announce_link(user, identity)
    return OAuthResult(LINKED, user, logged_in=True, email=user.email)


#: How long a pending login waits for its emailed link, in the session and the link.
PENDING_MAX_AGE = timedelta(minutes=30)


def pending_login(identity: Identity, email: str) -> OAuthResult:
    """Rule 3: email ``email`` a link that finishes this login in this browser, and
    return ``CHECK_EMAIL`` with :attr:`OAuthResult.pending`, which the face keeps in the
    browser's session until the link is pressed (:func:`~.pending.complete_pending`).

    The address has an account or not: the answer is the same. Its owner gets the link
    (with ``REGISTRATION_OAUTH_LINK_BY_EMAIL``) or, without linking by address, a notice.
    """
    config = current_app.config
    check_request_host()
    limits.hit("signup", email=email)  # it emails an address a stranger may have typed
    nonce = secrets.token_urlsafe(16)
    existing = get_state().store.find_by_email(email)
    title = provider_title(identity.provider)
    if existing is not None and not config["REGISTRATION_OAUTH_LINK_BY_EMAIL"]:
        sent = _send("oauth_existing", email, existing, title=title, existing=True)
    else:
        token = make_token(config["REGISTRATION_OAUTH_CONFIRM_SALT"], nonce, email)
        link = external_url("registration_oauth.confirm", provider=identity.provider, token=token)
        sent = _send(
            "oauth_confirm", email, existing, title=title, link=link, valid_for=PENDING_MAX_AGE, existing=existing
        )
    pending = {
        "provider": identity.provider,
        "provider_user_id": identity.provider_user_id,
        "email": email,
        "nonce": nonce,
    }
    return OAuthResult(CHECK_EMAIL, None, email=email, email_sent=sent, pending=pending)


def _send(template: str, email: str, user: Any, **context: Any) -> bool:
    subject = current_app.config["REGISTRATION_OAUTH_CONFIRM_SUBJECT"]
    return send_mail(template, recipient=email, subject=subject, user=user, **context)


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
        raise OAuthError(gettext("No such provider."), code="OAUTH_NOT_LINKED", status=404)
    done = get_identities().unlink(user, provider, keep_last=not user.password_hash)
    if done is None:
        raise OAuthError(gettext("This provider is not linked to your account."), code="OAUTH_NOT_LINKED", status=404)
    if not done:
        raise OAuthError(
            gettext(
                "This is the only way to log in to your account. Set a password first (through "
                '"Forgot your password?") or link another provider, then unlink this one.'
            ),
            code="OAUTH_LAST_LOGIN_METHOD",
            status=409,
        )
    signals.oauth_identity_unlinked.send(app_sender(), user=user, provider=provider)


__all__ = [
    "ALREADY_LINKED",
    "CHECK_EMAIL",
    "CREATED",
    "EMAIL_REQUIRED",
    "LINKED",
    "LOGGED_IN",
    "PENDING_MAX_AGE",
    "OAuthResult",
    "announce_link",
    "check_may_log_in",
    "finish_with_email",
    "identities_of",
    "link_identity",
    "login_with_identity",
    "new_account",
    "pending_login",
    "start_oauth_session",
    "taken_error",
    "unlink_identity",
]
