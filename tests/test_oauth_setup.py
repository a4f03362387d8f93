"""Setting third-party login up: providers from configuration, their checks, the
built-in GitHub, Google and Facebook blueprints, and flask-dance staying optional."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import g
from sqlalchemy import UniqueConstraint

from flask_registration import Registration
from tests.models import AccessToken, User, db, make_app
from tests.oauth_provider import OAuth

ROOT = Path(__file__).resolve().parent.parent

LOCAL = {
    "client_id": "id",
    "client_secret": "secret",
    "authorization_url": "http://127.0.0.1:9/authorize",
    "token_url": "http://127.0.0.1:9/token",
    "userinfo_url": "http://127.0.0.1:9/userinfo",
}


def _app(providers: dict[str, Any], *, oauth_model: Any = OAuth, **config: Any) -> Any:
    registration = Registration(db=db, user_model=User, token_model=AccessToken, oauth_model=oauth_model)
    return make_app({"REGISTRATION_OAUTH_PROVIDERS": providers, **config}, registration=registration)


@pytest.fixture
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def test_github_google_and_facebook_come_from_flask_dance_contrib() -> None:
    app = _app(
        {
            "github": {"client_id": "gh-id", "client_secret": "gh-secret"},
            "google": {"client_id": "g-id", "client_secret": "g-secret"},
            "facebook": {"client_id": "fb-id", "client_secret": "fb-secret"},
        },
        REGISTRATION_URL_PREFIX="/account",
    )
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    for name in ("github", "google", "facebook"):
        assert f"/account/login/{name}" in rules
        assert f"/account/login/{name}/authorized" in rules
    client = app.test_client()
    expected = {
        "github": ("https://github.com/login/oauth/authorize", "gh-id", "user:email"),
        "google": (
            "https://accounts.google.com/o/oauth2/auth",
            "g-id",
            "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
        ),
        "facebook": ("https://www.facebook.com/dialog/oauth", "fb-id", "email"),
    }
    for name, (authorize, client_id, scope) in expected.items():
        r = client.get(f"/account/login/{name}")
        assert r.status_code == 302
        location = urlsplit(r.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == authorize
        query = parse_qs(location.query)
        assert query["client_id"] == [client_id]
        assert query["scope"] == [scope]
        assert query["redirect_uri"] == [f"http://localhost/account/login/{name}/authorized"]
        with client.session_transaction() as session:
            assert session[f"{name}_oauth_state"] == query["state"][0]


def test_flask_dance_config_keys_give_a_built_in_providers_credentials() -> None:
    app = _app({"github": {}}, GITHUB_OAUTH_CLIENT_ID="from-config", GITHUB_OAUTH_CLIENT_SECRET="s")
    r = app.test_client().get("/login/github")
    assert parse_qs(urlsplit(r.headers["Location"]).query)["client_id"] == ["from-config"]


def test_the_login_page_offers_each_provider(insecure_transport: Any) -> None:
    app = _app({"local": {**LOCAL, "title": "Corp login"}})
    client = app.test_client()
    page = client.get("/login?next=/after").get_data(as_text=True)
    assert 'href="/login/local?next=/after"' in page and "Corp login" in page
    assert 'href="/login/local"' in client.get("/signup").get_data(as_text=True)


def test_without_oauth_the_pages_offer_no_provider() -> None:
    page = make_app().test_client().get("/login").get_data(as_text=True)
    assert "/login/local" not in page and "Or continue with" not in page


def test_each_request_has_its_own_provider_session(insecure_transport: Any) -> None:
    # flask-dance keeps it on the blueprint, shared by every thread; here it is per request.
    app = _app({"local": LOCAL})
    blueprint = app.blueprints["local"]
    with app.test_request_context():
        first = blueprint.session
        assert blueprint.session is first
        assert g._registration_oauth_sessions["local"] is first
    with app.test_request_context():
        assert blueprint.session is not first
    assert "session" not in vars(blueprint)


def test_flask_dance_still_has_the_session_getter_that_request_scoped_wraps(insecure_transport: Any) -> None:
    # _compat.request_scoped swaps the blueprint's class for one whose ``session`` calls
    # flask-dance's own getter once per request, and whose deleter flask-dance's teardown
    # calls: if flask-dance changes either, this fails before a dance does.
    from flask_dance.consumer import OAuth2ConsumerBlueprint

    getter = OAuth2ConsumerBlueprint.session
    assert isinstance(getter, property) and getter.fget is not None
    app = _app({"local": LOCAL})
    blueprint = app.blueprints["local"]
    assert type(blueprint) is not OAuth2ConsumerBlueprint and isinstance(blueprint, OAuth2ConsumerBlueprint)
    with app.test_request_context():
        made = getter.fget(blueprint)
        assert made is not getter.fget(blueprint)  # a new session each call, cached by no one
        assert made.blueprint is blueprint and made.client_id == "id"
        assert blueprint.session is blueprint.session
        blueprint.teardown_session()  # flask-dance's teardown: ``del self.session``
        assert "local" not in g._registration_oauth_sessions


def test_request_scoped_refuses_a_flask_dance_without_the_session_property(monkeypatch: pytest.MonkeyPatch) -> None:
    from flask_dance.consumer import OAuth2ConsumerBlueprint

    from flask_registration._compat import request_scoped

    blueprint = OAuth2ConsumerBlueprint("x", __name__, client_id="id", token_url="http://127.0.0.1:9/token")
    monkeypatch.setattr(OAuth2ConsumerBlueprint, "session", None)
    with pytest.raises(RuntimeError, match="no longer a property"):
        request_scoped(blueprint)
    assert type(blueprint) is OAuth2ConsumerBlueprint


def test_csrfprotect_still_keeps_a_set_of_its_exempt_blueprints() -> None:
    # _compat.exempt_from_csrf_protect reads Flask-WTF's set of exempt blueprints.
    from flask import Blueprint, Flask
    from flask_wtf.csrf import CSRFProtect

    from flask_registration._compat import exempt_from_csrf_protect

    app = Flask(__name__)
    csrf = CSRFProtect(app)
    blueprint = Blueprint("json_routes", __name__)
    with app.app_context():
        exempt_from_csrf_protect(blueprint)
        exempt_from_csrf_protect(blueprint)
    assert csrf._exempt_blueprints == {blueprint}


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ({"local": {**LOCAL, "client_secert": "x"}}, "has no setting 'client_secert'. Did you mean 'client_secret'?"),
        ({"local": {k: v for k, v in LOCAL.items() if k != "token_url"}}, "needs 'token_url'"),
        ({"local": {k: v for k, v in LOCAL.items() if k != "userinfo_url"}}, "needs 'userinfo_url'"),
        ({"github": {"client_id": "x"}}, "needs 'client_secret' (or GITHUB_OAUTH_CLIENT_SECRET)"),
        ({"github": {**LOCAL}}, "github is built in; its authorization_url cannot be set"),
        ({"Bad-Name": LOCAL}, "a provider's name is lower-case letters"),
        ({"registration_x": LOCAL}, "does not start with 'registration'"),
        ({"local": "id:secret"}, "must be a dict of settings, not str"),
        ({"local": {**LOCAL, "scope": [1]}}, "['scope'] must be a list of scope names"),
        ({"local": {**LOCAL, "profile": "not callable"}}, "['profile'] must be a function"),
        ({"local": {**LOCAL, "id_key": None}}, "['id_key'] must be a string"),
    ],
)
def test_a_wrong_provider_setting_is_an_error_at_init_app(providers: Any, message: Any) -> None:
    with pytest.raises(RuntimeError) as info:
        _app(providers)
    assert message in str(info.value)


def test_providers_need_an_oauth_model() -> None:
    with pytest.raises(RuntimeError, match=r"needs an OAuth model: Registration\(oauth_model=...\)"):
        _app({"local": LOCAL}, oauth_model=None)


def test_the_new_keys_are_checked_like_the_others() -> None:
    with pytest.raises(RuntimeError, match="REGISTRATION_OAUTH_PROVIDERS must be dict, not list"):
        make_app({"REGISTRATION_OAUTH_PROVIDERS": [LOCAL]})
    with pytest.raises(RuntimeError, match="Did you mean REGISTRATION_OAUTH_LINK_BY_EMAIL"):
        make_app({"REGISTRATION_OAUTH_LINK_BY_MAIL": True})


def test_an_oauth_model_without_providers_sets_up_the_connections_page() -> None:
    app = _app({})
    with app.app_context():
        db.create_all()
        try:
            client = app.test_client()
            assert client.get("/api/users/me/identities").status_code == 401
            assert client.get("/account/connections").status_code == 302
        finally:
            db.drop_all()
            db.engine.dispose()


def test_the_oauth_model_has_the_constraints_that_decide_races() -> None:
    table = OAuth.__table__
    unique = {
        tuple(c.name for c in constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    }
    assert unique == {("provider", "provider_user_id"), ("provider", "user_id")}
    (fk,) = table.c.user_id.foreign_keys
    assert fk.target_fullname == "users.id" and fk.ondelete == "CASCADE"
    assert table.c.created_at.type.timezone is True


@pytest.mark.slow
def test_flask_dance_stays_optional() -> None:
    # A fresh interpreter in which flask_dance cannot be imported, warnings as errors.
    script = textwrap.dedent(
        """
        import sys

        class NoFlaskDance:
            def find_spec(self, name, path=None, target=None):
                if name == "flask_dance" or name.startswith("flask_dance."):
                    raise ImportError("flask-dance is not installed")

        sys.meta_path.insert(0, NoFlaskDance())

        import flask_registration
        from flask import Flask
        from flask_sqlalchemy import SQLAlchemy

        db = SQLAlchemy()

        class User(db.Model, flask_registration.UserMixin):
            __tablename__ = "users"

        def app(**config):
            app = Flask(__name__)
            app.config.update(SECRET_KEY="x" * 32, SQLALCHEMY_DATABASE_URI="sqlite://", TESTING=True, **config)
            db.init_app(app)
            return app

        flask_registration.Registration(app(), db=db, user_model=User)  # no providers: fine
        try:
            flask_registration.Registration(
                app(REGISTRATION_OAUTH_PROVIDERS={"github": {"client_id": "a", "client_secret": "b"}}),
                db=db, user_model=User,
            )
        except ImportError as exc:
            assert "pip install 'flask-registration[oauth]'" in str(exc), exc
        else:
            raise AssertionError("a provider without flask-dance must fail")
        try:
            class OAuth(db.Model, flask_registration.OAuthMixin):
                __tablename__ = "oauth"
        except ImportError as exc:
            assert "pip install 'flask-registration[oauth]'" in str(exc), exc
        else:
            raise AssertionError("OAuthMixin without flask-dance must say what to install")
        print("optional")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "optional"


def test_the_json_identities_stay_out_of_csrfprotect(database_url: str) -> None:
    # Like the rest of the API: an access token needs no CSRF token, even when the app
    # sets Flask-WTF's CSRFProtect up after the extension.
    from flask_wtf.csrf import CSRFProtect

    app = _app({"local": LOCAL}, SQLALCHEMY_DATABASE_URI=database_url)
    CSRFProtect(app)
    with app.app_context():
        db.create_all()
    try:
        client = app.test_client()
        with app.app_context():
            state = app.extensions["registration"]
            user = User(email="bob@example.com", password_hash=state.passwords.hash("a good password"))
            db.session.add(user)
            db.session.commit()
            state.store.mark_verified(user)
        r = client.post("/api/users/login", json={"email": "bob@example.com", "password": "a good password"})
        assert r.status_code == 200
        access = {"Authorization": f"Bearer {r.json['id']}"}
        anonymous = app.test_client()
        r = anonymous.delete("/api/users/me/identities/local", headers=access)
        assert r.status_code == 404 and r.json["error"]["code"] == "OAUTH_NOT_LINKED"
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
