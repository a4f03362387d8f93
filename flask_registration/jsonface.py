"""What the library's JSON routes share (its API, and the OAuth package's routes): the
guard every request goes through, LoopBack's error answers, reading a JSON body, ISO
dates, the logged-in user, and :func:`json_blueprint`, which puts them on a blueprint.

Requests that change state and carry a cookie that identifies a user (the session, or
Flask-Login's remember cookie) need a CSRF token in the ``X-CSRFToken`` header (get one
from ``GET <prefix>/csrf-token``); requests without such a cookie (an API client signing
up or logging in), or with an access token, need none. A body must be sent as
``application/json``: a cross-site HTML form cannot send that type, so no other type is
read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import flask_login
from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms.validators import ValidationError as WTFValidationError

from . import flows
from ._compat import exempt_from_csrf_protect, set_current_user
from .errors import AuthorizationRequired, CSRFError, MalformedRequest, PayloadTooLarge, RegistrationError
from .i18n import gettext

_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def json_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint of JSON routes: :func:`guard` before each request, errors answered in
    LoopBack's shape, and left alone by Flask-WTF's ``CSRFProtect`` (the guard checks
    CSRF itself), whether the app set ``CSRFProtect`` up before or after us."""
    bp = Blueprint(name, import_name)
    bp.before_request(guard)
    bp.register_error_handler(RegistrationError, registration_error)
    bp.register_error_handler(HTTPException, http_error)

    def exempt_at_registration(setup: BlueprintSetupState) -> None:
        csrf = setup.app.extensions.get("csrf")
        if csrf is not None:
            csrf.exempt(bp)

    bp.record_once(exempt_at_registration)
    # A CSRFProtect set up after us: this runs before the check it registers later.
    bp.before_app_request(lambda: exempt_from_csrf_protect(bp))
    return bp


def guard() -> None:
    """Before every API route (the OAuth package's JSON routes too): authenticate a
    request by its access token alone, or demand ``X-CSRFToken`` of one that carries a
    cookie and changes state."""
    token = flows.access.token_from_header(request.headers.get("Authorization"))
    if token is not None:
        # A request with an access token is authenticated by it alone (not by any cookie
        # it also carries), and needs no CSRF token: a cross-site page cannot set this
        # header. An unknown or expired token leaves the request anonymous.
        found = flows.access.load_access_token(token)
        manager = current_app.login_manager  # type: ignore[attr-defined]
        set_current_user(found[0] if found else manager.anonymous_user())
        g.registration_access_token = found[1] if found else None
        return
    # A cookie (session or Flask-Login's remember cookie) can identify the user, so a
    # request that carries one and changes state must prove it comes from our pages.
    config = current_app.config
    identifying = (config["SESSION_COOKIE_NAME"], config.get("REMEMBER_COOKIE_NAME", "remember_token"))
    # (Unless the app turned Flask-WTF's CSRF off altogether: WTF_CSRF_ENABLED = False.)
    checking = config.get("WTF_CSRF_ENABLED", True)
    if checking and request.method in _STATE_CHANGING and any(name in request.cookies for name in identifying):
        token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
        try:
            validate_csrf(token)
        except WTFValidationError:
            raise CSRFError() from None


def registration_error(error: RegistrationError) -> tuple[Response, int]:
    """A :class:`~flask_registration.RegistrationError` in LoopBack's JSON shape."""
    response = jsonify(error.to_dict())
    response.headers.update(error.headers())  # e.g. Retry-After on a 429
    return response, error.status


def http_error(error: HTTPException) -> tuple[Response, int]:
    """Any other HTTP error (404, 405, 413...) in LoopBack's JSON shape."""
    status = error.code or 500
    if status == 413:
        return registration_error(PayloadTooLarge())
    code = (error.name or "Error").upper().replace(" ", "_")
    body = {"error": {"statusCode": status, "name": "Error", "message": error.description, "code": code}}
    response = jsonify(body)
    if error.response is not None:  # keep e.g. Allow on a 405
        response.headers.extend(error.get_headers())
        response.content_type = "application/json"
    return response, status


def no_content() -> Response:
    """A 204 answer: no body, and so no ``Content-Type`` either (not Flask's text/html)."""
    response = Response(status=204)
    del response.headers["Content-Type"]
    return response


def read_body() -> Any:
    """The request's JSON body (an empty body reads as ``{}``)."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    if not request.is_json:
        raise MalformedRequest(gettext("Send the body as application/json."), code="UNSUPPORTED_MEDIA_TYPE", status=415)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise MalformedRequest(gettext("The request body is not valid JSON."), code="MALFORMED_JSON") from None


def iso_time(value: datetime | None) -> str | None:
    """A stored time as ISO 8601, in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite drops the zone; every stored time is UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def logged_in_user() -> Any:
    """The user the request is authenticated as (session or access token).

    :raises AuthorizationRequired: nobody is.
    """
    user = flask_login.current_user
    if not user.is_authenticated:
        raise AuthorizationRequired()
    return user._get_current_object() if hasattr(user, "_get_current_object") else user
