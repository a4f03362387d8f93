"""Deleting an account at its owner's request: at once, or after a grace period in which
the owner can restore it; and the purge of the accounts whose grace period is over.

Deleting needs a recent re-authentication (:mod:`flask_registration.reauth`: the face
finds it and passes ``recent``), or the account's password given with the request. The
user row, its access tokens, sessions and linked identities, and whatever the
``before_delete`` hooks delete or change, go in one transaction: a refusal leaves
everything as it was.

With ``REGISTRATION_DELETE_GRACE`` set, a request disables the account instead: it gets
``deleted_at``, a new auth stamp (every session and remember cookie ends), and loses its
access tokens and session rows; logging in is refused with ``ACCOUNT_PENDING_DELETION``.
The email carries a restore link, bound to that ``deleted_at``, which works until the
grace period is over; ``flask registration purge-deleted`` deletes the account after.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from flask import current_app
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError

from .. import reauth, signals
from ..errors import InvalidToken, RegistrationError, TokenExpired, UserNotFound
from ..i18n import SOURCE_LANGUAGE, current_locale, gettext, locale_for
from ..links import check_request_host, external_url
from ..mail import send_mail
from ..models import as_utc, utcnow
from ..signals import app_sender
from ..state import get_state
from ..tokens import load_token, make_token, matches
from .reauth import reauthenticate
from .sessions import forget_login_here, forget_sessions

log = logging.getLogger("flask_registration")

#: Columns a :class:`DeletedUser` never holds.
SECRET_COLUMNS = frozenset({"password_hash", "auth_stamp"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DeletedUser:
    """What a deleted account held, for the ``after_delete`` hooks, the ``user_deleted``
    signal and the last email (the row is gone): ``id``, ``email``, ``created_at``,
    ``email_verified_at``, and every other column of the user model but the password
    hash and the auth stamp in ``fields`` (also readable as attributes:
    ``snapshot.username``)."""

    id: Any
    email: str
    created_at: datetime | None
    email_verified_at: datetime | None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields")
        if fields is not None and name in fields:
            return fields[name]
        raise AttributeError(name)

    @classmethod
    def of(cls, user: Any) -> DeletedUser:
        """The snapshot of ``user``, read before it goes."""
        names = [attr.key for attr in sa_inspect(type(user)).column_attrs if attr.key not in SECRET_COLUMNS]
        values = {name: getattr(user, name) for name in names}
        return cls(
            id=values.pop("id"),
            email=values.pop("email"),
            created_at=values.pop("created_at", None),
            email_verified_at=values.pop("email_verified_at", None),
            fields=values,
        )


@dataclass
class DeletionResult:
    """The outcome of a deletion request: ``deleted`` (gone now) or, with a grace
    period, disabled until ``delete_after``; ``user`` is a :class:`DeletedUser` in the
    first case and the disabled user in the second; ``email_sent`` says whether the mail
    server took the last email."""

    deleted: bool
    user: Any
    email_sent: bool
    delete_after: datetime | None = None


def grace_period() -> timedelta | None:
    """``REGISTRATION_DELETE_GRACE``: None deletes at once."""
    value: timedelta | None = current_app.config["REGISTRATION_DELETE_GRACE"]
    return value


def request_deletion(user: Any, *, recent: bool, password: Any = None) -> DeletionResult:
    """Delete the logged-in ``user``'s account, or disable it for the grace period.

    Proof that the owner asks: ``recent`` (the face found a recent re-authentication in
    this browser), or ``password`` (the account's, checked and counted like a login's).
    The cookie session of this browser is forgotten either way.

    :raises ReauthenticationRequired: neither proof.
    :raises InvalidPassword: ``password`` is wrong (``NO_PASSWORD``: the account has none).
    :raises RegistrationError: a ``before_delete`` hook refused (its error), or rows of
        the app still point at the user (409 ``DELETE_CONFLICT``); nothing was deleted.
    :raises UntrustedHost: with a grace period, the request came for a host its restore
        link cannot be built for; nothing was changed.
    :raises UserNotFound: another request deleted the account a moment before.
    """
    if password is not None:
        reauthenticate(user, password)
    else:
        reauth.require(recent)
    grace = grace_period()
    if grace is not None:
        return _disable(user, grace)
    snapshot = delete_now(user)
    if snapshot is None:  # a simultaneous request deleted it first
        raise UserNotFound()
    forget_login_here()
    sent = send_mail(
        "account_deleted",
        recipient=snapshot.email,
        subject=current_app.config["REGISTRATION_ACCOUNT_DELETED_SUBJECT"],
        user=snapshot,
    )
    return DeletionResult(deleted=True, user=snapshot, email_sent=sent)


def delete_now(user: Any, *conditions: Any) -> DeletedUser | None:
    """Delete ``user`` and every row of the library that is theirs, in one transaction
    with the ``before_delete`` hooks' changes; then send ``user_deleted`` and run the
    ``after_delete`` hooks with the :class:`DeletedUser`. No email, no session change.

    ``conditions`` (on the user model) must still hold when the row is deleted, or
    nothing is deleted and the answer is None (a purge that lost to a restore).

    :raises RegistrationError: a ``before_delete`` hook's refusal, or 409
        ``DELETE_CONFLICT`` when the database refuses (a row of the app points at the
        user without ``ON DELETE CASCADE``); the transaction is rolled back.
    """
    state = get_state()
    store = state.store
    snapshot = DeletedUser.of(user)
    try:
        state.extension.hooks.run("before_delete", user)
        deleted = store.delete_account(user, *conditions)
        if not deleted:
            store.rollback()
            return None
        store.save()
    except IntegrityError as exc:
        store.rollback()
        log.warning("The database refused to delete user %s: %s", snapshot.id, type(exc.orig).__name__)
        raise RegistrationError(
            gettext("The account could not be deleted: other records still refer to it. Please contact us."),
            code="DELETE_CONFLICT",
            status=409,
        ) from None
    except BaseException:
        store.rollback()  # a hook's refusal (or failure) leaves everything in place
        raise
    signals.user_deleted.send(app_sender(), user=snapshot)
    state.extension.hooks.run("after_delete", snapshot)
    return snapshot


def _binding(user: Any) -> str:
    # The restore link names this deletion request: restored (None) or asked for again
    # (another time), the account no longer matches it.
    when = as_utc(user.deleted_at)
    return f"{user.id}:{(when - _EPOCH) // timedelta(microseconds=1)}"


def format_moment(when: datetime, locale: Locale | None = None) -> str:
    """``when`` (UTC) to the minute, as a person reads it in ``locale`` (default: the
    current language), without the zone: "March 7, 2025, 2:05 PM", "7. März 2025, 14:05".
    The sentences around it say "UTC"."""
    locale = locale or current_locale() or Locale.parse(SOURCE_LANGUAGE)
    when = as_utc(when).astimezone(UTC)
    time = format_time(when, "short", tzinfo=UTC, locale=locale)
    # CLDR's way of putting a date and a time together ("{1}, {0}"; quotes mark literal
    # words, as Babel's format_datetime reads them).
    combined = str(get_datetime_format("long", locale=locale)).replace("'", "")
    return combined.format(time, format_date(when, "long", locale=locale))


def _disable(user: Any, grace: timedelta) -> DeletionResult:
    """Disable ``user`` for ``grace``: ``deleted_at``, a new stamp, tokens and session
    rows gone, in one commit; then the email with the restore link."""
    state = get_state()
    store = state.store
    check_request_host()  # before anything changes: the email's link must be buildable
    if not store.rotate_stamp(user):
        raise InvalidToken(gettext("The account changed meanwhile. Try again."))
    user.deleted_at = utcnow()
    store.delete_tokens(user)
    forget_sessions(user)
    token = make_token(current_app.config["REGISTRATION_RESTORE_SALT"], user.id, _binding(user))
    link = external_url("registration_lifecycle.restore_account", uid=user.id, token=token)
    delete_after = as_utc(user.deleted_at) + grace
    store.save()
    forget_login_here()
    sent = send_mail(
        "deletion_scheduled",
        recipient=user.email,
        subject=current_app.config["REGISTRATION_DELETION_SCHEDULED_SUBJECT"],
        user=user,
        link=link,
        delete_after=delete_after,
        delete_after_text=format_moment(delete_after, locale_for(user)),
        valid_for=grace,
    )
    signals.user_deletion_scheduled.send(app_sender(), user=user, delete_after=delete_after)
    return DeletionResult(deleted=False, user=user, email_sent=sent, delete_after=delete_after)


def user_for_restore_link(uid: Any, token: Any) -> Any:
    """The disabled user a restore link is for, while it can still be restored (the
    page that the link opens shows a button).

    :raises InvalidToken: tampered or foreign; or the account was restored, or its
        deletion asked for again, since.
    :raises TokenExpired: the grace period is over (or the app no longer has one).
    :raises UserNotFound: the account was purged.
    """
    grace = grace_period()
    if not isinstance(token, str) or not token:
        raise InvalidToken(gettext("The link has no token."))
    salt = current_app.config["REGISTRATION_RESTORE_SALT"]
    user_id, digest = load_token(salt, token, grace or timedelta(0))
    if str(user_id) != str(uid):
        raise InvalidToken()
    user = get_state().store.get(user_id)
    if user is None:
        raise UserNotFound(gettext("This account has been deleted for good."))
    if user.deleted_at is None or not matches(digest, _binding(user)):
        raise InvalidToken(gettext("This account is not waiting to be deleted, or a newer email replaced this link."))
    if grace is None or as_utc(user.deleted_at) + grace <= utcnow():
        raise TokenExpired(gettext("The time to restore this account is over."))
    return user


def restore(uid: Any, token: Any) -> Any:
    """Restore the account a restore link is for (the page's button); return the user,
    who then logs in as usual. Sends ``user_restored``.

    :raises InvalidToken: as :func:`user_for_restore_link`, or another restore (or the
        purge) came first.
    """
    user = user_for_restore_link(uid, token)
    if not get_state().store.restore_account(user):
        raise InvalidToken(gettext("This account is not waiting to be deleted any more."))
    signals.user_restored.send(app_sender(), user=user)
    return user


@dataclass
class PurgeOutcome:
    """One account the purge dealt with: ``deleted`` (a :class:`DeletedUser`), or kept
    with the ``error`` that refused it (a ``before_delete`` hook's veto)."""

    user_id: Any
    email: str
    deleted: DeletedUser | None = None
    error: RegistrationError | None = None


def purge_due(*, batch_size: int = 100) -> Iterator[list[PurgeOutcome]]:
    """Delete the accounts whose grace period is over, ``batch_size`` at a time; yield
    each batch's outcomes as it is done. Each account is deleted on its own (hooks run
    per account, one transaction each); a refused one stays disabled and is reported.
    Without a grace period, every disabled account is due."""
    store = get_state().store
    cutoff = utcnow() - (grace_period() or timedelta(0))
    model = store.model
    due = (model.deleted_at.is_not(None), model.deleted_at <= cutoff)
    after = None
    while batch := store.deletion_due(cutoff, after=after, limit=batch_size):
        after = batch[-1].id
        outcomes = []
        for user, user_id, email in [(user, user.id, user.email) for user in batch]:
            outcome = PurgeOutcome(user_id=user_id, email=email)
            try:
                outcome.deleted = delete_now(user, *due)
            except RegistrationError as exc:
                outcome.error = exc
            except ObjectDeletedError:  # another purge deleted it since the batch was read
                store.rollback()
            if outcome.deleted is not None or outcome.error is not None:
                outcomes.append(outcome)
        yield outcomes
