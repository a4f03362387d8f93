"""The extension object: app factories, several apps in one process, configuration
checks at ``init_app``, and living beside the app's own Flask-Login and CSRFProtect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from flask_registration import Registration, get_state
from flask_registration.models import utcnow
from tests.helpers import link_params, press_confirm, sign_up
from tests.models import CHEAP_ARGON2, User, db, make_app
from tests.smtp import Mailbox


@pytest.fixture
def built(mailbox: Mailbox, database_url: str) -> Iterator[Any]:
    """Build apps on the test database and mail server; their tables go at teardown.

    ``built(**config)`` gives a bare Flask app with Flask-SQLAlchemy only (the test
    sets the rest up); ``built(factory=True, **config)`` goes through ``make_app``.
    """
    made: list[Flask] = []

    def build(*, factory: bool = False, registration: Registration | None = None, **config: Any) -> Flask:
        config = {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            **config,
        }
        if factory:
            app = make_app(config, registration=registration)
        else:
            app = Flask(__name__)
            app.config.update(
                TESTING=True,
                SECRET_KEY="test secret key",
                SERVER_NAME="localhost",
                MAIL_SUPPRESS_SEND=False,
                MAIL_DEFAULT_SENDER="Tests <tests@example.com>",
                **CHEAP_ARGON2,
                **config,
            )
            db.init_app(app)
        with app.app_context():
            db.create_all()
        made.append(app)
        return app

    yield build
    for i, app in enumerate(made):
        with app.app_context():
            db.session.remove()
            if i == 0:
                db.drop_all()
            db.engine.dispose()


def test_app_factory_registration_first_init_app_later(built: Any, mailbox: Mailbox) -> None:
    ext = Registration(db=db, user_model=User)
    app = built()
    ext.init_app(app)
    assert get_state(app).extension is ext
    assert not hasattr(ext, "app")

    client = app.test_client()
    link = sign_up(client, mailbox)
    assert link.startswith("/confirm?")
    assert press_confirm(client, link, "correct horse").status_code == 200


def test_registration_with_app_sets_up_at_once(built: Any) -> None:
    app = built()
    Registration(app, db=db, user_model=User)
    assert app.test_client().get("/signup").status_code == 200


def test_two_apps_with_their_own_keys_and_prefixes(built: Any, mailbox: Mailbox) -> None:
    ext = Registration(db=db, user_model=User)  # one extension object on both apps
    one = built(
        factory=True,
        registration=ext,
        SECRET_KEY="key one",
        REGISTRATION_API_PREFIX="/api/one",
        REGISTRATION_URL_PREFIX="/one",
    )
    two = built(
        factory=True,
        registration=ext,
        SECRET_KEY="key two",
        REGISTRATION_API_PREFIX="/api/two",
        REGISTRATION_URL_PREFIX="/two",
    )
    c1, c2 = one.test_client(), two.test_client()
    assert get_state(one) is not get_state(two)

    for client, own, other in ((c1, "one", "two"), (c2, "two", "one")):
        assert client.get(f"/{own}/signup").status_code == 200
        assert client.get(f"/{other}/signup").status_code == 404
        assert client.get("/signup").status_code == 404
        assert client.post(f"/api/{other}", json={"email": "x@example.com", "password": "x" * 8}).status_code == 404

    # One database: each app's links name a user the other app can see, yet only the
    # app that signed a link accepts it.
    c1, c2 = one.test_client(), two.test_client()  # without the session cookies of the pages
    link_one = sign_up(c1, mailbox, "ada@example.com", prefix="/api/one")
    link_two = sign_up(c2, mailbox, "grace@example.com", prefix="/api/two")
    assert link_one.startswith("/one/confirm?") and link_two.startswith("/two/confirm?")
    query_one, query_two = link_one.split("?", 1)[1], link_two.split("?", 1)[1]

    def post(client: Any, prefix: Any, query: Any) -> Any:
        return client.post(prefix, json={**link_params("?" + query), "password": "correct horse"})

    r = post(c2, "/api/two/confirm", query_one)
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"
    assert two.test_client().get(f"/two/confirm?{query_one}").status_code == 400
    r = post(c1, "/api/one/confirm", query_two)
    assert r.status_code == 400 and r.json["error"]["code"] == "INVALID_TOKEN"

    assert post(c1, "/api/one/confirm", query_one).status_code == 204
    assert post(c2, "/api/two/confirm", query_two).status_code == 204


def test_second_init_app_on_one_app_raises(built: Any) -> None:
    app = built(factory=True)
    with pytest.raises(RuntimeError, match="twice"):
        get_state(app).extension.init_app(app)
    with pytest.raises(RuntimeError, match="twice"):
        Registration(db=db, user_model=User).init_app(app)
    assert app.test_client().get("/signup").status_code == 200


def test_misspelled_key_names_the_close_match() -> None:
    with pytest.raises(RuntimeError, match=r"REGISTRATION_VERIFY_WITHN\b.*Did you mean REGISTRATION_VERIFY_WITHIN\?"):
        make_app({"REGISTRATION_VERIFY_WITHN": timedelta(hours=1)})


def test_unknown_key_without_a_close_match_is_refused() -> None:
    with pytest.raises(RuntimeError, match="Unknown configuration key REGISTRATION_FLUX_CAPACITOR"):
        make_app({"REGISTRATION_FLUX_CAPACITOR": True})


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("REGISTRATION_VERIFY_WITHIN", 3600, "REGISTRATION_VERIFY_WITHIN must be timedelta, not int"),
        ("REGISTRATION_PASSWORD_MIN_LENGTH", True, "REGISTRATION_PASSWORD_MIN_LENGTH must be int, not bool"),
        ("REGISTRATION_PREVENT_ENUMERATION", "false", "REGISTRATION_PREVENT_ENUMERATION must be bool"),
        ("REGISTRATION_API_PREFIX", "api/users", "REGISTRATION_API_PREFIX must start with '/'"),
        ("REGISTRATION_VERIFY_WITHIN", timedelta(0), "REGISTRATION_VERIFY_WITHIN must be a positive"),
        ("REGISTRATION_PASSWORD_MIN_LENGTH", 0, "REGISTRATION_PASSWORD_MIN_LENGTH must be at least 1"),
        ("REGISTRATION_SIGNUP_FIELDS", ["email_verified_at"], "cannot name 'email_verified_at'"),
    ],
)
def test_wrong_value_is_refused_at_init_app(key: Any, value: Any, message: Any) -> None:
    with pytest.raises(RuntimeError, match=message):
        make_app({key: value})


def test_get_state_without_init_app_says_to_call_it() -> None:
    app = Flask(__name__)
    with pytest.raises(RuntimeError, match="init_app"):
        get_state(app)
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        get_state()


def test_send_verification_without_init_app_says_to_call_it(built: Any) -> None:
    ext = Registration(db=db, user_model=User)
    app = built()
    with app.app_context():
        user = User(email="ada@example.com")
        db.session.add(user)
        db.session.commit()
        with pytest.raises(RuntimeError, match="init_app"):
            ext.send_verification(user)


@pytest.mark.parametrize("kwargs", [{}, {"db": db}, {"user_model": User}], ids=["neither", "no-user-model", "no-db"])
def test_missing_db_or_user_model_raises(kwargs: Any) -> None:
    app = Flask(__name__)
    with pytest.raises(RuntimeError, match="db= and user_model="):
        Registration(**kwargs).init_app(app)
    assert "registration" not in app.extensions


def test_db_and_user_model_may_be_given_to_init_app(built: Any) -> None:
    app = built()
    Registration().init_app(app, db=db, user_model=User)
    assert app.test_client().get("/signup").status_code == 200


def _verify(app: Flask, email: str = "ada@example.com") -> None:
    with app.app_context():
        db.session.scalars(db.select(User).filter_by(email=email)).one().email_verified_at = utcnow()
        db.session.commit()


def test_init_app_keeps_the_apps_own_login_manager_and_user_loader(built: Any, mailbox: Mailbox) -> None:
    app = built()
    manager = LoginManager(app)
    manager.login_view = "my_login"
    loaded: list[str] = []

    @manager.user_loader
    def load_user(session_id: str) -> User | None:
        # UserMixin.get_id() is "<id>:<auth_stamp>"; an app's own loader reads the id part.
        loaded.append(session_id)
        return db.session.get(User, int(session_id.split(":")[0]))

    Registration(db=db, user_model=User).init_app(app)
    assert app.login_manager is manager  # type: ignore[attr-defined]
    assert manager._user_callback is load_user
    assert manager.login_view == "my_login"

    client = app.test_client()
    sign_up(client, mailbox)
    _verify(app)
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 200
    assert client.get("/api/users/me").json["email"] == "ada@example.com"
    assert len(loaded) == 1 and loaded[0].startswith(f"{r.json['userId']}:")


def _app_with_csrf_protect(app: Flask) -> None:
    @app.post("/mine")
    def mine() -> str:
        return "changed"


def test_init_app_beside_an_existing_csrf_protect(built: Any, mailbox: Mailbox) -> None:
    app = built()
    _app_with_csrf_protect(app)
    CSRFProtect(app)
    Registration(db=db, user_model=User).init_app(app)
    client = app.test_client()

    # A cookie-less API client signs up without a token...
    sign_up(client, mailbox)
    # ...while the HTML pages and the app's own views stay protected,
    assert client.post("/signup", data={"email": "b@example.com"}).status_code == 400
    assert client.post("/mine").status_code == 400
    # ...and the API still checks requests that carry a session cookie.
    client.get("/api/users/csrf-token")
    r = client.post("/api/users/verify", json={"email": "ada@example.com"})
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"


def test_csrf_protect_set_up_after_init_app_still_lets_the_api_in(built: Any, mailbox: Mailbox) -> None:
    app = built()
    _app_with_csrf_protect(app)
    Registration(db=db, user_model=User).init_app(app)
    CSRFProtect(app)  # the order an app factory may well use
    client = app.test_client()
    r = client.post("/api/users", json={"email": "ada@example.com", "password": "correct horse"})
    assert r.status_code == 202
    assert client.post("/mine").status_code == 400
