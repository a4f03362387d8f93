"""The JSON routes of logging in and signing up with second factors, under the API prefix
(LoopBack's error shape, the guard of every JSON route: see :mod:`flask_registration.jsonface`):

- ``POST /login/second-factor`` ``{"code", "ttl"?}``: finish a login that waits for its
  second factor (after ``POST /login`` answered 401 ``SECOND_FACTOR_REQUIRED``, or a
  provider login did) with a code; ``POST /login`` with the password and ``"code"`` does
  it in one request;
- ``POST /login/passkey/options`` ``{"secondFactor"?}`` and ``POST /login/passkey``
  ``{"credential", "remember"?, "ttl"?}``: log in with a passkey, either as the second
  factor of the login that waits (``"secondFactor": true``) or alone (any passkey of
  this site: no address needed);
- ``POST /passkey-signup/options`` ``{"email", ...}`` and ``POST /passkey-signup``
  ``{"credential"}``: sign up with a passkey;
- ``POST /reauthenticate/passkey/options``: the options of a re-authentication with a
  passkey, whose answer goes to ``POST /reauthenticate`` as ``{"credential"}``.

A login answers as ``POST /login`` does: the access token (issued only now, after every
factor) and ``user``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from .. import reauth
from ..api import login_answer, signup_answer
from ..errors import RegistrationError, ValidationError
from ..flows.access import check_ttl, current_access_token
from ..i18n import gettext
from ..jsonface import json_blueprint, logged_in_user, read_body
from ..validation import check_payload
from . import login, signup

bp = json_blueprint("registration_factors_login_api", __name__)


def with_credential(body: Any, optional: tuple[str, ...] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """A body's ``credential`` (the authenticator's answer, an object) and its other
    fields, checked.

    :raises ValidationError: no body object (400 ``INVALID_BODY``), an unknown field, or
        no ``credential`` object (field ``credential``).
    """
    if not isinstance(body, dict):
        check_payload(body, required=())  # 400 INVALID_BODY
    rest = check_payload({k: v for k, v in body.items() if k != "credential"}, required=(), optional=optional)
    credential = body.get("credential")
    if not isinstance(credential, dict):
        raise ValidationError.from_fields(
            {"credential": [("type", gettext("Send the authenticator's answer as an object."))]}
        )
    return credential, rest


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise ValidationError.from_fields(
            {name: [("type", gettext("The %(name)s option must be true or false.", name=name))]}
        )
    return value


@bp.post("/login/second-factor")
def second_factor() -> Response:
    """``POST /api/users/login/second-factor`` with ``{"code", "ttl"?}``: 200 as a login."""
    body = check_payload(read_body(), required=("code",), optional=("ttl",))
    ttl = check_ttl(body.get("ttl"))
    return login_answer(login.finish_with_code(body["code"], ttl=ttl, issue_token=True))


@bp.post("/login/passkey/options")
def passkey_options() -> Response:
    """``POST /api/users/login/passkey/options``: WebAuthn's request options (``publicKey``
    for ``navigator.credentials.get()``); ``{"secondFactor": true}`` for the passkeys of
    the login that waits for its second factor."""
    body = check_payload(read_body(), required=(), optional=("secondFactor",))
    if _flag(body, "secondFactor"):
        return jsonify(login.second_factor_options())
    return jsonify(login.passkey_options())


@bp.post("/login/passkey")
def passkey_login() -> Response:
    """``POST /api/users/login/passkey`` with ``{"credential", "remember"?, "ttl"?}``:
    200 as a login. The options it answers decide: a second factor (``remember`` was
    given with the password), or a passkey alone."""
    credential, rest = with_credential(read_body(), optional=("remember", "ttl"))
    remember = _flag(rest, "remember")
    ttl = check_ttl(rest.get("ttl"))
    if login.answers_second_factor():
        return login_answer(login.finish_with_passkey(credential, ttl=ttl, issue_token=True))
    return login_answer(login.log_in_with_passkey(credential, remember=remember, ttl=ttl, issue_token=True))


@bp.post("/passkey-signup/options")
def passkey_signup_options() -> Response:
    """``POST /api/users/passkey-signup/options`` with ``{"email", ...}`` (and the
    declared extra fields): WebAuthn's creation options."""
    return jsonify(signup.signup_options(read_body()))


@bp.post("/passkey-signup")
def passkey_signup() -> tuple[Response, int]:
    """``POST /api/users/passkey-signup`` with ``{"credential"}``: answered as ``POST
    /api/users`` is (202 and the same body for a new and a taken address while
    enumeration is prevented). This session is marked as the one that signed the
    address up: the verification link, confirmed from it, needs nothing more."""
    credential, _rest = with_credential(read_body())
    result = signup.finish_signup(credential)
    reauth.remember_signup(result.email)
    return signup_answer(result)


@bp.post("/reauthenticate/passkey/options")
def reauthenticate_options() -> Response:
    """``POST /api/users/reauthenticate/passkey/options``: WebAuthn's request options for
    one of the logged-in user's passkeys (user verification required); send the answer
    to ``POST /api/users/reauthenticate`` as ``{"credential"}``."""
    user = logged_in_user()
    if current_access_token() is not None:
        raise RegistrationError(
            gettext(
                "Re-authentication is kept by a browser session; a request made with an access token cannot hold it."
            ),
            code="SESSION_REQUIRED",
            status=400,
        )
    check_payload(read_body(), required=())
    return jsonify(login.reauthenticate_options(user))


def init_app(app: Flask) -> None:
    """Register the JSON routes on ``app``."""
    app.register_blueprint(bp, url_prefix=app.config["REGISTRATION_API_PREFIX"])
