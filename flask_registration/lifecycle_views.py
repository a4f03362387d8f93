"""The HTML face of an account's end: the page that deletes it, the page a restore link
opens, and the page that downloads the account's data. A blueprint of its own,
``registration_lifecycle``, registered under ``REGISTRATION_URL_PREFIX``; the templates
are the library's (``registration/delete_account.html``, ``restore_account.html``,
``export.html``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from babel.units import format_unit
from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField

from . import reauth
from .errors import RateLimited, RegistrationError
from .flows import deletion, export
from .i18n import SOURCE_LANGUAGE, current_locale, gettext, lazy_gettext
from .views import Page, form_status, show_errors

bp = Blueprint("registration_lifecycle", __name__)


class DeleteAccountForm(FlaskForm):
    """Nothing but the CSRF token and the button: deleting changes state."""

    submit = SubmitField(lazy_gettext("Delete my account"))


class RestoreAccountForm(FlaskForm):
    """The emailed restore link's uid and token, behind a button (opening the link
    changes nothing)."""

    uid = HiddenField()
    token = HiddenField()
    submit = SubmitField(lazy_gettext("Restore my account"))


class ExportForm(FlaskForm):
    """The CSRF token and the button: the download is a POST, so no other site can
    make a browser spend the user's exports."""

    submit = SubmitField(lazy_gettext("Download my data"))


@bp.errorhandler(RateLimited)
def _rate_limited(error: RateLimited) -> tuple[str, int, dict[str, str]]:
    return render_template("registration/rate_limited.html", error=error), error.status, error.headers()


def span(value: timedelta) -> str:
    """A period as a person says it in the current language, in its largest unit,
    rounded down: "7 days", "12 hours", "30 minutes" (Babel's words for the units)."""
    locale = current_locale() or SOURCE_LANGUAGE
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count = int(value.total_seconds() // size)
        if count >= 1:
            return str(format_unit(count, f"duration-{unit}", length="long", locale=locale))
    return gettext("less than a minute")


def _message(title: str, message: str, status: int = 200, **links: str) -> Page:
    return render_template("registration/message.html", title=title, message=message, links=links), status


@bp.route("/account/delete", methods=["GET", "POST"])
@login_required
def delete_account() -> Page:
    """Explain what deleting does, send the user to re-authenticate when needed, and
    delete (or disable for the grace period) on the button."""
    user = current_user._get_current_object()
    form = DeleteAccountForm()
    recent = reauth.is_recent(user)
    status = 200
    if form.is_submitted() and not form.validate():
        status = 400  # the CSRF token: the form says so
    elif form.is_submitted():
        if not recent:  # the mark ran out between the page and the button
            return redirect(url_for("registration.reauthenticate", next=request.path))
        try:
            result = deletion.request_deletion(user, recent=recent)
        except RegistrationError as exc:
            show_errors(form, exc)
            status = form_status(form)
        else:
            if result.deleted:
                return _message(
                    gettext("Your account was deleted"),
                    gettext("Your account and its data are gone."),
                    login=gettext("Log in"),
                )
            assert result.delete_after is not None
            return _message(
                gettext("Your account will be deleted"),
                gettext(
                    "You are logged out, and your account is disabled. It will be deleted for good after "
                    "%(when)s UTC. Until then, the link in the email we sent restores it.",
                    when=deletion.format_moment(result.delete_after),
                ),
            )
    grace = deletion.grace_period()
    return render_template(
        "registration/delete_account.html",
        form=form,
        recent=recent,
        grace=span(grace) if grace is not None else None,
        reauth_url=url_for("registration.reauthenticate", next=request.path),
    ), status


@bp.route("/account/restore", methods=["GET", "POST"])
def restore_account() -> Page:
    """The page the restore link opens: a button (opening it changes nothing)."""
    form = RestoreAccountForm()
    if request.method == "GET":
        form.uid.data, form.token.data = request.args.get("uid"), request.args.get("token")
    try:
        user = deletion.user_for_restore_link(form.uid.data, form.token.data)
    except RegistrationError as exc:
        return _message(gettext("This link does not work"), exc.message, exc.status)
    if request.method == "GET":
        return render_template("registration/restore_account.html", form=form, email=user.email)
    if not form.validate_on_submit():
        return render_template("registration/restore_account.html", form=form, email=user.email), 400
    try:
        deletion.restore(form.uid.data, form.token.data)
    except RegistrationError as exc:
        return _message(gettext("The account was not restored"), exc.message, exc.status)
    return _message(
        gettext("Your account is restored"),
        gettext("Welcome back. You can log in again as before."),
        login=gettext("Log in"),
    )


@bp.route("/account/export", methods=["GET", "POST"])
@login_required
def export_account() -> Page | Response:
    """A page with a button; the button (a POST with its CSRF token) downloads the
    account's data as a JSON file."""
    form = ExportForm()
    if form.validate_on_submit():
        user: Any = current_user._get_current_object()
        data = export.export_data(user)  # RateLimited: the 429 page
        response = Response(export.to_json(data), mimetype="application/json")
        response.headers["Content-Disposition"] = f'attachment; filename="{export.filename(user)}"'
        response.headers["Cache-Control"] = "no-store"
        return response
    return render_template("registration/export.html", form=form), 400 if form.is_submitted() else 200
