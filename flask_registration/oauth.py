"""The face that talks to flask-dance: one OAuth2 consumer blueprint per provider, at
``<REGISTRATION_URL_PREFIX>/login/<provider>`` and ``.../authorized``, and the page that
asks for an address when the provider gave none.

flask-dance runs the dance (redirect, ``state``, code, token exchange). Its
``oauth_authorized`` signal is where this module takes over: it asks the provider who the
person is, hands that to :mod:`flask_registration.flows.oauth`, stores the token on the
identity's row and answers with a page of its own (returning a response from the signal
is how flask-dance lets a receiver take over; flask-dance's own token storage is then
skipped, as it cannot store a token for a user who is not logged in yet).

Needs the ``oauth`` extra: ``pip install 'flask-registration[oauth]'``.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

try:
    from flask_dance.consumer import OAuth2ConsumerBlueprint, oauth_authorized, oauth_error
    from flask_dance.consumer.storage.sqla import SQLAlchemyStorage
    from flask_dance.contrib.facebook import make_facebook_blueprint
    from flask_dance.contrib.github import make_github_blueprint
    from flask_dance.contrib.google import make_google_blueprint
except ImportError as exc:  # pragma: no cover (the extra is installed in the tests)
    raise ImportError("Third-party login needs flask-dance: pip install 'flask-registration[oauth]'.") from exc

import flask_login
import requests
from flask import (
    Blueprint,
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
from flask_wtf import FlaskForm
from oauthlib.oauth2 import MismatchingStateError, MissingCodeError, OAuth2Error
from werkzeug.wrappers import Response
from wtforms import EmailField, HiddenField, SubmitField
from wtforms.validators import DataRequired

from . import connections, reauth
from .errors import OAuthError, ReauthenticationRequired, RegistrationError, ValidationError
from .flows import oauth as flows
from .identity_store import IdentityStore
from .oauth_providers import TIMEOUT, Provider, providers_from_config
from .redirects import safe_redirect
from .state import get_state
from .views import show_errors

log = logging.getLogger("flask_registration")

#: Session keys: where to go after the dance, a dance waiting for an address, and a
#: login waiting for its emailed link (see :func:`flows.pending_login`).
NEXT_KEY = "registration_oauth_next"
PENDING_KEY = "registration_oauth_pending"
PENDING_LINK_KEY = "registration_oauth_pending_link"
#: How long the "give us your address" step waits, in seconds.
PENDING_MAX_AGE = 30 * 60

_CONTRIB = {"github": make_github_blueprint, "google": make_google_blueprint, "facebook": make_facebook_blueprint}


class _RequestScopedBlueprint(OAuth2ConsumerBlueprint):
    """flask-dance's OAuth2 blueprint with its requests session kept per request.

    flask-dance caches that session (the dance's ``state``, redirect URI and fresh token)
    on the blueprint, which every thread of the app shares: two people finishing a dance
    at once could mix them. Here it lives in ``g``, one per request.
    """

    @property
    def session(self) -> Any:
        sessions = g.setdefault("_registration_oauth_sessions", {})
        if self.name not in sessions:
            sessions[self.name] = OAuth2ConsumerBlueprint.session.fget(self)
        return sessions[self.name]

    @session.deleter
    def session(self) -> None:
        g.get("_registration_oauth_sessions", {}).pop(self.name, None)


class TokenStorage(SQLAlchemyStorage):
    """flask-dance's SQLAlchemy storage over the app's OAuth model, for the logged-in
    user: ``github.get("/user/repos")`` in an app's view uses that user's token.

    ``set`` (flask-dance calls it when it refreshes a token) updates the token of the
    user's linked identity; ``delete`` forgets the token but keeps the link (unlinking is
    a flow with rules: see :func:`~flask_registration.flows.oauth.unlink_identity`).
    """

    def __init__(self, model: Any, db: Any) -> None:
        super().__init__(model, db.session, user=flask_login.current_user, user_required=False)

    @staticmethod
    def _user_id(user: Any, user_id: Any) -> Any:
        if user_id is not None:
            return user_id
        user = user if user is not None else flask_login.current_user
        return user.id if getattr(user, "is_authenticated", False) else None

    def get(self, blueprint: Any, user: Any = None, user_id: Any = None) -> Any:
        uid = self._user_id(user, user_id)
        return super().get(blueprint, user_id=uid) if uid is not None else None

    def _row(self, blueprint: Any, user: Any, user_id: Any) -> Any:
        uid = self._user_id(user, user_id)
        row = self.session.query(self.model).filter_by(provider=blueprint.name, user_id=uid).first()
        if row is None:
            raise ValueError(f"No {blueprint.name} identity is linked to this user.")
        return row

    def set(self, blueprint: Any, token: Any, user: Any = None, user_id: Any = None) -> None:
        self._row(blueprint, user, user_id).token = dict(token)
        self.session.commit()

    def delete(self, blueprint: Any, user: Any = None, user_id: Any = None) -> None:
        self._row(blueprint, user, user_id).token = {}
        self.session.commit()


def get_providers(app: Flask | None = None) -> dict[str, Provider]:
    """The app's configured providers, by name (empty without OAuth)."""
    return get_state(app).extras.get("oauth_providers") or {}


# Answers: JSON when the request prefers it, else pages.


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def refusal(error: RegistrationError, provider: Provider | None = None) -> Response:
    """The answer to a refused or failed dance: the error page, or LoopBack's JSON error."""
    if _wants_json():
        response = jsonify(error.to_dict())
    else:
        response = make_response(render_template("registration/oauth_error.html", error=error, provider=provider))
    response.status_code = error.status
    response.headers.update(error.headers())
    return response


def _answer(result: flows.OAuthResult, provider: Provider, token: dict[str, Any], *, linking: bool) -> Response:
    outcome = result.outcome
    if outcome == flows.EMAIL_REQUIRED:
        session[PENDING_KEY] = {"provider": provider.name, "token": dict(token), "at": int(time.time())}
        target = url_for("registration_oauth.email", provider=provider.name)
        if _wants_json():
            return make_response(jsonify({"outcome": outcome, "emailUrl": target}), 200)
        return redirect(target)
    if outcome == flows.CHECK_EMAIL:
        if result.pending is not None:
            # Kept here, in the browser that did the dance: the emailed link works only
            # with it (a stranger's pending login never reaches the owner's browser).
            session[PENDING_LINK_KEY] = {**result.pending, "token": dict(token), "at": int(time.time())}
        if _wants_json():
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
    if _wants_json():
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
    return _answer(result, provider, token, linking=linking)


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
            if _wants_json() or g.get("registration_access_token") is not None:
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


def _blueprint(provider: Provider, storage: TokenStorage) -> Any:
    """flask-dance's blueprint for ``provider`` (its ``contrib`` one when built in)."""
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
    bp.__class__ = _RequestScopedBlueprint
    bp.token_url_params = {"timeout": TIMEOUT}
    bp.before_request(_before_dance)
    for error in (OAuth2Error, requests.RequestException, Warning):
        bp.register_error_handler(error, _provider_failed)
    oauth_authorized.connect(_on_authorized, sender=bp)
    oauth_error.connect(_on_error, sender=bp)
    return bp


# The page that asks for an address when the provider gave none.

pages = Blueprint("registration_oauth", __name__)


class OAuthEmailForm(FlaskForm):
    """The address of a new account whose provider gave none."""

    email = EmailField(
        "Email", validators=[DataRequired("Enter your email address.")], render_kw={"autocomplete": "email"}
    )
    submit = SubmitField("Continue")


@pages.route("/login/<provider>/email", methods=["GET", "POST"])
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
        message = "There is no login waiting for an email address here, or it is too old. Please start again."
        return refusal(OAuthError(message, code="OAUTH_NOTHING_PENDING", status=400), spec)
    form = OAuthEmailForm()
    if form.validate_on_submit():
        token = pending["token"]
        try:
            identity = spec.identity(token)
            result = flows.finish_with_email(identity, token, form.email.data)
        except ValidationError as exc:
            if _wants_json():
                return refusal(exc, spec)
            show_errors(form, exc)
        except RegistrationError as exc:
            session.pop(PENDING_KEY, None)
            return refusal(exc, spec)
        else:
            session.pop(PENDING_KEY, None)
            return _answer(result, spec, token, linking=False)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("registration/oauth_email.html", form=form, provider=spec), status


class OAuthConfirmForm(FlaskForm):
    """The emailed link's token, behind a button (opening a link changes nothing)."""

    token = HiddenField()
    submit = SubmitField("Confirm and log in")


@pages.route("/login/<provider>/confirm", methods=["GET", "POST"])
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
        title = spec.title if spec is not None else "the provider"
        message = (
            f"This link works only in the browser where you started logging in with {title}, and for "
            f"{int(flows.PENDING_MAX_AGE.total_seconds() // 60)} minutes. Open it there, or start again."
        )
        return refusal(OAuthError(message, code="OAUTH_NOTHING_PENDING", status=400), spec)
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("registration/oauth_confirm.html", form=form, provider=spec), status
    token = pending["token"]
    try:
        identity = spec.identity(token)
        result = flows.complete_pending(identity, token, pending=pending, link_token=form.token.data)
    except RegistrationError as exc:
        return refusal(exc, spec)
    session.pop(PENDING_LINK_KEY, None)
    return _answer(result, spec, token, linking=False)


def _buttons() -> dict[str, Any]:
    # Names and titles only: the template builds the URLs (a context processor also
    # runs for emails rendered outside a request).
    providers = get_providers()
    return {"registration_oauth_providers": [{"name": p.name, "title": p.title} for p in providers.values()]}


def init_app(app: Flask, *, db: Any, model: Any, user_model: Any) -> None:
    """Set third-party login up on ``app`` (``Registration.init_app`` calls this):
    the providers of ``REGISTRATION_OAUTH_PROVIDERS``, the address page and the
    connections pages.

    :raises RuntimeError: a provider's settings are wrong, or providers are configured
        without an OAuth model.
    """
    if model is None:
        raise RuntimeError("REGISTRATION_OAUTH_PROVIDERS needs an OAuth model: Registration(oauth_model=...).")
    providers = providers_from_config(app.config)
    state = get_state(app)
    state.extras["identities"] = IdentityStore(db, model, user_model)
    state.extras["oauth_providers"] = providers
    prefix = app.config["REGISTRATION_URL_PREFIX"] or None
    for provider in providers.values():
        app.register_blueprint(_blueprint(provider, TokenStorage(model, db)), url_prefix=prefix)
    app.register_blueprint(pages, url_prefix=prefix)
    app.context_processor(_buttons)
    connections.init_app(app)
