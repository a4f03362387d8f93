"""The face that talks to flask-dance: one OAuth2 consumer blueprint per provider, at
``<REGISTRATION_URL_PREFIX>/login/<provider>`` and ``.../authorized``, and the answers
every step of a dance gives (shared with the pages of :mod:`.pages`).

flask-dance runs the dance (redirect, ``state``, code, token exchange). Its
``oauth_authorized`` signal is where this module takes over: it asks the provider who the
person is, hands that to :mod:`.flows`, stores the token on the identity's row and
answers with a page of its own (returning a response from the signal is how flask-dance
lets a receiver take over; flask-dance's own token storage is then skipped, as it cannot
store a token for a user who is not logged in yet).
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import flask_login
import requests
from flask import (
    Flask,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_dance.consumer import OAuth2ConsumerBlueprint, oauth_authorized, oauth_error
from flask_dance.contrib.facebook import make_facebook_blueprint
from flask_dance.contrib.github import make_github_blueprint
from flask_dance.contrib.google import make_google_blueprint
from oauthlib.oauth2 import MismatchingStateError, MissingCodeError, OAuth2Error
from werkzeug.wrappers import Response

from .. import reauth
from .._compat import request_scoped
from ..errors import OAuthError, ReauthenticationRequired, RegistrationError
from ..flows.login import LoginStepRequired
from ..redirects import safe_redirect
from . import flows
from .providers import TIMEOUT, Provider, get_providers
from .storage import TokenStorage

log = logging.getLogger("flask_registration")

#: Session keys: where to go after the dance, a dance waiting for an address, and a
#: login waiting for its emailed link (see :func:`.flows.pending_login`).
NEXT_KEY = "registration_oauth_next"
PENDING_KEY = "registration_oauth_pending"
PENDING_LINK_KEY = "registration_oauth_pending_link"
#: How long the "give us your address" step waits, in seconds.
PENDING_MAX_AGE = 30 * 60

_CONTRIB = {"github": make_github_blueprint, "google": make_google_blueprint, "facebook": make_facebook_blueprint}


# Answers: JSON when the request prefers it, else pages.


def wants_json() -> bool:
    """Whether the request prefers JSON to HTML (``Accept``)."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def refusal(error: RegistrationError, provider: Provider | None = None) -> Response:
    """The answer to a refused or failed dance: the error page, or LoopBack's JSON error.
    A login that goes on with a second factor goes to the page that asks for it."""
    if isinstance(error, LoginStepRequired) and not wants_json():
        return redirect(error.location)
    if wants_json():
        response = jsonify(error.to_dict())
    else:
        response = make_response(render_template("registration/oauth_error.html", error=error, provider=provider))
    response.status_code = error.status
    response.headers.update(error.headers())
    return response


def answer(result: flows.OAuthResult, provider: Provider, token: dict[str, Any], *, linking: bool) -> Response:
    """The answer to a finished dance (or address step, or pressed link): ask for an
    address, say "check your email" (keeping the pending login in this browser's
    session), or go where the person was going."""
    outcome = result.outcome
    if outcome == flows.EMAIL_REQUIRED:
        session[PENDING_KEY] = {"provider": provider.name, "token": dict(token), "at": int(time.time())}
        target = url_for("registration_oauth.email", provider=provider.name)
        if wants_json():
            return make_response(jsonify({"outcome": outcome, "emailUrl": target}), 200)
        return redirect(target)
    if outcome == flows.CHECK_EMAIL:
        if result.pending is not None:
            # Kept here, in the browser that did the dance: the emailed link works only
            # with it (a stranger's pending login never reaches the owner's browser).
            session[PENDING_LINK_KEY] = {**result.pending, "token": dict(token), "at": int(time.time())}
        if wants_json():
            body = {"outcome": outcome, "email": result.email, "emailSent": result.email_sent}
            return make_response(jsonify(body), 202)
        page = render_template("registration/check_email.html", email=result.email, email_sent=result.email_sent)
        return make_response(page, 200)
    if linking:
        default = url_for("registration_connections.connections")
        flash(f"{provider.title} is linked to your account.", "success")
    else:
        default = current_app.config["REGISTRATION_POST_LOGIN_REDIRECT"]
    target = safe_redirect(session.pop(NEXT_KEY, None), default) or default
    if wants_json():
        return make_response(jsonify({"outcome": outcome, "userId": result.user.id, "redirect": target}), 200)
    return redirect(target)


# flask-dance's signals and the checks around its views.


def _on_authorized(blueprint: Any, token: Any) -> Response:
    provider = get_providers()[blueprint.name]
    token = dict(token)
    user = flask_login.current_user
    linking = bool(getattr(user, "is_authenticated", False))
    try:
        identity = provider.identity(token)
        if linking:
            current = user._get_current_object()
            result = flows.link_identity(current, identity, token, recent=reauth.is_recent(current))
        else:
            result = flows.login_with_identity(identity, token)
    except RegistrationError as exc:
        session.pop(NEXT_KEY, None)
        return refusal(exc, provider)
    return answer(result, provider, token, linking=linking)


def _on_error(blueprint: Any, error: Any = None, error_description: Any = None, **_: Any) -> Response:
    provider = get_providers()[blueprint.name]
    session.pop(f"{blueprint.name}_oauth_state", None)
    session.pop(NEXT_KEY, None)
    # The error's description comes from a query string anyone can write: logged, not shown.
    log.info("OAuth login with %s refused by the provider: %r", blueprint.name, str(error)[:60])
    if error == "access_denied":
        message = f"You did not allow {provider.title} to share your account with this site."
        return refusal(OAuthError(message, code="OAUTH_ACCESS_DENIED", status=403), provider)
    message = f"{provider.title} could not log you in. Please try again."
    return refusal(OAuthError(message, code="OAUTH_PROVIDER_ERROR", status=502), provider)


def _before_dance() -> Response | None:
    name = request.blueprint
    if request.endpoint == f"{name}.login":
        user = flask_login.current_user
        if getattr(user, "is_authenticated", False) and not reauth.is_recent(user._get_current_object()):
            # Linking adds a way to log in: only after the password (or an emailed link)
            # in this browser, never on the strength of a cookie or token alone.
            if wants_json() or g.get("registration_access_token") is not None:
                return refusal(ReauthenticationRequired(), get_providers().get(name or ""))
            return redirect(url_for("registration.reauthenticate", next=request.full_path))
        target = safe_redirect(request.args.get("next"))
        if target:
            session[NEXT_KEY] = target
        else:
            session.pop(NEXT_KEY, None)
    elif request.endpoint == f"{name}.authorized":
        # flask-dance restarts the dance when the session has no state, and lets oauthlib
        # raise when it differs: both are refused here, before a code is ever exchanged.
        key = f"{name}_oauth_state"
        expected, given = session.get(key), request.args.get("state")
        if not (
            isinstance(expected, str)
            and isinstance(given, str)
            and hmac.compare_digest(expected.encode(), given.encode())
        ):
            session.pop(key, None)
            return refusal(_state_mismatch(), get_providers().get(name or ""))
    return None


def _state_mismatch() -> OAuthError:
    return OAuthError(
        "This login did not start here, or it is too old (the state does not match). Please start again.",
        code="OAUTH_STATE_MISMATCH",
        status=400,
    )


def _provider_failed(exc: Exception) -> Response:
    """A token exchange that failed (a wrong client secret, the provider down...): a
    page, not a 500. The log names the error, never the code, token or secret."""
    name = request.blueprint or ""
    provider = get_providers().get(name)
    session.pop(NEXT_KEY, None)
    if isinstance(exc, MismatchingStateError | MissingCodeError):
        return refusal(_state_mismatch(), provider)
    log.warning("OAuth login with %s failed: %s", name, type(exc).__name__)
    title = provider.title if provider else "The provider"
    if isinstance(exc, Warning):  # oauthlib raises it when the granted scope differs
        message = f"{title} granted other permissions than this site asked for. Please try again."
    else:
        message = f"{title} did not accept this site's login request. Please try again later."
    return refusal(OAuthError(message, code="OAUTH_PROVIDER_ERROR", status=502), provider)


def make_blueprint(provider: Provider, storage: TokenStorage) -> Any:
    """flask-dance's blueprint for ``provider`` (its ``contrib`` one when built in), kept
    per request (:func:`flask_registration._compat.request_scoped`), with the checks
    around its views and this module's signal receivers."""
    options: dict[str, Any] = {
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
        "scope": list(provider.scope) or None,
        "storage": storage,
        "login_url": f"/login/{provider.name}",
        "authorized_url": f"/login/{provider.name}/authorized",
    }
    if provider.built_in:
        bp = _CONTRIB[provider.name](**options)
        # The settings given here win over flask-dance's GITHUB_OAUTH_CLIENT_ID... keys.
        bp.from_config.clear()
    else:
        bp = OAuth2ConsumerBlueprint(
            provider.name,
            __name__,
            authorization_url=provider.authorization_url,
            token_url=provider.token_url,
            **options,
        )
    request_scoped(bp)
    bp.token_url_params = {"timeout": TIMEOUT}
    bp.before_request(_before_dance)
    for error in (OAuth2Error, requests.RequestException, Warning):
        bp.register_error_handler(error, _provider_failed)
    oauth_authorized.connect(_on_authorized, sender=bp)
    oauth_error.connect(_on_error, sender=bp)
    return bp


def init_app(app: Flask, *, providers: dict[str, Provider], model: Any, db: Any) -> None:
    """Register a flask-dance blueprint per provider on ``app``, its tokens in ``model``."""
    prefix = app.config["REGISTRATION_URL_PREFIX"] or None
    for provider in providers.values():
        app.register_blueprint(make_blueprint(provider, TokenStorage(model, db)), url_prefix=prefix)
