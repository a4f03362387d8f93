"""The HTML face of second factors: the security page (``/account/security``), where a
logged-in user adds, names and removes passkeys, sets the authenticator app up and makes
recovery codes. Thin shells over :mod:`.flows`.

Adding a passkey needs the browser: the page's script (``passkeys.js``, served by this
blueprint, no CDN) asks the JSON API for the options, lets the authenticator make the
passkey, and posts its answer with this page's form. Changes need a recent
re-authentication: without one, the page sends the owner to ``/reauthenticate`` first.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import InputRequired

from .. import reauth
from ..errors import RateLimited, ReauthenticationRequired, RegistrationError
from ..i18n import gettext, lazy_gettext
from ..views import Page, show_errors
from . import flows

bp = Blueprint(
    "registration_factors",
    __name__,
    static_folder="../static",
    static_url_path="/registration-static",
)


class AddPasskeyForm(FlaskForm):
    """A new passkey's name, and the authenticator's answer (filled in by the script)."""

    name = StringField(
        lazy_gettext("Passkey name"), render_kw={"autocomplete": "off", "maxlength": flows.NAME_MAX_LENGTH}
    )
    credential = HiddenField()
    submit = SubmitField(lazy_gettext("Add a passkey"))


class RenamePasskeyForm(FlaskForm):
    """A passkey's new name."""

    name = StringField(lazy_gettext("New name"), validators=[InputRequired(lazy_gettext("Give the passkey a name."))])
    submit = SubmitField(lazy_gettext("Rename"))


class TotpForm(FlaskForm):
    """The first code of the authenticator app being set up."""

    code = StringField(
        lazy_gettext("Code from the app"),
        validators=[InputRequired(lazy_gettext("Enter the 6-digit code the app shows."))],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(lazy_gettext("Turn on the authenticator app"))


class ActionForm(FlaskForm):
    """Nothing but the CSRF token: removing or making codes changes state."""

    submit = SubmitField(lazy_gettext("Confirm"))


@bp.app_context_processor
def _security_page() -> dict[str, Any]:
    # The account page links here when this blueprint is registered.
    return {"registration_security_page": True}


@bp.errorhandler(RateLimited)
def _rate_limited(error: RateLimited) -> tuple[str, int, dict[str, str]]:
    return render_template("registration/rate_limited.html", error=error), error.status, error.headers()


def _user() -> Any:
    return current_user._get_current_object()


def _reauthenticate() -> Response:
    return redirect(url_for("registration.reauthenticate", next=url_for(".security")))


def _page(error: RegistrationError | None = None, add_form: AddPasskeyForm | None = None) -> tuple[str, int]:
    user = _user()
    page = render_template(
        "registration/security.html",
        overview=flows.overview(user),
        recent=reauth.is_recent(user),
        add_form=add_form or AddPasskeyForm(),
        rename_form=RenamePasskeyForm(),
        action_form=ActionForm(),
        error=error,
    )
    return page, error.status if error is not None else 200


def _codes_page(title: str, message: str, codes: list[str]) -> Page:
    return render_template("registration/recovery_codes.html", title=title, message=message, codes=codes)


@bp.get("/account/security")
@login_required
def security() -> Page:
    """The security page: passkeys, the authenticator app, recovery codes."""
    return _page()


@bp.post("/account/security/passkeys")
@login_required
def add_passkey() -> Page:
    form = AddPasskeyForm()
    if not form.validate_on_submit():
        return _page(
            RegistrationError(gettext("That request could not be checked. Please try again."), code="CSRF_FAILED")
        )
    try:
        answer = flows.parse_answer(form.credential.data)
        added = flows.add_passkey(_user(), answer, form.name.data, recent=reauth.is_recent(_user()))
    except ReauthenticationRequired:
        return _reauthenticate()
    except RegistrationError as exc:
        if isinstance(exc, RateLimited):
            raise
        return _page(exc, form)
    message = gettext("The passkey “%(name)s” was added to your account.", name=added.factor.name)
    if added.recovery_codes:
        return _codes_page(gettext("Passkey added"), message, added.recovery_codes)
    flash(message, "success")
    return redirect(url_for(".security"))


@bp.post("/account/security/passkeys/<factor_id>/rename")
@login_required
def rename_passkey(factor_id: str) -> Page:
    form = RenamePasskeyForm()
    if not form.validate_on_submit():
        return _page(RegistrationError(gettext("Give the passkey a name, then press Rename."), code="VALIDATION_ERROR"))
    try:
        row = flows.rename_passkey(_user(), factor_id, form.name.data)
    except RegistrationError as exc:
        return _page(exc)
    flash(gettext("The passkey is now called “%(name)s”.", name=row.name), "success")
    return redirect(url_for(".security"))


@bp.post("/account/security/<factor_id>/remove")
@login_required
def remove(factor_id: str) -> Page:
    if not ActionForm().validate_on_submit():
        return _page(
            RegistrationError(gettext("That request could not be checked. Please try again."), code="CSRF_FAILED")
        )
    try:
        flows.remove_factor(_user(), factor_id, recent=reauth.is_recent(_user()))
    except ReauthenticationRequired:
        return _reauthenticate()
    except RegistrationError as exc:
        return _page(exc)
    flash(gettext("Removed. We have emailed you about it."), "success")
    return redirect(url_for(".security"))


@bp.route("/account/security/totp", methods=["GET", "POST"])
@login_required
def totp() -> Page:
    """Set the authenticator app up: the secret as text and as a QR code, and a field
    for the first code."""
    user = _user()
    form = TotpForm()
    recent = reauth.is_recent(user)
    try:
        secret = flows.pending_totp(user)
        setup = flows.setup_of(user, secret) if secret else flows.start_totp(user, recent=recent)
        if form.validate_on_submit() and secret:
            added = flows.confirm_totp(user, form.code.data, recent=recent)
            message = gettext("The authenticator app is on: from now on, logging in asks for its code.")
            if added.recovery_codes:
                return _codes_page(gettext("Authenticator app added"), message, added.recovery_codes)
            flash(message, "success")
            return redirect(url_for(".security"))
    except ReauthenticationRequired:
        return _reauthenticate()
    except RegistrationError as exc:
        if exc.fields:
            show_errors(form, exc)
        else:
            return _page(exc)
    status = 422 if request.method == "POST" and (form.errors or form.form_errors) else 200
    return render_template("registration/totp_setup.html", form=form, setup=setup), status


@bp.post("/account/security/recovery-codes")
@login_required
def recovery_codes() -> Page:
    if not ActionForm().validate_on_submit():
        return _page(
            RegistrationError(gettext("That request could not be checked. Please try again."), code="CSRF_FAILED")
        )
    try:
        codes = flows.generate_recovery_codes(_user(), recent=reauth.is_recent(_user()))
    except ReauthenticationRequired:
        return _reauthenticate()
    except RegistrationError as exc:
        return _page(exc)
    message = gettext("Your earlier recovery codes no longer work.")
    return _codes_page(gettext("New recovery codes"), message, codes)


def init_app(app: Flask) -> None:
    """Register the security pages on ``app``."""
    app.register_blueprint(bp, url_prefix=app.config["REGISTRATION_URL_PREFIX"] or None)
