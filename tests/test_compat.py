"""Each use of another library's internals (flask_registration/_compat.py) against the
library as installed: these fail when Flask-Login or Flask-WTF change what we rely on."""

from __future__ import annotations

import flask_login
from flask import Blueprint, Flask, session
from flask_wtf import CSRFProtect

from flask_registration import _compat


class Person(flask_login.UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


def login_app() -> tuple[Flask, flask_login.LoginManager]:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret key for the compat tests", TESTING=True)
    manager = flask_login.LoginManager(app)
    return app, manager


def test_set_current_user_is_what_flask_login_sees() -> None:
    app, manager = login_app()
    manager.user_loader(lambda user_id: None)
    with app.test_request_context("/"):
        person = Person("7")
        _compat.set_current_user(person)
        assert flask_login.current_user._get_current_object() is person
        assert flask_login.current_user.is_authenticated


def test_has_user_loader_follows_flask_logins_callbacks() -> None:
    _app, manager = login_app()
    assert not _compat.has_user_loader(manager)
    manager.user_loader(lambda user_id: None)
    assert _compat.has_user_loader(manager)
    _app, manager = login_app()
    manager.request_loader(lambda request: None)
    assert _compat.has_user_loader(manager)


def test_the_remember_key_is_where_flask_login_keeps_it() -> None:
    app, manager = login_app()
    manager.user_loader(lambda user_id: Person(user_id))
    name = app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    with app.test_request_context("/", headers={"Cookie": f"{name}=7|x"}):
        flask_login.login_user(Person("7"), remember=True)
        assert session[_compat.REMEMBER_SESSION_KEY] == "set"
        assert _compat.remember_cookie_in_use()
        flask_login.logout_user()  # with the cookie sent, Flask-Login asks for it to go
        assert session[_compat.REMEMBER_SESSION_KEY] == "clear"
        assert not _compat.remember_cookie_in_use()
    with app.test_request_context("/"):
        assert not _compat.remember_cookie_in_use()


def test_csrfprotect_exemption_by_blueprint() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="a secret key for the compat tests")
    csrf = CSRFProtect(app)
    api = Blueprint("api", __name__)

    @api.post("/change")
    def change() -> str:
        return "changed"

    app.register_blueprint(api)
    client = app.test_client()
    assert client.post("/change").status_code == 400  # CSRFProtect guards it
    with app.app_context():
        _compat.exempt_from_csrf_protect(api)
        _compat.exempt_from_csrf_protect(api)  # again: once is enough
    assert csrf._exempt_blueprints == {api}  # the blueprint itself, once
    assert client.post("/change").status_code == 200
