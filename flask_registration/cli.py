"""The operator's face: ``flask registration ...`` commands over the flows.

Each command runs in the app's context, uses the same flows as the pages and the API
(so the same checks and hooks apply), and turns a refusal into a one-line error and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from .errors import RegistrationError
from .flows.deletion import purge_due
from .flows.signup import create_user
from .flows.verify import send_verification, verify_user
from .models import as_utc, utcnow
from .state import get_state
from .validation import normalize_email

registration_cli = AppGroup(
    "registration",
    help="Manage user accounts: create, verify, resend links, purge stale signups and deleted accounts.",
)

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION_RE = re.compile(r"(\d+)([smhdw])")


# Generic from click 8.2 on, and not subscriptable before it: no type argument here.
class Duration(click.ParamType):  # type: ignore[type-arg]
    """A span of time written as a number and a unit: ``90m``, ``12h``, ``30d``, ``2w``
    (also ``s``). It must be more than zero."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        match = _DURATION_RE.fullmatch(str(value).strip().lower())
        if match is None:
            self.fail(f"{value!r} is not a duration: write a number and a unit (s, m, h, d, w), e.g. 30d.", param, ctx)
        amount, unit = int(match[1]), _UNITS[match[2]]
        if amount == 0:
            self.fail(f"{value!r} must be more than zero.", param, ctx)
        try:
            span = timedelta(**{unit: amount})
            utcnow() - span
        except OverflowError:
            self.fail(f"{value!r} is too long ago to compute.", param, ctx)
        return span


def _describe(error: RegistrationError) -> str:
    """One readable line: the field messages (``The password must be at least 8
    characters long.``), or the error's own message. A hook's message that is not a
    sentence of its own (``is already taken.``) follows the field's name."""
    if error.fields:
        return " ".join(
            message if message[:1].isupper() else f"{field} {message}"
            for field, errs in error.fields.items()
            for _, message in errs
        )
    return error.message


@contextmanager
def _refusals_as_errors() -> Iterator[None]:
    """A refusal of the flows (or of the database) becomes click's error: a message on
    stderr and exit status 1."""
    try:
        yield
    except RegistrationError as exc:
        raise click.ClickException(_describe(exc)) from None
    except IntegrityError as exc:
        get_state().store.rollback()
        raise click.ClickException(f"The database refused the change: {exc.orig}") from None


def _normalized(email: str) -> str:
    with _refusals_as_errors():
        return normalize_email(email, check_deliverability=False)


def _existing_user(email: str) -> Any:
    address = _normalized(email)
    user = get_state().store.find_by_email(address)
    if user is None:
        raise click.ClickException(f"No account uses {address}.")
    return user


def _when(user: Any) -> str:
    return f"{as_utc(user.created_at):%Y-%m-%d %H:%M} UTC"


def _show(users: list[Any]) -> None:
    for user in users:
        click.echo(f"{user.id}\t{user.email}\tcreated {_when(user)}")


def _plural(count: int) -> str:
    return f"{count} unverified account{'' if count == 1 else 's'}"


@registration_cli.command("create-user")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--verified", is_flag=True, help="Mark the address verified: no link is needed.")
def create_user_command(email: str, password_stdin: bool, verified: bool) -> None:
    """Create an account for EMAIL, with the checks and before_signup hooks of a signup.

    The password is asked for twice, or read from standard input. No email is sent:
    run `resend` to send the verification link.
    """
    address = _normalized(email)
    if get_state().store.find_by_email(address) is not None:
        raise click.ClickException(f"An account already uses {address}.")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _refusals_as_errors():
        user = create_user({"email": email, "password": password})
    line = f"Created user {user.email} (id {user.id})"
    if verified:
        try:
            verify_user(user)
        except RegistrationError as exc:
            raise click.ClickException(f"{line}, but could not verify it: {_describe(exc)}") from None
        click.echo(f"{line}, verified.")
    else:
        click.echo(f"{line}, not verified: `flask registration resend {user.email}` sends the link.")


@registration_cli.command("verify")
@click.argument("email")
def verify_command(email: str) -> None:
    """Mark the address EMAIL verified, as a followed link would (before_confirm and
    after_confirm hooks run)."""
    user = _existing_user(email)
    if user.email_verified:
        raise click.ClickException(f"{user.email} is already verified.")
    with _refusals_as_errors():
        verify_user(user)
    click.echo(f"Verified {user.email}.")


def _no_server_name() -> str:
    """Why ``resend`` cannot build a link, and a way to give it one that works: the
    environment counts only where the app reads it (Flask reads no ``SERVER_NAME``
    variable by itself)."""
    message = "The app's SERVER_NAME setting is not set: a link sent from the command line needs the site's address."
    if "FLASK_SERVER_NAME" in os.environ:
        return (
            f"{message} FLASK_SERVER_NAME is in the environment, but this app does not read it: "
            "call app.config.from_prefixed_env() in the app, or set SERVER_NAME in its config."
        )
    unread = " (a SERVER_NAME variable in the environment is not read)" if "SERVER_NAME" in os.environ else ""
    return (
        f"{message} Set SERVER_NAME in the app's config{unread}, or export FLASK_SERVER_NAME=example.com "
        "(and FLASK_PREFERRED_URL_SCHEME=https) if the app calls app.config.from_prefixed_env()."
    )


@registration_cli.command("resend")
@click.argument("email")
def resend_command(email: str) -> None:
    """Email EMAIL a fresh verification link (needs the SERVER_NAME setting to build the
    link: FLASK_SERVER_NAME=example.com in the environment, if the app calls
    app.config.from_prefixed_env())."""
    if not current_app.config.get("SERVER_NAME"):
        raise click.ClickException(_no_server_name())
    user = _existing_user(email)
    if user.email_verified:
        raise click.ClickException(f"{user.email} is already verified: it needs no link.")
    with _refusals_as_errors():
        sent = send_verification(user)
    if not sent:
        raise click.ClickException(f"Could not send the email to {user.email}: the mail server refused it or is down.")
    click.echo(f"Sent a verification link to {user.email}.")


@registration_cli.command("list-unverified")
@click.option("--older-than", type=Duration(), help="Only accounts created longer ago than this, e.g. 7d.")
def list_unverified_command(older_than: timedelta | None) -> None:
    """List the accounts whose address is not verified yet, oldest first."""
    cutoff = utcnow() - older_than if older_than else None
    users = get_state().store.unverified(created_before=cutoff)
    if not users:
        click.echo("No unverified accounts" + (f" created before {cutoff:%Y-%m-%d %H:%M} UTC." if cutoff else "."))
        return
    _show(users)


@registration_cli.command("purge-unverified")
@click.option(
    "--older-than", type=Duration(), required=True, help="Delete those created longer ago than this, e.g. 30d."
)
@click.option("--dry-run", is_flag=True, help="Only print what would be deleted.")
@click.option(
    "--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True, help="Accounts per transaction."
)
@click.option("--quiet", is_flag=True, help="Print the progress and the count, not each account.")
def purge_unverified_command(older_than: timedelta, dry_run: bool, batch_size: int, quiet: bool) -> None:
    """Delete the accounts still unverified that were created longer ago than
    --older-than, with their access tokens, sessions and linked identities. Verified
    accounts are never deleted.

    The oldest go first, --batch-size of them per transaction, so that no lock is held
    for long on a large table; each batch prints its progress."""
    cutoff = utcnow() - older_than
    before = f"created before {cutoff:%Y-%m-%d %H:%M} UTC"
    store = get_state().store
    if dry_run:
        users = store.unverified(created_before=cutoff)
        click.echo(f"Would delete {_plural(len(users))} {before}:" if users else f"No unverified accounts {before}.")
        _show(users)
        return
    total = 0
    for number in itertools.count(1):
        with _refusals_as_errors():  # a row of the app's that points at a user, without ON DELETE CASCADE
            users = store.delete_unverified(created_before=cutoff, limit=batch_size)
        total += len(users)
        if not quiet:
            _show(users)
        if users:
            click.echo(f"Batch {number}: {total} deleted so far.")
        if len(users) < batch_size:
            break
    click.echo(f"Deleted {_plural(total)} {before}." if total else f"No unverified accounts {before}.")


@registration_cli.command("purge-deleted")
@click.option(
    "--batch-size", type=click.IntRange(1, 10_000), default=100, show_default=True, help="Accounts per batch."
)
def purge_deleted_command(batch_size: int) -> None:
    """Delete for good the accounts whose owners asked to delete them and whose grace
    period (REGISTRATION_DELETE_GRACE) is over, with their tokens, sessions and linked
    identities; before_delete and after_delete hooks run for each. A hook's refusal keeps
    that account (disabled) and is printed; the others go on."""
    deleted = kept = 0
    for number, batch in enumerate(purge_due(batch_size=batch_size), start=1):
        for outcome in batch:
            if outcome.error is not None:
                kept += 1
                click.echo(f"Kept {outcome.user_id}\t{outcome.email}: {_describe(outcome.error)}", err=True)
            else:
                deleted += 1
        click.echo(f"Batch {number}: {deleted} deleted, {kept} kept so far.")
    click.echo(f"Deleted {deleted} account{'' if deleted == 1 else 's'} whose grace period was over.")
    if kept:
        click.echo(f"Kept {kept} that a before_delete hook refused (listed above).")


@registration_cli.command("purge-tokens")
@click.option(
    "--batch-size", type=click.IntRange(1, 10_000), default=1000, show_default=True, help="Tokens per transaction."
)
def purge_tokens_command(batch_size: int) -> None:
    """Delete the access tokens past their ttl (expired rows are otherwise deleted only
    when someone presents them again), going through the tokens --batch-size at a time,
    one short transaction each, with the progress printed."""
    store = get_state().store
    if store.token_model is None:
        raise click.ClickException("This app has no access-token model (Registration(token_model=...)).")
    count, after = 0, None
    for number in itertools.count(1):
        deleted, after = store.delete_expired_tokens(after=after, limit=batch_size)
        count += deleted
        if after is None:
            break
        click.echo(f"Batch {number}: {count} deleted so far.")
    click.echo(f"Deleted {count} expired access token{'' if count == 1 else 's'}.")


@registration_cli.command("reset-factors")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset_factors_command(email: str, yes: bool) -> None:
    """Remove every second factor of EMAIL's account (passkeys, authenticator app,
    recovery codes), for an owner who lost them all: check who is asking first (see the
    second-factor docs). Asks for confirmation; the owner is emailed, and a log line
    records it."""
    factors = get_state().factors
    if factors is None:
        raise click.ClickException("This app has no factor model (Registration(factor_model=...)).")
    from .factors.flows import reset_factors  # the ``mfa`` extra: imported only when used

    user = _existing_user(email)
    count = len(factors.store.of_user(user))
    if not count:
        click.echo(f"{user.email} has no second factor.")
        return
    if not yes:
        click.confirm(f"Remove the {count} second factor(s) of {user.email}? They stop working at once", abort=True)
    removed = reset_factors(user)
    logging.getLogger("flask_registration").warning(
        "An operator removed every second factor of user %s (%d).", user.id, removed
    )
    click.echo(f"Removed {removed} second factor{'' if removed == 1 else 's'} of {user.email}; they were emailed.")


@registration_cli.command("requeue-failed-mail")
def requeue_failed_mail_command() -> None:
    """Queue again the emails that the Celery worker gave up on (see the deployment
    docs); they are taken from REGISTRATION_MAIL_FAILED_QUEUE."""
    try:
        from .contrib.celery import requeue_failed_mail
    except ImportError:
        raise click.ClickException("Celery is not installed: pip install 'flask-registration[celery]'.") from None
    try:
        count = requeue_failed_mail(current_app._get_current_object())  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Queued {count} email{'' if count == 1 else 's'} again.")
