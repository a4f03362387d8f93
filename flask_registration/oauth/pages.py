"""The HTML pages of third-party login: the page that asks for an address when the
provider gave none (``/login/<provider>/email``), the page of a pending login's emailed
link (``/login/<provider>/confirm``), and the connections page, where a logged-in user
sees and unlinks the providers linked to the account
(``<REGISTRATION_URL_PREFIX>/account/connections``).

Linking another provider is the dance itself, started while logged in (see
:mod:`.dance`). Like the other faces, these pages are thin shells over :mod:`.flows`.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import EmailField, HiddenField, SubmitField
from wtforms.validators import DataRequired

from ..errors import OAuthError, RegistrationError, ValidationError
from ..i18n import gettext, lazy_gettext, ngettext
from ..views import show_errors
from . import flows
from .dance import PENDING_KEY, PENDING_LINK_KEY, PENDING_MAX_AGE, answer, refusal, wants_json
from .pending import complete_pending
from .providers import get_providers, titles_by_name

# The page that asks for an address when the provider gave none, and the pending
# login's page.

bp = Blueprint("registration_oauth", __name__)


class OAuthEmailForm(FlaskForm):
    """The address of a new account whose provider gave none."""

    email = EmailField(
        lazy_gettext("Email"),
        validators=[DataRequired(lazy_gettext("Enter your email address."))],
        render_kw={"autocomplete": "email"},
    )
    submit = SubmitField(lazy_gettext("Continue"))


@bp.route("/login/<provider>/email", methods=["GET", "POST"])
def email(provider: str) -> Response | tuple[str, int]:
    spec = get_providers().get(provider)
    pending = session.get(PENDING_KEY)
    if (
        spec is None
        or not isinstance(pending, dict)
        or pending.get("provider") != provider
        or not isinstance(pending.get("at"), int)
        or time.time() - pending["at"] > PENDING_MAX_AGE
    ):
        message = gettext("There is no login waiting for an email address here, or it is too old. Please start again.")
        return refusal(OAuthError(message, code="OAUTH_NOTHING_PENDING", status=400), spec)
    form = OAuthEmailForm()
    if form.validate_on_submit():
        token = pending["token"]
        try:
            identity = spec.identity(token)
            result = flows.finish_with_email(identity, token, form.email.data)
        except ValidationError as exc:
            if wants_json():
                return refusal(exc, spec)
            show_errors(form, exc)
        except RegistrationError as exc:
            session.pop(PENDING_KEY, None)
            return refusal(exc, spec)
        else:
            session.pop(PENDING_KEY, None)
            return answer(result, spec, token, linking=False)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("registration/oauth_email.html", form=form, provider=spec), status


class OAuthConfirmForm(FlaskForm):
    """The emailed link's token, behind a button (opening a link changes nothing)."""

    token = HiddenField()
    submit = SubmitField(lazy_gettext("Confirm and log in"))


@bp.route("/login/<provider>/confirm", methods=["GET", "POST"])
def confirm(provider: str) -> Response | tuple[str, int]:
    """The page of a pending login's emailed link: a button that finishes the login, in
    the browser that did the dance only."""
    spec = get_providers().get(provider)
    form = OAuthConfirmForm()
    if request.method == "GET":
        form.token.data = request.args.get("token")
    pending = session.get(PENDING_LINK_KEY)
    if (
        spec is None
        or not isinstance(pending, dict)
        or pending.get("provider") != provider
        or not isinstance(pending.get("at"), int)
        or time.time() - pending["at"] > flows.PENDING_MAX_AGE.total_seconds()
        or not isinstance(pending.get("token"), dict)
    ):
        title = spec.title if spec is not None else gettext("the provider")
        message = ngettext(
            "This link works only in the browser where you started logging in with %(title)s, and for "
            "%(num)d minute. Open it there, or start again.",
            "This link works only in the browser where you started logging in with %(title)s, and for "
            "%(num)d minutes. Open it there, or start again.",
            int(flows.PENDING_MAX_AGE.total_seconds() // 60),
            title=title,
        )
        return refusal(OAuthError(message, code="OAUTH_NOTHING_PENDING", status=400), spec)
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("registration/oauth_confirm.html", form=form, provider=spec), status
    token = pending["token"]
    try:
        identity = spec.identity(token)
        result = complete_pending(identity, token, pending=pending, link_token=form.token.data)
    except RegistrationError as exc:
        return refusal(exc, spec)
    session.pop(PENDING_LINK_KEY, None)
    return answer(result, spec, token, linking=False)


def provider_buttons() -> dict[str, Any]:
    """The template context of the login and signup pages' provider buttons."""
    # Names and titles only: the template builds the URLs (a context processor also
    # runs for emails rendered outside a request).
    providers = get_providers()
    return {"registration_oauth_providers": [{"name": p.name, "title": p.title} for p in providers.values()]}


# The connections page.

connections_bp = Blueprint("registration_connections", __name__)


class UnlinkForm(FlaskForm):
    """Nothing but the CSRF token: unlinking changes state."""

    submit = SubmitField(lazy_gettext("Unlink"))


@connections_bp.get("/account/connections")
@login_required
def connections() -> tuple[str, int]:
    return _page()


def _page(error: RegistrationError | None = None) -> tuple[str, int]:
    user = current_user._get_current_object()
    linked = {row.provider: row for row in flows.identities_of(user)}
    titles = titles_by_name()
    entries = [
        {"name": name, "title": titles.get(name, name), "identity": linked.get(name), "enabled": name in titles}
        for name in sorted(set(titles) | set(linked))
    ]
    page = render_template(
        "registration/connections.html",
        entries=entries,
        form=UnlinkForm(),
        has_password=bool(user.password_hash),
        error=error,
    )
    return page, error.status if error is not None else 200


@connections_bp.post("/account/connections/<provider>/unlink")
@login_required
def unlink(provider: str) -> Response | tuple[str, int]:
    if not UnlinkForm().validate_on_submit():
        refused = gettext("That request could not be checked. Please try again.")
        return _page(RegistrationError(refused, code="CSRF_FAILED"))
    try:
        flows.unlink_identity(current_user._get_current_object(), provider)
    except RegistrationError as exc:
        return _page(exc)
    title = titles_by_name().get(provider, provider)
    flash(gettext("%(provider)s is no longer linked to your account.", provider=title), "success")
    return redirect(url_for(".connections"))


def init_app(app: Flask) -> None:
    """Register the address, pending-login and connections pages on ``app``, and the
    provider buttons' template context."""
    prefix = app.config["REGISTRATION_URL_PREFIX"] or None
    app.register_blueprint(bp, url_prefix=prefix)
    app.context_processor(provider_buttons)
    app.register_blueprint(connections_bp, url_prefix=prefix)
