"""The JSON routes' shared face (flask_registration/jsonface.py): every JSON blueprint
is left alone by Flask-WTF's CSRFProtect, set up before or after the extension, once."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_wtf import CSRFProtect

from flask_registration import Registration
from tests.models import CHEAP_ARGON2, AccessToken, User, db


@pytest.mark.parametrize("csrf_first", [True, False], ids=["csrfprotect-first", "csrfprotect-after"])
def test_csrfprotect_leaves_the_json_routes_to_their_own_check(database_url: str, csrf_first: Any) -> None:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="the json face's test key",
        SQLALCHEMY_DATABASE_URI=database_url,
        REGISTRATION_RATE_LIMITS_ENABLED=False,
        **CHEAP_ARGON2,
    )
    csrf = CSRFProtect()
    if csrf_first:
        csrf.init_app(app)
    db.init_app(app)
    Registration(app, db=db, user_model=User, token_model=AccessToken)
    if not csrf_first:
        csrf.init_app(app)
    with app.app_context():
        db.create_all()
    try:
        client = app.test_client(use_cookies=False)
        for _ in range(3):  # a wrong password, not a CSRF refusal: the guard let it through
            r = client.post("/api/users/login", json={"email": "a@example.com", "password": "wrong password"})
            assert r.status_code == 401 and r.json["error"]["code"] == "LOGIN_FAILED"
        json_faces = ("registration_api", "registration_profile_api", "registration_lifecycle_api")
        assert csrf._exempt_blueprints == {app.blueprints[name] for name in json_faces}  # each added once
        # The pages stay guarded by CSRFProtect.
        assert client.post("/login", data={"email": "a@example.com", "password": "x"}).status_code == 400
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
