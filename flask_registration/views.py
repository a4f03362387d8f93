"""The HTML face: signup, confirm, resend, login and logout pages over the flows."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request
from werkzeug.wrappers import Response

from . import flows
from .errors import EmailNotVerified, RateLimited, RegistrationError, TokenExpired
from .forms import FIELD_NAMES, LogoutForm, ResendForm
from .redirects import safe_redirect
from .state import get_state

bp = Blueprint("registration", __name__, template_folder="templates")

Page = str | tuple[str, int] | Response


@bp.before_request
def _limit_body() -> None:
    request.max_content_length = current_app.config["REGISTRATION_MAX_BODY_SIZE"]


@bp.app_context_processor
def _logout_form() -> dict[str, Any]:
    # Every page can render a logout button that carries a CSRF token.
    return {"registration_logout_form": LogoutForm}


@bp.errorhandler(RateLimited)
def _rate_limited(error: RateLimited) -> tuple[str, int, dict[str, str]]:
    # The same status and Retry-After as the JSON face, on a page of its own.
    return render_template("registration/rate_limited.html", error=error), error.status, error.headers()


def form_status(form: Any) -> int:
    """The status of a form page: 200, or that of the flow's error shown on it (422 for
    the form's own checks)."""
    if not (form.errors or form.form_errors):
        return 200
    return int(getattr(form, "registration_status", 422))


def show_errors(form: Any, error: RegistrationError) -> None:
    """Put a flow's error messages on the form's fields (or above the form).

    A :class:`~flask_registration.RateLimited` is raised again instead: it is not about
    the form, and its page answers 429 with ``Retry-After``.
    """
    if isinstance(error, RateLimited):
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


@bp.route("/signup", methods=["GET", "POST"])
def signup() -> Page:
    form = get_state().extension.signup_form()
    if form.validate_on_submit():
        try:
            result = flows.signup(form.flow_data())
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            return render_template(
                "registration/check_email.html", email=result.email, email_sent=result.email_sent
            )
    status = form_status(form)
    return render_template("registration/signup.html", form=form), status


@bp.get("/confirm")
def confirm() -> Page:
    try:
        flows.confirm(request.args.get("uid"), request.args.get("token"))
    except TokenExpired as exc:
        user = flows.verify.user_for_expired_link(exc)
        form = ResendForm(email=user.email if user is not None else None)
        return render_template("registration/confirm_error.html", error=exc, form=form, expired=True), exc.status
    except RegistrationError as exc:  # a bad link, or a before_confirm hook's veto
        page = render_template("registration/confirm_error.html", error=exc, form=ResendForm(), expired=False)
        return page, exc.status
    target = safe_redirect(request.args.get("redirect"))
    if target:
        flash("Your email address is verified. You can log in now.", "success")
        return redirect(target)
    return render_template("registration/confirmed.html")


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
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    not_verified = False
    status = 200
    if form.validate_on_submit():
        try:
            flows.login({"email": form.email.data, "password": form.password.data, "remember": form.remember.data})
        except RegistrationError as exc:
            show_errors(form, exc)
            not_verified = isinstance(exc, EmailNotVerified)
            status = exc.status
        else:
            default = current_app.config["REGISTRATION_POST_LOGIN_REDIRECT"]
            return redirect(safe_redirect(form.next.data, default) or default)
    elif form.errors:
        status = 422
    return render_template("registration/login.html", form=form, not_verified=not_verified), status


@bp.post("/logout")
def logout() -> Page:
    form = LogoutForm()
    if not form.validate_on_submit():
        return render_template("registration/logout_failed.html"), 400
    flows.logout()
    return redirect(current_app.config["REGISTRATION_POST_LOGOUT_REDIRECT"])

