"""Managing second factors: add, name and remove passkeys; set up and remove the
authenticator app; make recovery codes. Plain functions that know neither HTML nor JSON.

Adding or removing a factor, and making new recovery codes, need a recent
re-authentication in this browser (the faces pass ``recent``, see
:mod:`flask_registration.reauth`): a copied session cookie or an access token alone can
neither add a way in nor take one away. The owner is emailed whenever a factor is added
or removed. The first passkey or authenticator app comes with a set of recovery codes,
and removing the last of them removes the codes too (alone, they are no second factor).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, session
from markupsafe import Markup
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from .. import reauth, signals
from ..errors import ValidationError
from ..flows.methods import provider_titles
from ..i18n import force_locale, gettext, locale_for, ngettext
from ..state import get_state
from ..validation import is_clean_text
from . import passkeys, recovery, sealed, totp
from .errors import FactorError
from .mailing import tell_added, tell_removed
from .models import PASSKEY, RECOVERY_CODES, TOTP
from .store import FactorExists, FactorStore

#: Where an authenticator-app setup waits for its first code, in the session.
PENDING_TOTP_KEY = "registration_totp_pending"
#: How long a setup waits for its first code, in seconds.
PENDING_TOTP_MAX_AGE = 15 * 60
#: Where the user handle given to a passkey being added waits, in the session.
HANDLE_KEY = "registration_webauthn_handle"
#: The longest answer read from a form (a browser's is a few kilobytes).
MAX_ANSWER_LENGTH = 32 * 1024
#: The longest name of a passkey.
NAME_MAX_LENGTH = 64


def get_factors() -> FactorStore:
    """The factor store of the current app.

    :raises RuntimeError: the app has no factor model (``Registration(factor_model=...)``).
    """
    factors = get_state().factors
    if factors is None:
        raise RuntimeError("Second factors are not set up on this app: pass factor_model= to Registration or init_app.")
    return factors.store


def _hooks() -> Any:
    return get_state().extension.hooks


@dataclass
class Overview:
    """A user's second factors, for the security page: passkeys, the authenticator app
    (or None), and the recovery codes (or None)."""

    passkeys: list[Any]
    totp: Any | None
    recovery: Any | None

    @property
    def recovery_left(self) -> int | None:
        """How many recovery codes are left; None when the user has none."""
        return len(self.recovery.data.get("digests") or ()) if self.recovery is not None else None

    @property
    def enabled(self) -> bool:
        """Whether a second factor protects the account (a passkey or the app)."""
        return bool(self.passkeys) or self.totp is not None


def overview(user: Any) -> Overview:
    """The user's second factors."""
    rows = get_factors().of_user(user)
    return Overview(
        passkeys=[r for r in rows if r.kind == PASSKEY],
        totp=next((r for r in rows if r.kind == TOTP), None),
        recovery=next((r for r in rows if r.kind == RECOVERY_CODES), None),
    )


@dataclass
class Added:
    """A factor just added, and the recovery codes made with it (shown once; empty
    when the user had some already)."""

    factor: Any
    recovery_codes: list[str] = field(default_factory=list)


# Passkeys.


def _user_handle(user: Any) -> bytes:
    """The WebAuthn user handle of ``user``: random, never the id or the address, the
    same for all of the user's passkeys (kept in each one's data)."""
    for row in get_factors().of_user(user, PASSKEY):
        handle = row.data.get("user_handle")
        if isinstance(handle, str):
            return base64url_to_bytes(handle)
    return secrets.token_bytes(32)


def passkey_options(user: Any, *, recent: bool) -> dict[str, Any]:
    """Start adding a passkey: the options for ``navigator.credentials.create()``.

    :raises ReauthenticationRequired: not ``recent``.
    """
    reauth.require(recent)
    existing = [row.data for row in get_factors().of_user(user, PASSKEY)]
    handle = _user_handle(user)
    session[HANDLE_KEY] = bytes_to_base64url(handle)
    return passkeys.registration_options(user, handle, existing)


def check_name(name: Any, *, default: str | None = None) -> str:
    """A passkey's name as given (trimmed), or ``default`` for none.

    :raises ValidationError: not text, or too long (field ``name``).
    """
    if name is None or (isinstance(name, str) and not name.strip()):
        if default is not None:
            return default
        raise ValidationError.from_fields({"name": [("presence", gettext("Give the passkey a name."))]})
    if not isinstance(name, str) or not is_clean_text(name):
        raise ValidationError.from_fields({"name": [("type", gettext("The name must be text."))]})
    cleaned = " ".join(name.split())
    if len(cleaned) > NAME_MAX_LENGTH:
        message = ngettext(
            "The name can have at most %(num)d character.",
            "The name can have at most %(num)d characters.",
            NAME_MAX_LENGTH,
        )
        raise ValidationError.from_fields({"name": [("length", message)]})
    return cleaned


def parse_answer(text: Any) -> Any:
    """An authenticator's answer posted as JSON text (by the security page's script).

    :raises FactorError: ``PASSKEY_INVALID``: missing, or not JSON.
    """
    if not isinstance(text, str) or not text or len(text) > MAX_ANSWER_LENGTH:
        raise FactorError(gettext("No passkey answer came with the form. Please try again."), code="PASSKEY_INVALID")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        message = gettext("The passkey answer could not be read. Please try again.")
        raise FactorError(message, code="PASSKEY_INVALID") from None


def add_passkey(user: Any, answer: Any, name: Any = None, *, recent: bool) -> Added:
    """Finish adding a passkey with the browser's answer to :func:`passkey_options`.

    :raises ReauthenticationRequired: not ``recent``.
    :raises FactorError: the answer is refused (see :mod:`.passkeys`), or the passkey
        is registered already (``PASSKEY_TAKEN``, 409).
    """
    reauth.require(recent)
    store = get_factors()
    count = len(store.of_user(user, PASSKEY))
    name = check_name(name, default=gettext("Passkey %(num)d", num=count + 1))
    handle = session.pop(HANDLE_KEY, None)
    digest, data = passkeys.verify_registration(answer, user)
    _hooks().run("before_add_factor", user, PASSKEY)
    data["user_handle"] = handle if isinstance(handle, str) else bytes_to_base64url(_user_handle(user))
    try:
        row = store.add(user, PASSKEY, data, name=name, credential_digest=digest)
    except FactorExists:
        raise FactorError(gettext("This passkey is registered already."), code="PASSKEY_TAKEN", status=409) from None
    return _added(user, row)


def rename_passkey(user: Any, factor_id: Any, name: Any) -> Any:
    """Give one of ``user``'s passkeys a new name (no re-authentication: a name lets
    nobody in).

    :raises FactorError: ``FACTOR_NOT_FOUND`` (404).
    :raises ValidationError: the name (field ``name``).
    """
    row = _find(user, factor_id, PASSKEY)
    get_factors().rename(row, check_name(name))
    return row


# The authenticator app.


@dataclass
class TotpSetup:
    """What the owner needs to set the authenticator app up: the secret (also grouped
    for typing), the ``otpauth://`` URI and its QR code as inline SVG."""

    secret: str
    uri: str
    qr_svg: Markup

    @property
    def grouped(self) -> str:
        return totp.grouped(self.secret)


def _issuer() -> str:
    return str(current_app.config["REGISTRATION_TOTP_ISSUER"] or passkeys.rp_name())


def start_totp(user: Any, *, recent: bool) -> TotpSetup:
    """Start setting the authenticator app up: a new secret, kept in this browser's
    session until :func:`confirm_totp` gets a first code made with it.

    :raises ReauthenticationRequired: not ``recent``.
    :raises FactorError: ``TOTP_ALREADY_ENABLED`` (409).
    """
    reauth.require(recent)
    if get_factors().one(user, TOTP) is not None:
        message = gettext("The authenticator app is already set up. Remove it first to set up another.")
        raise FactorError(message, code="TOTP_ALREADY_ENABLED", status=409)
    # The cookie session is signed, not encrypted: it keeps a random seed, and the
    # secret is derived from it with SECRET_KEY, so a copy of the cookie does not hold it.
    seed = secrets.token_hex(16)
    session[PENDING_TOTP_KEY] = {"seed": seed, "uid": str(user.id), "at": int(time.time())}
    return setup_of(user, _pending_secret(user, seed))


def _pending_secret(user: Any, seed: str) -> str:
    return totp.derive_secret(current_app.config["SECRET_KEY"], f"{user.id}:{seed}")


def setup_of(user: Any, secret: str) -> TotpSetup:
    """The setup of ``secret`` for ``user`` (its URI and QR code)."""
    uri = totp.provisioning_uri(secret, account=user.email, issuer=_issuer())
    return TotpSetup(secret=secret, uri=uri, qr_svg=totp.qr_svg(uri))


def pending_totp(user: Any) -> str | None:
    """The secret of this browser's setup for ``user`` waiting for a first code, or None."""
    pending = session.get(PENDING_TOTP_KEY)
    if (
        not isinstance(pending, dict)
        or pending.get("uid") != str(user.id)
        or not isinstance(pending.get("seed"), str)
        or not isinstance(pending.get("at"), int)
        or not 0 <= time.time() - pending["at"] <= PENDING_TOTP_MAX_AGE
    ):
        return None
    return _pending_secret(user, pending["seed"])


def confirm_totp(user: Any, code: Any, *, recent: bool) -> Added:
    """Finish setting the app up with a first code made with the pending secret.

    :raises ReauthenticationRequired: not ``recent``.
    :raises FactorError: no setup waiting (``TOTP_NOT_STARTED``), or the app is set up
        already (``TOTP_ALREADY_ENABLED``, 409).
    :raises ValidationError: the code is wrong (field ``code``).
    """
    reauth.require(recent)
    secret = pending_totp(user)
    if secret is None:
        message = gettext("There is no authenticator-app setup waiting here, or it is too old. Please start again.")
        raise FactorError(message, code="TOTP_NOT_STARTED")
    normalized = totp.normalize(code)
    step = totp.matching_step(secret, normalized) if normalized else None
    if step is None:
        message = gettext("That code is not right. Enter the 6-digit code the app shows now.")
        raise ValidationError.from_fields({"code": [("invalid", message)]})
    _hooks().run("before_add_factor", user, TOTP)
    try:
        row = get_factors().add(user, TOTP, {"secret": sealed.seal(secret, user.id), "last_step": step})
    except FactorExists:
        message = gettext("The authenticator app is already set up. Remove it first to set up another.")
        raise FactorError(message, code="TOTP_ALREADY_ENABLED", status=409) from None
    session.pop(PENDING_TOTP_KEY, None)
    return _added(user, row)


# Recovery codes.


def generate_recovery_codes(user: Any, *, recent: bool) -> list[str]:
    """Make a new set of recovery codes (the old ones stop working); return them, to
    be shown once.

    :raises ReauthenticationRequired: not ``recent``.
    :raises FactorError: ``NO_SECOND_FACTOR`` (409): the account has no passkey nor
        authenticator app, which the codes stand in for.
    """
    reauth.require(recent)
    if not overview(user).enabled:
        message = gettext("Add a passkey or an authenticator app first: recovery codes stand in for them.")
        raise FactorError(message, code="NO_SECOND_FACTOR", status=409)
    return _new_codes(user)


def _new_codes(user: Any) -> list[str]:
    codes = recovery.new_codes()
    get_factors().add(user, RECOVERY_CODES, {"digests": recovery.digests(user, codes)}, replace=True)
    signals.recovery_codes_generated.send(signals.app_sender(), user=user)
    return codes


# Added and removed.


def _added(user: Any, row: Any) -> Added:
    codes = _new_codes(user) if get_factors().one(user, RECOVERY_CODES) is None else []
    signals.factor_added.send(signals.app_sender(), user=user, factor=row, kind=row.kind)
    tell_added(user, describe(row, user))
    _hooks().run("after_add_factor", user, row)
    return Added(factor=row, recovery_codes=codes)


def _find(user: Any, factor_id: Any, kind: str | None = None) -> Any:
    row = get_factors().get(user, factor_id, kind)
    if row is None:
        raise FactorError(gettext("There is no such factor on your account."), code="FACTOR_NOT_FOUND", status=404)
    return row


def describe(row: Any, user: Any) -> str:
    """A factor as its owner ``user`` reads it in an email, in the email's language
    (:func:`~flask_registration.i18n.locale_for`): "A passkey named “Laptop”"."""
    with force_locale(locale_for(user)):
        if row.kind == PASSKEY:
            return gettext("A passkey named “%(name)s”", name=row.name)
        return gettext("An authenticator app") if row.kind == TOTP else gettext("Your recovery codes")


def remove_factor(user: Any, factor_id: Any, *, recent: bool, kind: str | None = None) -> None:
    """Remove one of ``user``'s factors (of ``kind``, when given); with the last
    passkey or app, the recovery codes go too.

    :raises ReauthenticationRequired: not ``recent``.
    :raises FactorError: ``FACTOR_NOT_FOUND`` (404); ``LAST_LOGIN_METHOD`` (409): the
        last passkey of an account with neither a password nor a provider.
    """
    reauth.require(recent)
    row = _find(user, factor_id, kind)
    store = get_factors()
    store.lock_user(user)  # two removals of its last two passkeys: one after the other
    if row.kind == PASSKEY and not user.password_hash and not provider_titles(user):
        if not [other for other in store.of_user(user, PASSKEY) if other.id != row.id]:
            store.session.rollback()
            message = gettext("This passkey is your only way to log in. Add another passkey, or set a password first.")
            raise FactorError(message, code="LAST_LOGIN_METHOD", status=409)
    _hooks().run("before_remove_factor", user, row)
    described, row_kind = describe(row, user), row.kind
    if not store.delete(row):
        raise FactorError(gettext("There is no such factor on your account."), code="FACTOR_NOT_FOUND", status=404)
    removed = [described]
    left = overview(user)
    if not left.enabled and left.recovery_left is not None:
        codes = store.one(user, RECOVERY_CODES)
        codes_described = describe(codes, user) if codes is not None else ""  # before the row is gone
        if codes is not None and store.delete(codes):
            removed.append(codes_described)
            signals.factor_removed.send(signals.app_sender(), user=user, kind=RECOVERY_CODES)
    signals.factor_removed.send(signals.app_sender(), user=user, kind=row_kind)
    tell_removed(user, removed)
    _hooks().run("after_remove_factor", user, row_kind)


def remove_totp(user: Any, *, recent: bool) -> None:
    """Remove the authenticator app (see :func:`remove_factor`).

    :raises FactorError: ``FACTOR_NOT_FOUND`` (404): it is not set up.
    """
    reauth.require(recent)
    row = get_factors().one(user, TOTP)
    remove_factor(user, row.id if row is not None else None, recent=recent, kind=TOTP)


def reset_factors(user: Any) -> int:
    """Remove every second factor of ``user`` (the operator's ``reset-factors``, for an
    owner who lost them); the owner is emailed. Return how many were removed."""
    store = get_factors()
    removed = [describe(row, user) for row in store.of_user(user)]
    count = store.delete_all(user)
    if count:
        signals.factors_reset.send(signals.app_sender(), user=user, count=count)
        tell_removed(user, removed)
    return count
