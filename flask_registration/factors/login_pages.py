"""The HTML face of logging in and signing up with second factors, on the security
page's blueprint (:mod:`.pages`). Thin shells over :mod:`.login` and :mod:`.signup`:

- ``/login/second-factor``: after the right password (or a provider), the code of the
  authenticator app, a recovery code or a passkey; "trust this browser" when on;
- ``POST /login/passkey``: "Log in with a passkey" on the login page (the button, or the
  browser's autofill of the address field);
- ``POST /signup/passkey``: "Sign up with a passkey" on the signup page;
- ``POST /reauthenticate/passkey``: a passkey on the re-authentication page.

The passkey buttons need the browser: ``passkeys.js`` asks the JSON API for the options
(with the page's CSRF token), lets the authenticator answer, puts the answer in the
form's hidden ``credential`` field and posts the form.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, EmailField, HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired

from .. import reauth, signals
from ..errors import RateLimited, RegistrationError, ServerBusy
from ..i18n import gettext, lazy_gettext, ngettext
from ..models import utcnow
from ..redirects import safe_redirect
from ..views import Page, form_status, show_errors
from . import flows, login, signup, trust
from .pages import bp
from .verify import methods


class SecondFactorForm(FlaskForm):
    """A code (the app's, or a recovery code), or a passkey's answer (filled in by the
    script), and whether to trust this browser."""

    code = StringField(
        lazy_gettext("Code"),
        render_kw={
            "autocomplete": "one-time-code",
            "autocapitalize": "none",
            "spellcheck": "false",
            "aria-describedby": "code-hint",
        },
    )
    credential = HiddenField()
    trust = BooleanField(lazy_gettext("Trust this browser"))
    next = HiddenField()
    submit = SubmitField(lazy_gettext("Continue"))


class PasskeyLoginForm(FlaskForm):
    """A passkey's answer, for a login with a passkey alone (filled in by the script)."""

    credential = HiddenField()
    next = HiddenField()


class PasskeySignupForm(FlaskForm):
    """The address of a new account, and its passkey's answer (filled in by the script)."""

    email = EmailField(
        lazy_gettext("Email"),
        validators=[DataRequired(lazy_gettext("Enter your email address."))],
        render_kw={"autocomplete": "email"},
    )
    credential = HiddenField()


class PasskeyReauthForm(FlaskForm):
    """A passkey's answer, to confirm it is the owner (filled in by the script)."""

    credential = HiddenField()
    next = HiddenField()


#: The passkey forms the library's pages show (login, signup, re-authentication).
PASSKEY_FORMS = {"login": PasskeyLoginForm, "signup": PasskeySignupForm, "reauthenticate": PasskeyReauthForm}


@bp.app_context_processor
def _passkey_forms() -> dict[str, Any]:
    # The login, signup and re-authentication pages offer passkeys when this is set.
    return {"registration_passkeys": PASSKEY_FORMS}


def trust_label(within: timedelta) -> str:
    """The label of the checkbox: "Trust this browser for 30 days" (or hours, under a day)."""
    if within >= timedelta(days=1):
        days = within.days
        return ngettext("Trust this browser for %(num)d day", "Trust this browser for %(num)d days", days)
    hours = max(1, int(within.total_seconds() // 3600))
    return ngettext("Trust this browser for %(num)d hour", "Trust this browser for %(num)d hours", hours)


def _onward(next_url: str | None) -> Response:
    default = current_app.config["REGISTRATION_POST_LOGIN_REDIRECT"]
    return redirect(safe_redirect(next_url, default) or default)


def _failed(title: str, error: RegistrationError, **links: str) -> Page:
    if isinstance(error, RateLimited | ServerBusy):
        raise error  # their own pages: 429 or 503 with Retry-After
    page = render_template("registration/message.html", title=title, message=error.message, links=links)
    return page, error.status


def _trusting(response: Response, user: Any) -> Response:
    """``response`` with the cookie that trusts this browser for ``user``."""
    within = trust.within()
    if within is None:
        return response
    response.set_cookie(
        trust.COOKIE,
        trust.cookie_value(user),
        max_age=int(within.total_seconds()),
        secure=True,
        httponly=True,
        samesite="Lax",
        path=current_app.config.get("SESSION_COOKIE_PATH") or "/",
    )
    signals.browser_trusted.send(signals.app_sender(), user=user, until=utcnow() + within)
    return response


@bp.route("/login/second-factor", methods=["GET", "POST"])
def second_factor() -> Page:
    """The second step of a login: a code or a passkey (or nothing, in a trusted browser)."""
    form = SecondFactorForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    found = login.waiting()
    if found is None:
        if current_user.is_authenticated:  # done already (a second tab, the back button)
            return _onward(form.next.data)
        flash(gettext("That login took too long, or it is over. Please log in again."), "error")
        return redirect(url_for("registration.login"))
    user, half = found
    if request.method == "GET" and trust.is_trusted(user, request.cookies.get(trust.COOKIE)):
        login.finish(user, half)
        reauth.mark(user)  # the password was just typed, in a browser its owner trusts
        return _onward(form.next.data)
    if form.validate_on_submit():
        try:
            if form.credential.data:
                result = login.finish_with_passkey(flows.parse_answer(form.credential.data))
            else:
                result = login.finish_with_code(form.code.data)
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            reauth.mark(result.user)  # every factor was just given
            response = _onward(form.next.data)
            return _trusting(response, result.user) if form.trust.data else response
    within = trust.within()
    if within is not None:
        form.trust.label.text = trust_label(within)
    page = render_template(
        "registration/second_factor.html", form=form, methods=methods(user), trust_offered=within is not None
    )
    return page, form_status(form)


@bp.post("/login/passkey")
def passkey_login() -> Page:
    """The "Log in with a passkey" button: the answer of any passkey of this site."""
    form = PasskeyLoginForm()
    title = gettext("Logging in with a passkey did not work")
    if not form.validate_on_submit():
        message = gettext("That request could not be checked. Please try again.")
        return _failed(title, RegistrationError(message, code="CSRF_FAILED"), login=gettext("Back to the login page"))
    try:
        result = login.log_in_with_passkey(flows.parse_answer(form.credential.data))
    except RegistrationError as exc:
        return _failed(title, exc, login=gettext("Back to the login page"))
    reauth.mark(result.user)
    return _onward(form.next.data)


@bp.post("/signup/passkey")
def passkey_signup() -> Page:
    """The "Sign up with a passkey" button: the address, and the new passkey's answer."""
    form = PasskeySignupForm()
    title = gettext("Signing up with a passkey did not work")
    if not form.validate_on_submit():
        message = gettext("That request could not be checked. Please try again.")
        return _failed(title, RegistrationError(message, code="CSRF_FAILED"), signup=gettext("Back to the signup page"))
    try:
        result = signup.finish_signup(flows.parse_answer(form.credential.data))
    except RegistrationError as exc:
        return _failed(title, exc, signup=gettext("Back to the signup page"))
    reauth.remember_signup(result.email)  # this browser made the passkey: its link needs no more
    return render_template("registration/check_email.html", email=result.email, email_sent=result.email_sent)


@bp.post("/reauthenticate/passkey")
@login_required
def reauthenticate_passkey() -> Page:
    """A passkey of the logged-in user, to confirm it is them."""
    form = PasskeyReauthForm()
    title = gettext("Confirming it is you did not work")
    if not form.validate_on_submit():
        message = gettext("That request could not be checked. Please try again.")
        return _failed(title, RegistrationError(message, code="CSRF_FAILED"), reauthenticate=gettext("Try again"))
    user = current_user._get_current_object()
    try:
        login.reauthenticate(user, flows.parse_answer(form.credential.data))
    except RegistrationError as exc:
        return _failed(title, exc, reauthenticate=gettext("Try again"))
    reauth.mark(user)
    return _onward(form.next.data)
