"""The HTML face of the account flows: forgot/reset password, change password, change
email. Registered on the same ``registration`` blueprint as :mod:`views`."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request
from flask_login import current_user, login_required

from . import flows, reauth
from ._compat import remember_cookie_in_use
from .errors import InvalidToken, RegistrationError, TokenExpired, ValidationError
from .forms import (
    CancelEmailChangeForm,
    ChangeEmailForm,
    ChangePasswordForm,
    ConfirmEmailChangeForm,
    ForgotPasswordForm,
    ReauthEmailForm,
    ReauthForm,
    ReauthLinkForm,
    ResetPasswordForm,
)
from .i18n import N_, gettext
from .redirects import safe_redirect
from .state import get_state
from .validation import normalize_email
from .views import Page, bp, check_password_field, form_status, show_check_errors, show_errors

#: What a page says when its form's CSRF token was refused.
EXPIRED_FORM = N_("This form has expired or did not come from this site. Please try again.")


def _message(title: str, message: str, status: int = 200, **links: str) -> Page:
    """A page with a heading and a sentence. With no ``links`` (endpoint: text), it
    links on to the account page, or to the login page for a visitor not logged in."""
    return render_template("registration/message.html", title=title, message=message, links=links), status


def _link_error(exc: RegistrationError) -> Page:
    """The page for an emailed link that does not work (a change of address)."""
    expired = isinstance(exc, TokenExpired)
    title = gettext("This link has expired") if expired else gettext("This link is not valid")
    body = exc.message
    said = TokenExpired.default_message if expired else InvalidToken.default_message
    if body == gettext(said):  # the heading says it already: say what to do instead
        body = gettext(
            "It may be incomplete, or a newer link may have replaced it. Ask for a new one on your account page."
        )
    return _message(title, body, exc.status)


@bp.get("/account")
@login_required
def account() -> Page:
    """The account page: the address (and a pending change), the ways to log in, and
    links to every other account page."""
    user = current_user._get_current_object()
    return render_template(
        "registration/account.html",
        user=user,
        has_password=bool(user.password_hash),
        providers=flows.methods.provider_titles(user),
        connections="registration_connections" in current_app.blueprints,
        cancel_form=CancelEmailChangeForm(),
    )


def _form_page(template: str, form: object, **context: object) -> Page:
    return render_template(template, form=form, **context), form_status(form)


@bp.route("/forgot", methods=["GET", "POST"])
def forgot_password() -> Page:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            flows.request_password_reset(form.email.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            return _message(
                gettext("Check your email"),
                gettext(
                    "If that address belongs to an account, we have emailed a link to it. "
                    "Open the link to set a new password."
                ),
            )
    return _form_page("registration/forgot_password.html", form)


@bp.route("/reset-password", methods=["GET", "POST"])
def reset_password() -> Page:
    form = ResetPasswordForm()
    token = form.token.data if request.method == "POST" else request.args.get("token")
    try:
        flows.password.user_for_reset_token(token)
    except RegistrationError as exc:
        return render_template("registration/reset_error.html", error=exc), exc.status
    if request.method == "GET":
        form.token.data = token
    elif form.validate_on_submit():
        try:
            flows.reset_password(token, form.password.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            message = gettext("Your password has been changed. You can log in with it now.")
            return _message(gettext("Password changed"), message, login=gettext("Log in"))
    elif form.is_submitted():
        show_check_errors(form, check_password_field(form))
    return _form_page("registration/reset_password.html", form)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Page:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            flows.change_password(
                current_user._get_current_object(),
                form.old_password.data,
                form.password.data,
                remember=remember_cookie_in_use(),
            )
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            return _message(
                gettext("Password changed"),
                gettext("Your password has been changed, and you have been logged out everywhere else."),
            )
    elif form.is_submitted():
        show_check_errors(form, check_password_field(form))
    return _form_page("registration/change_password.html", form)


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def change_email() -> Page:
    form = ChangeEmailForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            flows.request_email_change(user, form.new_email.data, form.password.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            return _message(
                gettext("Check your new inbox"),
                gettext(
                    "We have emailed a link to the new address. Open it to finish the change. "
                    "Until then, your account keeps its current address."
                ),
            )
    elif form.is_submitted() and form.new_email.data:
        show_check_errors(form, lambda: _check_new_email(form.new_email.data))
    return _form_page("registration/change_email.html", form, user=user, cancel_form=CancelEmailChangeForm())


@bp.post("/account/email/cancel")
@login_required
def cancel_email_change() -> Page:
    if not CancelEmailChangeForm().validate_on_submit():
        return _message(gettext("Not cancelled"), gettext(EXPIRED_FORM), 400)
    flows.cancel_email_change(current_user._get_current_object())
    return _message(
        gettext("Change cancelled"), gettext("Your email address stays the same. The link we sent no longer works.")
    )


def _check_new_email(value: str) -> None:
    try:
        normalize_email(value)
    except ValidationError as exc:  # the flow names the field newEmail, the form new_email
        raise ValidationError.from_fields({"newEmail": exc.fields["email"]}) from None


@bp.route("/confirm-email", methods=["GET", "POST"])
def confirm_email() -> Page:
    form = ConfirmEmailChangeForm()
    if request.method == "GET":
        form.uid.data, form.token.data = request.args.get("uid"), request.args.get("token")
    try:
        _user, email = flows.email_change.user_for_change_link(form.uid.data, form.token.data)
    except RegistrationError as exc:
        return _link_error(exc)
    if request.method == "GET":
        return render_template("registration/confirm_email.html", form=form, email=email)
    if not form.validate_on_submit():
        return render_template("registration/confirm_email.html", form=form, email=email), 400
    try:
        user = flows.confirm_email_change(form.uid.data, form.token.data)
    except RegistrationError as exc:
        reasons = [m for errors in exc.fields.values() for _, m in errors] or [exc.message]
        return _message(gettext("The address was not changed"), " ".join(reasons), exc.status)
    return _message(gettext("Email address changed"), gettext("Your account now uses %(email)s.", email=user.email))


def _after_reauth(next_url: str | None) -> Page:
    default = current_app.config["REGISTRATION_POST_LOGIN_REDIRECT"]
    return redirect(safe_redirect(next_url, default) or default)


@bp.route("/reauthenticate", methods=["GET", "POST"])
@login_required
def reauthenticate() -> Page:
    user = current_user._get_current_object()
    form = ReauthForm()
    email_form = ReauthEmailForm()
    if request.method == "GET":
        form.next.data = email_form.next.data = request.args.get("next", "")
    elif form.validate_on_submit():
        try:
            flows.reauth.reauthenticate(user, form.password.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            reauth.mark(user)
            return _after_reauth(form.next.data)
    factors = get_state().factors  # with second factors, a passkey of the account will do too
    has_passkey = factors is not None and bool(factors.passkeys_of(user))
    context = {"email_form": email_form, "has_password": bool(user.password_hash), "has_passkey": has_passkey}
    return _form_page("registration/reauthenticate.html", form, **context)


@bp.post("/reauthenticate/email")
@login_required
def reauthenticate_email() -> Page:
    form = ReauthEmailForm()
    if not form.validate_on_submit():
        return _message(gettext("Not sent"), gettext(EXPIRED_FORM), 400)
    flows.reauth.send_reauth_link(current_user._get_current_object(), next_url=form.next.data)
    return _message(
        gettext("Check your email"),
        gettext("We have emailed you a link. Open it in this browser and press its button to confirm it is you."),
    )


@bp.route("/reauthenticate/link", methods=["GET", "POST"])
@login_required
def reauthenticate_link() -> Page:
    form = ReauthLinkForm()
    if request.method == "GET":
        form.uid.data, form.token.data = request.args.get("uid"), request.args.get("token")
        form.next.data = request.args.get("next", "")
        return render_template("registration/reauthenticate_link.html", form=form)
    if not form.validate_on_submit():
        return render_template("registration/reauthenticate_link.html", form=form), 400
    user = current_user._get_current_object()
    try:
        flows.reauth.user_for_reauth_link(form.uid.data, form.token.data, user)
    except RegistrationError as exc:
        return _message(gettext("This link does not work"), exc.message, exc.status)
    reauth.mark(user)
    return _after_reauth(form.next.data)
