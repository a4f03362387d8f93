"""The JSON face: LoopBack's User REST paths and error shape over the flows.

The guard, the error answers and the body reading are :mod:`flask_registration.jsonface`'s,
shared with the OAuth package's JSON routes (CSRF and content types are explained there).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, redirect, request
from flask_wtf.csrf import generate_csrf
from sqlalchemy import inspect as sa_inspect
from werkzeug.routing import PathConverter
from werkzeug.wrappers import Response as WerkzeugResponse

from . import flows, openapi, reauth
from ._compat import remember_cookie_in_use
from .errors import (
    RegistrationError,
    ValidationError,
)
from .flows.profile import declared_fields
from .i18n import gettext
from .jsonface import iso_time, json_blueprint, logged_in_user, no_content, read_body
from .redirects import safe_redirect
from .state import get_state
from .validation import check_payload, field_label, is_clean_text

bp = json_blueprint("registration_api", __name__)


def user_json(user: Any) -> dict[str, Any]:
    """The public view of a user: never the hash."""
    body: dict[str, Any] = {
        "id": user.id,
        "email": user.email,
        "emailVerified": user.email_verified,
        "pendingEmail": user.pending_email,
        "createdAt": iso_time(user.created_at),
    }
    columns: set[str] = set(sa_inspect(get_state().store.model).column_attrs.keys())
    # The signup fields that are columns, then any other profile field.
    for name in dict.fromkeys([*current_app.config["REGISTRATION_SIGNUP_FIELDS"], *declared_fields()]):
        if name in columns:
            body[name] = getattr(user, name)
    return body


@bp.post("")
def signup() -> tuple[Response, int]:
    """``POST /api/users``: 201 with the user, or 202 when enumeration is prevented."""
    # No "signed up in this browser" mark here: it would give API clients a cookie, and
    # with it a CSRF check; a JSON confirm gives the password instead.
    return signup_answer(flows.signup(read_body()))


def signup_answer(result: flows.SignupResult) -> tuple[Response, int]:
    """The answer to a signup (a password's, or a passkey's): 202 and the same body for
    a new and a taken address while enumeration is prevented, else 201 with the user."""
    if current_app.config["REGISTRATION_PREVENT_ENUMERATION"]:
        sends = current_app.config["REGISTRATION_SEND_VERIFICATION_ON_SIGNUP"]
        message = gettext("Check your email to finish signing up.") if sends else gettext("Thank you for signing up.")
        return jsonify({"email": result.email, "emailSent": result.email_sent, "message": message}), 202
    return jsonify({**user_json(result.user), "emailSent": result.email_sent}), 201


def _loopback_get_only(message: str) -> None:
    """Refuse LoopBack's link-opening GET (405 ``CONFIRM_BY_POST``, saying ``message``)
    unless ``REGISTRATION_LOOPBACK_CONFIRM_LINKS`` is on: a mail scanner opening a link
    must change nothing."""
    if not current_app.config["REGISTRATION_LOOPBACK_CONFIRM_LINKS"]:
        raise RegistrationError(message, code="CONFIRM_BY_POST", status=405)


@bp.get("/confirm")
def confirm() -> WerkzeugResponse:
    """``GET /api/users/confirm?uid=&token=&redirect=``: LoopBack's confirm, which
    verifies on opening (204, or 302 to a local redirect). Only with
    ``REGISTRATION_LOOPBACK_CONFIRM_LINKS``; otherwise 405 ``CONFIRM_BY_POST``: a mail
    scanner opening a link must change nothing."""
    _loopback_get_only(
        gettext(
            "Confirm an address with POST %(path)s and a JSON body {uid, token, password}: "
            "opening a link must change nothing.",
            path=request.path,
        )
    )
    flows.confirm(request.args.get("uid"), request.args.get("token"), trust_link=True)
    target = safe_redirect(request.args.get("redirect"))
    if target:
        return redirect(target)
    return no_content()


def _link_body(body: Any, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """An emailed link's ``uid`` and ``token`` (the uid also as a JSON number, as a
    front end may send it), and passwords that only the flows measure."""
    if isinstance(body, dict) and isinstance(body.get("uid"), int) and not isinstance(body.get("uid"), bool):
        body = {**body, "uid": str(body["uid"])}
    passwords = {k: body.pop(k) for k in optional if isinstance(body, dict) and k in body}
    checked = check_payload(body, required=("uid", "token"))
    problems = {
        k: [("type", gettext("The %(field)s must be text.", field=field_label(k)))]
        for k, v in passwords.items()
        if v is not None and not (isinstance(v, str) and is_clean_text(v))
    }
    if problems:
        raise ValidationError.from_fields(problems)
    return {**checked, **passwords}


@bp.post("/confirm")
def confirm_by_post() -> Response:
    """``POST /api/users/confirm`` with ``{"uid", "token"}`` and ``"password"`` (the
    account's, unless this browser signed up through the HTML page) or ``"newPassword"``
    (which removes every earlier way to log in): 204."""
    body = _link_body(read_body(), optional=("password", "newPassword"))
    if body.get("newPassword") is not None:
        flows.password.confirm_with_new_password(body["uid"], body["token"], body["newPassword"])
        return no_content()
    user = flows.verify.user_for_verify_link(body["uid"], body["token"])
    flows.confirm(
        body["uid"], body["token"], password=body.get("password"), same_browser=reauth.signed_up_here(user.email)
    )
    return no_content()


@bp.post("/reauthenticate")
def reauthenticate() -> Response:
    """``POST /api/users/reauthenticate`` with ``{"password"}``, or with second factors
    set up ``{"credential"}`` (a passkey's answer to ``POST .../reauthenticate/passkey/options``):
    204; marks this browser session as recently re-authenticated (``REGISTRATION_REAUTH_WITHIN``)."""
    user = logged_in_user()
    if flows.current_access_token() is not None:
        raise RegistrationError(
            gettext(
                "Re-authentication is kept by a browser session; a request made with an access token cannot hold it."
            ),
            code="SESSION_REQUIRED",
            status=400,
        )
    body = read_body()
    factors = get_state().factors
    if factors is not None and factors.reauthenticate is not None and isinstance(body, dict) and "credential" in body:
        check_payload({k: v for k, v in body.items() if k != "credential"}, required=())
        if not isinstance(body["credential"], dict):
            raise ValidationError.from_fields(
                {"credential": [("type", gettext("Send the passkey's answer as an object."))]}
            )
        factors.reauthenticate(user, body["credential"])
    else:
        flows.reauth.reauthenticate(user, check_payload(body, required=("password",))["password"])
    reauth.mark(user)
    return no_content()


@bp.post("/verify")
def resend() -> Response:
    """``POST /api/users/verify`` with ``{"email"}``: 204 whether or not it exists."""
    body = check_payload(read_body(), required=("email",))
    flows.resend(body["email"])
    return no_content()


@bp.post("/login")
def login() -> Response:
    """``POST /api/users/login``: 200 with LoopBack's access token (``id``, ``ttl``,
    ``created``, ``userId``) when a token model is set up, and ``user``; a session
    cookie too. With second factors set up, an account that has one answers 401
    ``SECOND_FACTOR_REQUIRED`` unless the body brings ``code`` (see :doc:`factors`)."""
    return login_answer(flows.login(read_body(), issue_token=True))


def login_answer(result: flows.LoginResult) -> Response:
    """The answer to a login, however it came (a password and perhaps a second factor, a
    passkey): the access token and ``user``. The browser session is marked as recently
    re-authenticated: every factor was just given."""
    reauth.mark(result.user)
    body = dict(result.access_token or {"userId": result.user.id})
    body["user"] = user_json(result.user)
    return jsonify(body)


@bp.post("/logout")
def logout() -> Response:
    """``POST /api/users/logout``: 204; revokes the access token that authenticated it."""
    token = flows.current_access_token()
    if token is not None:
        flows.revoke_access_token(token)
    # A login gives a token and a session cookie: logging out ends both.
    flows.logout()
    return no_content()


@bp.post("/logout-all")
def logout_all() -> Response:
    """``POST /api/users/logout-all``: 204; ends every session, remember cookie and
    access token of the user, the one the request was made with included."""
    flows.log_out_everywhere(logged_in_user())
    return no_content()


@bp.get("/me")
def me() -> Response:
    """``GET /api/users/me``: the logged-in user, or 401."""
    return jsonify(user_json(logged_in_user()))


@bp.post("/reset")
def request_reset() -> Response:
    """``POST /api/users/reset`` with ``{"email"}``: 204 whether or not it exists."""
    body = check_payload(read_body(), required=("email",))
    flows.request_password_reset(body["email"])
    return no_content()


@bp.post("/reset-password")
def reset_password() -> Response:
    """``POST /api/users/reset-password`` with ``{"token", "newPassword"}``: 204."""
    body = check_payload(read_body(), required=("token", "newPassword"))
    flows.reset_password(body["token"], body["newPassword"])
    return no_content()


@bp.post("/change-password")
def change_password() -> Response:
    """``POST /api/users/change-password`` with ``{"oldPassword", "newPassword"}``: 204."""
    user = logged_in_user()
    body = check_payload(read_body(), required=("oldPassword", "newPassword"))
    flows.change_password(user, body["oldPassword"], body["newPassword"], remember=remember_cookie_in_use())
    return no_content()


@bp.post("/change-email")
def change_email() -> tuple[Response, int]:
    """``POST /api/users/change-email`` with ``{"newEmail", "password"}``: 202."""
    user = logged_in_user()
    body = check_payload(read_body(), required=("newEmail", "password"))
    sent = flows.request_email_change(user, body["newEmail"], body["password"])
    return jsonify({"emailSent": sent, "message": gettext("Follow the link sent to the new address.")}), 202


@bp.post("/change-email/cancel")
def cancel_change_email() -> Response:
    """``POST /api/users/change-email/cancel``: 204; the pending address is forgotten."""
    flows.cancel_email_change(logged_in_user())
    return no_content()


@bp.get("/confirm-email")
def confirm_email() -> WerkzeugResponse:
    """``GET /api/users/confirm-email?uid=&token=&redirect=``: applies the new address on
    opening (204, or 302 to a local path), only with ``REGISTRATION_LOOPBACK_CONFIRM_LINKS``;
    otherwise 405 ``CONFIRM_BY_POST``."""
    _loopback_get_only(
        gettext(
            "Confirm a new address with POST %(path)s and a JSON body {uid, token}: "
            "opening a link must change nothing.",
            path=request.path,
        )
    )
    flows.confirm_email_change(request.args.get("uid"), request.args.get("token"))
    target = safe_redirect(request.args.get("redirect"))
    if target:
        return redirect(target)
    return no_content()


@bp.post("/confirm-email")
def confirm_email_by_post() -> Response:
    """``POST /api/users/confirm-email`` with ``{"uid", "token"}`` from the emailed link:
    204; the account now uses the new address."""
    body = _link_body(read_body())
    flows.confirm_email_change(body["uid"], body["token"])
    return no_content()


class AnyRest(PathConverter):
    """Werkzeug's ``path``, newlines too: ``path`` stops at a ``%0A``, and a path with
    one (``/api/users/1%0A``) would get Flask's HTML 404 instead of the API's JSON one.
    ``init_app`` registers it as ``registration_rest``."""

    regex = r"[\s\S]*?"
    part_isolating = False  # across slashes, as ``path`` (Werkzeug guesses from "/" in the regex)


@bp.route("", methods=["GET", "PUT", "PATCH", "DELETE"])
@bp.route("/<registration_rest:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str = "") -> Response:
    """Anything else under the prefix: LoopBack's JSON 404, not an HTML page."""
    raise RegistrationError(
        gettext("There is no method to handle %(method)s %(path)s.", method=request.method, path=request.path),
        code="NOT_FOUND",
        status=404,
    )


@bp.get("/csrf-token")
def csrf_token() -> Response:
    """A CSRF token for cookie-authenticated requests (send it as ``X-CSRFToken``)."""
    return jsonify({"csrfToken": generate_csrf()})


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """This API as an OpenAPI 3.1 document, for the app's settings."""
    return jsonify(openapi.for_app(current_app._get_current_object()))  # type: ignore[attr-defined]
