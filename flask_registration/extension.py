"""The extension object: ``Registration(app)`` or ``registration.init_app(app)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask_login import LoginManager
from flask_mail import Mail
from sqlalchemy import event
from werkzeug.exceptions import RequestEntityTooLarge

from . import api, cli, i18n, lifecycle_api, lifecycle_views, logs, profile_api, profile_views, views
from ._compat import has_user_loader, install_remember_cookie
from .config import apply_defaults
from .flows import access
from .flows import send_verification as _send_verification
from .flows.profile import check_profile_setup
from .forms import LoginForm, SignupForm
from .headers import add_frame_headers
from .hooks import HookRegistry
from .limits import RateLimits
from .mail import MailSender, flask_mail_sender
from .passwords import Passwords
from .state import RegistrationState, get_state
from .store import UserStore
from .usernames import USERNAME, check_username_column

F = TypeVar("F", bound=Callable[..., Any])


def _foreign_keys_on(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _enforce_sqlite_foreign_keys(app: Flask, db: Any) -> None:
    """Make SQLite check foreign keys on every new connection of the app's engines.

    SQLite ignores them unless told (``PRAGMA foreign_keys``, per connection): a deleted
    user's tokens, sessions and identities would stay, ``ON DELETE CASCADE`` or not, for
    the next user given the id. Flask-SQLAlchemy makes the engines in ``db.init_app``.
    """
    with app.app_context():
        try:
            engines = dict(db.engines)
        except RuntimeError:
            raise RuntimeError("Call db.init_app(app) before Registration.init_app(app).") from None
    for engine in engines.values():
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _foreign_keys_on):
            event.listen(engine, "connect", _foreign_keys_on)


def _limit_body(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """``REGISTRATION_MAX_BODY_SIZE`` on every route of the library (its pages, its API,
    the OAuth and connections pages, flask-dance's per-provider blueprints), in one place.

    A body declared too large is refused at once, whatever the method and whether or not
    the view reads it; one sent without a length is cut off where it passes the limit.
    The app's own routes keep the app's ``MAX_CONTENT_LENGTH``.
    """
    state = current_app.extensions.get("registration")
    if state is None or not state.blueprints.intersection(request.blueprints):
        return
    limit = current_app.config["REGISTRATION_MAX_BODY_SIZE"]
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()


class Registration:
    """User registration for a Flask app: signup pages and JSON API, email
    verification, login that waits for it, and hooks for the app's own rules.

    :param app: the app, or None to call :meth:`init_app` later (app factories).
    :param db: the app's ``flask_sqlalchemy.SQLAlchemy`` instance.
    :param user_model: the app's user model, a subclass of
        :class:`~flask_registration.UserMixin`.
    :param token_model: the app's access-token model, a subclass of
        :class:`~flask_registration.AccessTokenMixin`; without it, login issues no
        access token (sessions only).
    :param oauth_model: the app's OAuth model, a subclass of
        :class:`~flask_registration.OAuthMixin`, for logging in through providers
        (``REGISTRATION_OAUTH_PROVIDERS``, see :doc:`oauth`); needs the ``oauth`` extra.
    :param factor_model: the app's factor model, a subclass of
        :class:`~flask_registration.factors.FactorMixin`, for passkeys, the
        authenticator app and recovery codes (see :doc:`factors`); needs the ``mfa`` extra.
    :param session_model: the app's login-session model, a subclass of
        :class:`~flask_registration.SessionMixin`: a row per login, so that logout ends
        that session on the server; without it, logout ends every session of the user
        (see :ref:`sessions`).
    :param signup_form: the signup form class (a :class:`~flask_registration.forms.SignupForm`
        subclass with the app's extra fields).
    :param login_form: the login form class.
    :param mail_sender: a callable that sends a ``flask_mail.Message``; default Flask-Mail.

    Hooks and form classes belong to this object and so to every app it is set up on;
    everything per-app (store, hasher, mail sender) lives in ``app.extensions["registration"]``.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        db: Any = None,
        user_model: type | None = None,
        token_model: type | None = None,
        oauth_model: type | None = None,
        session_model: type | None = None,
        factor_model: type | None = None,
        signup_form: type[SignupForm] = SignupForm,
        login_form: type[LoginForm] = LoginForm,
        mail_sender: MailSender | None = None,
    ) -> None:
        self.db = db
        self.user_model = user_model
        self.token_model = token_model
        self.oauth_model = oauth_model
        self.session_model = session_model
        self.factor_model = factor_model
        self.signup_form = signup_form
        self.login_form = login_form
        self.mail_sender = mail_sender
        self.hooks = HookRegistry()
        if app is not None:
            self.init_app(app)

    def init_app(
        self,
        app: Flask,
        *,
        db: Any = None,
        user_model: type | None = None,
        token_model: type | None = None,
        oauth_model: type | None = None,
        session_model: type | None = None,
        factor_model: type | None = None,
        mail_sender: MailSender | None = None,
    ) -> None:
        """Set registration up on ``app``: config defaults, blueprints, Flask-Login,
        Flask-Mail. Arguments given here override the constructor's for this app.

        :raises RuntimeError: when called twice on one app, when ``db`` or
            ``user_model`` is missing or ``db.init_app(app)`` has not run yet, when a
            ``REGISTRATION_*`` key is unknown, or when ``SECRET_KEY`` is empty, a
            placeholder or short outside testing and debug.
        """
        if "registration" in app.extensions:
            raise RuntimeError("flask_registration is already set up on this app: init_app was called twice.")
        db = db if db is not None else self.db
        user_model = user_model if user_model is not None else self.user_model
        token_model = token_model if token_model is not None else self.token_model
        oauth_model = oauth_model if oauth_model is not None else self.oauth_model
        session_model = session_model if session_model is not None else self.session_model
        factor_model = factor_model if factor_model is not None else self.factor_model
        if db is None or user_model is None:
            raise RuntimeError("Registration needs db= and user_model= (in the constructor or init_app).")
        apply_defaults(app)
        config = app.config
        check_profile_setup(user_model, config)
        if USERNAME in config["REGISTRATION_LOGIN_FIELDS"]:
            check_username_column(user_model)
        _enforce_sqlite_foreign_keys(app, db)

        if "mail" not in app.extensions:
            Mail(app)
        self._set_up_login(app)

        app.extensions["registration"] = RegistrationState(
            extension=self,
            store=UserStore(db, user_model, token_model, session_model=session_model, oauth_model=oauth_model),
            passwords=Passwords(
                time_cost=config["REGISTRATION_ARGON2_TIME_COST"],
                memory_cost=config["REGISTRATION_ARGON2_MEMORY_COST"],
                parallelism=config["REGISTRATION_ARGON2_PARALLELISM"],
                max_concurrent=config["REGISTRATION_MAX_CONCURRENT_HASHES"],
                wait=config["REGISTRATION_HASH_WAIT"],
                max_waiting=config["REGISTRATION_MAX_HASH_WAITING"],
                niceness=config["REGISTRATION_HASH_NICENESS"],
            ),
            mail_sender=mail_sender or self.mail_sender or flask_mail_sender,
            rate_limits=RateLimits(app),
        )
        apps_own = set(app.blueprints)
        app.register_blueprint(views.create_blueprint(), url_prefix=config["REGISTRATION_URL_PREFIX"] or None)
        # The API checks CSRF itself, and CSRFProtect leaves it alone (jsonface.json_blueprint).
        app.url_map.converters["registration_rest"] = api.AnyRest  # the API's catch-all
        app.register_blueprint(api.bp, url_prefix=config["REGISTRATION_API_PREFIX"])
        # Deleting, restoring and exporting an account: pages and JSON routes of their own.
        app.register_blueprint(lifecycle_views.bp, url_prefix=config["REGISTRATION_URL_PREFIX"] or None)
        app.register_blueprint(lifecycle_api.bp, url_prefix=config["REGISTRATION_API_PREFIX"])
        # The profile: its page, and LoopBack's GET/PATCH/PUT of a user.
        app.register_blueprint(profile_views.bp, url_prefix=config["REGISTRATION_URL_PREFIX"] or None)
        app.register_blueprint(profile_api.bp, url_prefix=config["REGISTRATION_API_PREFIX"])
        logs.install()  # no link token in werkzeug's request log
        i18n.init_app(app, user_model)  # the templates' _r(), <html lang>; the locale column
        app.cli.add_command(cli.registration_cli)
        if oauth_model is not None or config["REGISTRATION_OAUTH_PROVIDERS"]:
            from . import oauth  # flask-dance, the ``oauth`` extra: imported only when used

            oauth.init_app(app, db=db, model=oauth_model, user_model=user_model)
        if factor_model is not None:
            from . import factors  # webauthn, pyotp, segno: the ``mfa`` extra, imported only when used

            factors.init_app(app, db=db, model=factor_model, user_model=user_model)
        # Every blueprint registered above, whatever its name (flask-dance's are named
        # after their providers), is the library's.
        app.extensions["registration"].blueprints = frozenset(set(app.blueprints) - apps_own)
        app.after_request(add_frame_headers)  # anti-framing headers on their answers
        # A URL value preprocessor runs before every before_request function, among them
        # Flask-WTF CSRFProtect's, which reads the form of every POST: set up before us, it
        # would read an unlimited body first.
        app.url_value_preprocessor(_limit_body)

    @staticmethod
    def _set_up_login(app: Flask) -> None:
        manager: LoginManager | None = getattr(app, "login_manager", None)
        if manager is None:
            manager = LoginManager()
            manager.init_app(app)
            manager.login_view = "registration.login"
            # Shown above the login form: a neutral note, not a success.
            manager.login_message = i18n.N_("Please log in to see that page.")
            manager.localize_callback = i18n.gettext
            manager.login_message_category = "info"
        if not has_user_loader(manager):
            manager.user_loader(lambda session_id: get_state().store.get_by_session_id(session_id))
            # The app's own @login_required JSON routes accept access tokens too.
            manager.request_loader(access.user_from_access_token)
        if not getattr(manager, "_registration_remember_cookie", False):
            # A remember cookie that expires and follows SECRET_KEY_FALLBACKS (_compat).
            install_remember_cookie(manager)
            manager._registration_remember_cookie = True

    # Hook decorators: each appends the function to its list and returns it unchanged.

    def before_signup(self, fn: F) -> F:
        """Run ``fn(data)`` before a user is created; change ``data`` in place or raise
        :class:`~flask_registration.ValidationError` to refuse the signup."""
        return self.hooks.register("before_signup", fn)

    def after_signup(self, fn: F) -> F:
        """Run ``fn(user, data)`` after a new user is committed (``data`` has no password)."""
        return self.hooks.register("after_signup", fn)

    def before_confirm(self, fn: F) -> F:
        """Run ``fn(user)`` before an address is marked verified; raise to refuse."""
        return self.hooks.register("before_confirm", fn)

    def after_confirm(self, fn: F) -> F:
        """Run ``fn(user)`` after an address is marked verified (first time only)."""
        return self.hooks.register("after_confirm", fn)

    def before_login(self, fn: F) -> F:
        """Run ``fn(user, data)`` once the password is right, before the session
        starts; raise a :class:`~flask_registration.RegistrationError` to refuse."""
        return self.hooks.register("before_login", fn)

    def after_login(self, fn: F) -> F:
        """Run ``fn(user)`` after the user is logged in."""
        return self.hooks.register("after_login", fn)

    def before_reset_password(self, fn: F) -> F:
        """Run ``fn(user)`` before a reset link sets a new password; raise to refuse."""
        return self.hooks.register("before_reset_password", fn)

    def after_reset_password(self, fn: F) -> F:
        """Run ``fn(user)`` after a password was reset through an emailed link."""
        return self.hooks.register("after_reset_password", fn)

    def before_change_password(self, fn: F) -> F:
        """Run ``fn(user)`` before a logged-in user's new password is set; raise to refuse."""
        return self.hooks.register("before_change_password", fn)

    def after_change_password(self, fn: F) -> F:
        """Run ``fn(user)`` after a logged-in user changed the password."""
        return self.hooks.register("after_change_password", fn)

    def before_change_email(self, fn: F) -> F:
        """Run ``fn(user, new_email)`` before a change of address is recorded and its
        link sent; raise to refuse (e.g. a domain the app does not allow)."""
        return self.hooks.register("before_change_email", fn)

    def after_change_email(self, fn: F) -> F:
        """Run ``fn(user, old_email)`` after the new address was confirmed and applied."""
        return self.hooks.register("after_change_email", fn)

    def before_update(self, fn: F) -> F:
        """Run ``fn(user, changes)`` before the owner's profile fields are written
        (``changes``: each field to write, with its checked new value); change
        ``changes`` in place, or raise :class:`~flask_registration.ValidationError` to
        refuse (nothing is written)."""
        return self.hooks.register("before_update", fn)

    def after_update(self, fn: F) -> F:
        """Run ``fn(user, changes)`` after the profile fields were written and committed."""
        return self.hooks.register("after_update", fn)

    def before_delete(self, fn: F) -> F:
        """Run ``fn(user)`` when an account is about to be deleted, inside the deletion's
        transaction: delete or anonymise the app's rows of the user through
        ``db.session`` (do not commit), or raise
        :class:`~flask_registration.ValidationError` to refuse (nothing is deleted). With
        ``REGISTRATION_DELETE_GRACE``, it runs when ``purge-deleted`` deletes the account."""
        return self.hooks.register("before_delete", fn)

    def after_delete(self, fn: F) -> F:
        """Run ``fn(snapshot)`` after an account was deleted and committed; ``snapshot`` is
        a :class:`~flask_registration.flows.deletion.DeletedUser` (the row is gone)."""
        return self.hooks.register("after_delete", fn)

    def export_data(self, fn: F) -> F:
        """Run ``fn(user, data)`` when a user downloads their data: add the app's own rows
        of the user to the ``data`` dict, under keys of your own (JSON-ready values)."""
        return self.hooks.register("export_data", fn)

    def before_add_factor(self, fn: F) -> F:
        """Run ``fn(user, kind)`` before a second factor is saved (``kind``:
        ``"passkey"`` or ``"totp"``; the passkey's answer or the app's first code was
        checked); raise a :class:`~flask_registration.RegistrationError` to refuse."""
        return self.hooks.register("before_add_factor", fn)

    def after_add_factor(self, fn: F) -> F:
        """Run ``fn(user, factor)`` after a second factor was added (the row)."""
        return self.hooks.register("after_add_factor", fn)

    def before_remove_factor(self, fn: F) -> F:
        """Run ``fn(user, factor)`` before a second factor is removed; raise to refuse."""
        return self.hooks.register("before_remove_factor", fn)

    def after_remove_factor(self, fn: F) -> F:
        """Run ``fn(user, kind)`` after a second factor was removed."""
        return self.hooks.register("after_remove_factor", fn)

    @staticmethod
    def set_mail_sender(app: Flask, sender: MailSender) -> None:
        """Send ``app``'s library emails through ``sender`` from now on: a callable that
        takes a ready ``flask_mail.Message`` (a queue, an outbox for a demo or a
        benchmark). The supported way to change it after ``init_app``, instead of
        writing to the state object (:func:`~flask_registration.contrib.celery.init_celery`
        uses it)."""
        get_state(app).mail_sender = sender

    def send_verification(self, user: Any, **options: Any) -> bool:
        """Email ``user`` a verification link; see :func:`flask_registration.flows.send_verification`."""
        return _send_verification(user, **options)
