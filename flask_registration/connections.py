"""Connections: the providers linked to the logged-in user's account, as a page
(``<REGISTRATION_URL_PREFIX>/account/connections``) and as JSON under the API prefix
(``GET /me/identities``, ``DELETE /me/identities/<provider>``).

Linking another provider is the dance itself, started while logged in (see
:mod:`flask_registration.oauth`). The JSON routes go through the API's own guard: a
request that carries a cookie and changes state needs the ``X-CSRFToken`` header.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response
from wtforms import SubmitField

from . import api
from .errors import RegistrationError
from .flows import oauth as flows
from .state import get_state

pages = Blueprint("registration_connections", __name__)
api_bp = Blueprint("registration_connections_api", __name__)
api_bp.before_request(api._guard)
api_bp.register_error_handler(RegistrationError, api._registration_error)
api_bp.register_error_handler(HTTPException, api._http_error)


class UnlinkForm(FlaskForm):
    """Nothing but the CSRF token: unlinking changes state."""

    submit = SubmitField("Unlink")


def _titles() -> dict[str, str]:
    providers = get_state().extras.get("oauth_providers") or {}
    return {name: provider.title for name, provider in providers.items()}


def identity_json(row: Any) -> dict[str, Any]:
    """A linked identity in LoopBack's ``UserIdentity`` names, never its token."""
    return {
        "id": row.id,
        "provider": row.provider,
        "title": _titles().get(row.provider, row.provider),
        "externalId": row.provider_user_id,
        "userId": row.user_id,
        "created": api._iso(row.created_at),
    }


@pages.get("/account/connections")
@login_required
def connections() -> tuple[str, int]:
    return _page()


def _page(error: RegistrationError | None = None) -> tuple[str, int]:
    user = current_user._get_current_object()
    linked = {row.provider: row for row in flows.identities_of(user)}
    titles = _titles()
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


@pages.post("/account/connections/<provider>/unlink")
@login_required
def unlink(provider: str) -> Response | tuple[str, int]:
    if not UnlinkForm().validate_on_submit():
        return _page(RegistrationError("That request could not be checked. Please try again.", code="CSRF_FAILED"))
    try:
        flows.unlink_identity(current_user._get_current_object(), provider)
    except RegistrationError as exc:
        return _page(exc)
    flash(f"{_titles().get(provider, provider)} is no longer linked to your account.", "success")
    return redirect(url_for(".connections"))


@api_bp.get("/me/identities")
def list_identities() -> Response:
    """``GET /api/users/me/identities``: the logged-in user's linked identities."""
    return jsonify([identity_json(row) for row in flows.identities_of(api._user())])


@api_bp.delete("/me/identities/<provider>")
def delete_identity(provider: str) -> Response:
    """``DELETE /api/users/me/identities/<provider>``: 204; 409 ``OAUTH_LAST_LOGIN_METHOD``
    when it is the account's only way to log in."""
    flows.unlink_identity(api._user(), provider)
    return api.no_content()


def _exempt_from_csrf_protect() -> None:
    # Like the rest of the API: the guard checks CSRF itself, so Flask-WTF's
    # CSRFProtect (even one set up after us) must leave these routes alone.
    csrf = current_app.extensions.get("csrf")
    if csrf is not None and api_bp.name not in csrf._exempt_blueprints:
        csrf.exempt(api_bp)


def init_app(app: Flask) -> None:
    """Register the connections page and its JSON routes on ``app``."""
    app.register_blueprint(pages, url_prefix=app.config["REGISTRATION_URL_PREFIX"] or None)
    app.register_blueprint(api_bp, url_prefix=app.config["REGISTRATION_API_PREFIX"])
    app.before_request(_exempt_from_csrf_protect)
