"""The HTML face: signup, confirm, resend, login and logout pages over the flows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from . import flows, reauth
from .errors import LoginFailed, RateLimited, RegistrationError, ServerBusy, TokenExpired, ValidationError
from .flows.login import LoginStepRequired, credentials
from .flows.signup import check_signup_data
from .forms import (
    FIELD_NAMES,
    ConfirmForm,
    ConfirmNewPasswordForm,
    LogoutForm,
    ResendForm,
    offer_passkeys,
    take_username,
)
from .i18n import gettext
from .redirects import safe_redirect
from .state import get_state
from .usernames import username_login
from .validation import check_password, normalize_email

bp = Blueprint("registration", __name__, template_folder="templates")

Page = str | tuple[str, int] | Response


@bp.app_context_processor
def _logout_form() -> dict[str, Any]:
    # Every page can render a logout button that carries a CSRF token.
    return {"registration_logout_form": LogoutForm}


@bp.errorhandler(RateLimited)
def _rate_limited(error: RateLimited) -> tuple[str, int, dict[str, str]]:
    # The same status and Retry-After as the JSON face, on a page of its own.
    return render_template("registration/rate_limited.html", error=error), error.status, error.headers()


@bp.errorhandler(ServerBusy)
def _server_busy(error: ServerBusy) -> tuple[str, int, dict[str, str]]:
    # 503 with Retry-After, as the JSON face answers: every hashing slot stayed taken.
    return render_template("registration/server_busy.html", error=error), error.status, error.headers()


def form_status(form: Any) -> int:
    """The status of a form page: 200, or that of the flow's error shown on it (422 for
    the form's own checks)."""
    if not (form.errors or form.form_errors):
        return 200
    return int(getattr(form, "registration_status", 422))


def show_errors(form: Any, error: RegistrationError) -> None:
    """Put a flow's error messages on the form's fields (or above the form).

    A :class:`~flask_registration.RateLimited` or a
    :class:`~flask_registration.errors.ServerBusy` is raised again instead: it is not
    about the form, and its page answers 429 or 503 with ``Retry-After``.
    """
    if isinstance(error, (RateLimited, ServerBusy)):
        raise error
    form.registration_status = error.status
    if not error.fields:
        form.form_errors.append(error.message)
    for name, errors in error.fields.items():
        messages = [m for _, m in errors]
        field = form._fields.get(FIELD_NAMES.get(name, name))
        if field is not None:
            field.errors = [*field.errors, *messages]
        else:
            form.form_errors.extend(f"{name}: {m}" for m in messages)


def show_check_errors(form: Any, *checks: Callable[[], object]) -> None:
    """After a form's own validators refused it, run the flow's checks that change
    nothing (its address and password rules) and add their messages to the fields that
    have none yet: every problem shows at once, not one per attempt."""
    for check in checks:
        try:
            check()
        except ValidationError as exc:
            fresh = {
                name: errors
                for name, errors in exc.fields.items()
                if name in form._fields or FIELD_NAMES.get(name) in form._fields
                if not form._fields[FIELD_NAMES.get(name, name)].errors
            }
            if fresh:
                show_errors(form, ValidationError.from_fields(fresh))


def check_password_field(form: Any, name: str = "password") -> Callable[[], object]:
    """A check of the new password in ``form.<name>`` (skipped when it is empty: the
    form already says so)."""
    data = form._fields[name].data
    return lambda: data and check_password(data, field=name)


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Page:
    form = get_state().extension.signup_form()
    if form.validate_on_submit():
        try:
            result = flows.signup(form.flow_data())
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            reauth.remember_signup(result.email)
            return render_template("registration/check_email.html", email=result.email, email_sent=result.email_sent)
    elif form.is_submitted():
        data = form.flow_data()
        email = data.get("email")
        # The flow's check stops at an empty required field: check the others as well.
        show_check_errors(
            form,
            lambda: check_signup_data(data),
            check_password_field(form),
            lambda: email and normalize_email(email),
        )
    status = form_status(form)
    return render_template("registration/signup.html", form=form), status


def _link_error(exc: RegistrationError) -> Page:
    """The page for a verification link that does not work (offering a new one)."""
    if isinstance(exc, TokenExpired):
        user = flows.verify.user_for_expired_link(exc)
        form = ResendForm(email=user.email if user is not None else None)
        return render_template("registration/confirm_error.html", error=exc, form=form, expired=True), exc.status
    page = render_template("registration/confirm_error.html", error=exc, form=ResendForm(), expired=False)
    return page, exc.status


def _confirm_page(user: Any, form: ConfirmForm, new_password_form: ConfirmNewPasswordForm, status: int = 200) -> Page:
    """The page an emailed link opens: a button (and the password, or a new one, when
    this browser did not sign up). Opening it changes nothing."""
    needs = None if reauth.signed_up_here(user.email) else flows.verify.proof_needed(user)
    for f in (form, new_password_form):
        f.uid.data, f.token.data = f.uid.data or request.args.get("uid"), f.token.data or request.args.get("token")
    # The forms post to this page's own address, so a ``redirect`` of the link goes along.
    target = safe_redirect(request.args.get("redirect"))
    page = render_template(
        "registration/confirm.html",
        form=form,
        new_password_form=new_password_form,
        email=user.email,
        needs=needs,
        query={"redirect": target} if target else {},
    )
    return page, status


def _confirmed(user: Any, redirect_to: str | None) -> Page:
    target = safe_redirect(redirect_to)
    if target:
        flash(gettext("Your email address is confirmed. You can log in now."), "success")
        return redirect(target)
    return render_template("registration/confirmed.html")


@bp.route("/confirm", methods=["GET", "POST"])
def confirm() -> Page:
    form = ConfirmForm()
    uid = form.uid.data if request.method == "POST" else request.args.get("uid")
    token = form.token.data if request.method == "POST" else request.args.get("token")
    try:
        user = flows.verify.user_for_verify_link(uid, token)
    except RegistrationError as exc:
        return _link_error(exc)
    if request.method == "GET":
        if user.email_verified:
            return render_template("registration/confirmed.html")
        return _confirm_page(user, form, ConfirmNewPasswordForm(formdata=None))
    if not form.validate_on_submit():
        return _confirm_page(user, form, ConfirmNewPasswordForm(formdata=None), 400)
    try:
        flows.confirm(uid, token, password=form.password.data or None, same_browser=reauth.signed_up_here(user.email))
    except RegistrationError as exc:
        show_errors(form, exc)
        return _confirm_page(user, form, ConfirmNewPasswordForm(formdata=None), form_status(form))
    return _confirmed(user, request.args.get("redirect"))


@bp.post("/confirm/new-password")
def confirm_new_password() -> Page:
    form = ConfirmNewPasswordForm()
    try:
        user = flows.verify.user_for_verify_link(form.uid.data, form.token.data)
    except RegistrationError as exc:
        return _link_error(exc)
    if form.validate_on_submit():
        try:
            flows.password.confirm_with_new_password(form.uid.data, form.token.data, form.password.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            return _confirmed(user, request.args.get("redirect"))
    elif form.is_submitted():
        show_check_errors(form, check_password_field(form))
    return _confirm_page(user, ConfirmForm(formdata=None), form, form_status(form))


@bp.route("/resend", methods=["GET", "POST"])
def resend() -> Page:
    form = ResendForm()
    if form.validate_on_submit():
        try:
            flows.resend(form.email.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            return render_template("registration/check_email.html", email=None, email_sent=True, resent=True)
    status = form_status(form)
    return render_template("registration/resend.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page:
    form = get_state().extension.login_form()
    if username_login():
        take_username(form)  # one field, "Email or username"
    if get_state().factors is not None:
        offer_passkeys(form)  # the browser may offer this site's passkeys in the field
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    not_verified = False
    status = 200
    if form.validate_on_submit():
        try:
            typed = credentials(form.email.data)
            result = flows.login({**typed, "password": form.password.data, "remember": form.remember.data})
        except LoginStepRequired as exc:
            # The password was right and the account has a second factor: its own page.
            target = safe_redirect(form.next.data)
            return redirect(exc.location + (f"?{urlencode({'next': target})}" if target else ""))
        except RegistrationError as exc:
            show_errors(form, exc)
            # With enumeration prevention, an unconfirmed address answers as a wrong
            # password does: every refused login offers a new link.
            not_verified = isinstance(exc, LoginFailed)
            status = exc.status
        else:
            reauth.mark(result.user)  # the password was just typed
            default = current_app.config["REGISTRATION_POST_LOGIN_REDIRECT"]
            return redirect(safe_redirect(form.next.data, default) or default)
    elif form.errors:
        status = 422
    return render_template("registration/login.html", form=form, not_verified=not_verified), status


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Page:
    if request.method == "GET":
        # A typed or bookmarked /logout: a button (logging out changes state, so it
        # takes a POST with a CSRF token), or nothing to do.
        if current_user.is_authenticated:
            return render_template("registration/logout.html")
        return redirect(current_app.config["REGISTRATION_POST_LOGOUT_REDIRECT"] or url_for("registration.login"))
    form = LogoutForm()
    if not form.validate_on_submit():
        return render_template("registration/logout_failed.html"), 400
    flows.logout()
    return redirect(current_app.config["REGISTRATION_POST_LOGOUT_REDIRECT"])


@bp.post("/logout-everywhere")
@login_required
def logout_everywhere() -> Page:
    # Every session, remember cookie and access token of the user ends, this one too.
    form = LogoutForm()
    if not form.validate_on_submit():
        return render_template("registration/logout_failed.html", everywhere=True), 400
    flows.log_out_everywhere(current_user._get_current_object())
    flash(gettext("You are logged out on every device."), "success")
    return redirect(current_app.config["REGISTRATION_POST_LOGOUT_REDIRECT"])


def create_blueprint() -> Blueprint:
    """The blueprint of every HTML page of the library: those above (signup, confirm,
    resend, login, logout) and the account pages of :mod:`flask_registration.account_views`,
    which add their routes to it when imported; ``init_app`` registers what this returns."""
    from . import account_views  # noqa: F401 (its routes go on this blueprint)

    return bp
