"""The HTML face of the account flows: forgot/reset password, change password, change
email. Registered on the same ``registration`` blueprint as :mod:`views`."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request
from flask_login import current_user, login_required

from . import flows, reauth
from .errors import RegistrationError
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
from .redirects import safe_redirect
from .views import Page, bp, form_status, show_errors


def _message(title: str, message: str, status: int = 200, **links: str) -> Page:
    return render_template("registration/message.html", title=title, message=message, links=links), status


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
                "Check your email",
                "If an account uses that address, we have sent it a link to reset the password.",
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
            return _message("Password changed", "Your password is changed. You can log in with it now.", login="Log in")
    return _form_page("registration/reset_password.html", form)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Page:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            flows.change_password(current_user._get_current_object(), form.old_password.data, form.password.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            return _message("Password changed", "Your password is changed. Your other sessions were logged out.")
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
                "Check your new inbox",
                "Follow the link we sent to the new address. Until then, your current address stays in use.",
            )
    return _form_page("registration/change_email.html", form, user=user, cancel_form=CancelEmailChangeForm())


@bp.post("/account/email/cancel")
@login_required
def cancel_email_change() -> Page:
    if not CancelEmailChangeForm().validate_on_submit():
        return _message("Not cancelled", "That request could not be checked. Please try again.", 400)
    flows.cancel_email_change(current_user._get_current_object())
    return _message("Change cancelled", "Your address stays as it is. The link we sent no longer works.")


@bp.route("/confirm-email", methods=["GET", "POST"])
def confirm_email() -> Page:
    form = ConfirmEmailChangeForm()
    if request.method == "GET":
        form.uid.data, form.token.data = request.args.get("uid"), request.args.get("token")
        return render_template("registration/confirm_email.html", form=form)
    if not form.validate_on_submit():
        return render_template("registration/confirm_email.html", form=form), 400
    try:
        user = flows.confirm_email_change(form.uid.data, form.token.data)
    except RegistrationError as exc:
        return _message("The address was not changed", exc.message, exc.status)
    return _message("Email address changed", f"Your account now uses {user.email}.")


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
    context = {"email_form": email_form, "has_password": bool(user.password_hash)}
    return _form_page("registration/reauthenticate.html", form, **context)


@bp.post("/reauthenticate/email")
@login_required
def reauthenticate_email() -> Page:
    form = ReauthEmailForm()
    if not form.validate_on_submit():
        return _message("Not sent", "That request could not be checked. Please try again.", 400)
    flows.reauth.send_reauth_link(current_user._get_current_object(), next_url=form.next.data)
    return _message(
        "Check your email",
        "We sent you a link. Open it in this browser and press the button to confirm it is you.",
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
        return _message("This link does not work", exc.message, exc.status)
    reauth.mark(user)
    return _after_reauth(form.next.data)
