"""Profile fields of every column type, through both faces: the JSON API and the page
``/account/profile``. A model of its own here (the suite's User has only ``username``),
on the same database fixture."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Boolean, Float, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_registration import Registration, UserMixin
from flask_registration.state import get_state
from tests.helpers import PASSWORD, csrf_headers, hidden, html_login, inputs
from tests.models import CHEAP_ARGON2


class Base(DeclarativeBase):
    pass


members_db = SQLAlchemy(model_class=Base)


class Member(members_db.Model, UserMixin):  # type: ignore[name-defined]
    __tablename__ = "members"
    username: Mapped[str | None] = mapped_column(String(40), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    age: Mapped[int | None] = mapped_column(Integer)
    newsletter: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    height: Mapped[float | None] = mapped_column(Float)


FIELDS = ["username", "display_name", "city", "age", "newsletter", "height"]


def member_app(database_url: str, mailbox: Any, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="the profile page's test secret key",
        SERVER_NAME="localhost",
        SQLALCHEMY_DATABASE_URI=database_url,
        MAIL_SERVER=mailbox.host,
        MAIL_PORT=mailbox.port,
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="Tests <tests@example.com>",
        REGISTRATION_SIGNUP_FIELDS=["username"],
        REGISTRATION_PROFILE_FIELDS=FIELDS,
        REGISTRATION_LOGIN_FIELDS=["email", "username"],
        REGISTRATION_RATE_LIMITS_ENABLED=False,
        **CHEAP_ARGON2,
    )
    app.config.update(config)
    members_db.init_app(app)
    Registration(app, db=members_db, user_model=Member)
    with app.app_context():
        members_db.create_all()
    return app


@pytest.fixture
def members(database_url: str, mailbox: Any) -> Iterator[Flask]:
    app = member_app(database_url, mailbox)
    with app.app_context():
        state = get_state(app)
        user = state.store.create({"email": "ada@example.com", "password_hash": state.passwords.hash(PASSWORD)})
        state.store.mark_verified(user)
        user.username, user.city = "ada", "London"
        members_db.session.commit()
    yield app
    with app.app_context():
        members_db.session.remove()
        members_db.drop_all()
        members_db.engine.dispose()


def stored(app: Flask) -> dict[str, Any]:
    with app.app_context():
        member = members_db.session.scalars(members_db.select(Member)).one()
        return {name: getattr(member, name) for name in FIELDS}


def api_client(app: Flask) -> tuple[Any, dict[str, str]]:
    client = app.test_client()  # no token model here: the session, and the CSRF header
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200
    return client, csrf_headers(client)


# The JSON face.


def test_every_column_type_is_written_and_shown(members: Flask) -> None:
    client, headers = api_client(members)
    body = {"display_name": "Ada L.", "age": 36, "newsletter": True, "height": 1.65, "city": "Paris"}
    r = client.patch("/api/users/me", json=body, headers=headers)
    assert r.status_code == 200
    assert {k: r.json[k] for k in body} == body  # the profile fields are in the user object
    assert stored(members) == {**body, "username": "ada"}
    assert client.get("/api/users/me").json["display_name"] == "Ada L."


@pytest.mark.parametrize(
    "raw, field, code",
    [
        ('{"age": "12"}', "age", "type"),
        ('{"age": 1.5}', "age", "type"),
        (f'{{"age": {2**70}}}', "age", "type"),
        ('{"age": true}', "age", "type"),
        ('{"newsletter": "yes"}', "newsletter", "type"),
        ('{"newsletter": 1}', "newsletter", "type"),
        ('{"height": "tall"}', "height", "type"),
        ('{"height": NaN}', "height", "type"),
        ('{"height": Infinity}', "height", "type"),
        (f'{{"display_name": "{"d" * 21}"}}', "display_name", "length"),
        ('{"city": null}', "city", "presence"),
        ('{"newsletter": null}', "newsletter", "presence"),
        ('{"username": "ada@example.com"}', "username", "format"),
    ],
)
def test_a_value_that_does_not_fit_its_column_is_refused(members: Flask, raw: str, field: str, code: str) -> None:
    client, headers = api_client(members)
    before = stored(members)
    r = client.patch("/api/users/me", data=raw, content_type="application/json", headers=headers)
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {field: [code]}
    assert stored(members) == before


def test_put_without_a_field_that_cannot_be_null_writes_nothing(members: Flask) -> None:
    client, headers = api_client(members)
    before = stored(members)
    r = client.put("/api/users/me", json={"display_name": "Ada", "newsletter": True}, headers=headers)
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"city": ["presence"]}
    assert stored(members) == before
    r = client.put("/api/users/me", json={"city": "Rome", "newsletter": False}, headers=headers)
    assert r.status_code == 200
    assert stored(members) == {
        "username": None,
        "display_name": None,
        "city": "Rome",
        "age": None,
        "newsletter": False,
        "height": None,
    }


# The page.


def test_the_page_needs_a_login(members: Flask) -> None:
    r = members.test_client().get("/account/profile")
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]


def test_the_page_shows_each_field_filled_in_and_saves_it(members: Flask) -> None:
    client = members.test_client()
    html_login(client)
    account = client.get("/account").get_data(as_text=True)
    assert 'href="/account/profile"' in account
    page = client.get("/account/profile")
    assert page.status_code == 200
    fields = inputs(page.get_data(as_text=True))
    assert fields["username"]["value"] == "ada" and fields["username"]["autocomplete"] == "username"
    assert fields["city"]["value"] == "London"
    assert fields["age"]["type"] == "number" and fields["newsletter"]["type"] == "checkbox"
    assert "csrf_token" in fields

    form = {**hidden(client, "/account/profile"), "username": "Ada_L", "display_name": "Ada", "city": "Paris"}
    r = client.post("/account/profile", data={**form, "age": "36", "height": "1.65", "newsletter": "y"})
    assert r.status_code == 302 and r.headers["Location"] == "/account/profile"
    assert "Your profile is saved." in client.get("/account/profile").get_data(as_text=True)
    expected = {"username": "ada_l", "display_name": "Ada", "city": "Paris", "age": 36, "newsletter": True}
    assert stored(members) == {**expected, "height": 1.65}

    # An unticked box is false; an empty number is null.
    r = client.post("/account/profile", data={**form, "age": "", "height": ""})
    assert r.status_code == 302
    assert stored(members) == {**expected, "newsletter": False, "age": None, "height": None}


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"display_name": "d" * 21}, "display_name", "The display name must be at most 20 characters long."),
        ({"username": "a@b"}, "username", "A username cannot contain @."),
        ({"username": "two words"}, "username", "A username cannot contain spaces or invisible characters."),
    ],
)
def test_the_page_and_the_api_refuse_the_same_values_with_the_same_message(
    members: Flask, change: dict[str, Any], field: str, message: str
) -> None:
    before = stored(members)
    client = members.test_client()
    html_login(client)
    form = {**hidden(client, "/account/profile"), "username": "ada", "city": "London", **change}
    r = client.post("/account/profile", data=form)
    assert r.status_code == 422
    assert message in r.get_data(as_text=True)
    client, headers = api_client(members)
    r = client.patch("/api/users/me", json=change, headers=headers)
    assert r.status_code == 422 and r.json["error"]["details"]["messages"] == {field: [message]}
    assert stored(members) == before


def test_the_page_refuses_a_form_without_its_csrf_token_and_a_number_that_is_not_one(members: Flask) -> None:
    before = stored(members)
    client = members.test_client()
    html_login(client)
    r = client.post("/account/profile", data={"username": "mallory", "city": "x"})
    assert r.status_code == 422
    assert "This form has expired or did not come from this site." in r.get_data(as_text=True)
    form = {**hidden(client, "/account/profile"), "username": "ada", "city": "London", "age": "old"}
    r = client.post("/account/profile", data=form)
    assert r.status_code == 422 and "Not a valid integer value." in r.get_data(as_text=True)
    assert stored(members) == before


def test_without_profile_fields_the_account_page_has_no_link_and_the_page_says_so(
    database_url: str, mailbox: Any
) -> None:
    app = member_app(database_url, mailbox, REGISTRATION_PROFILE_FIELDS=())
    try:
        with app.app_context():
            state = get_state(app)
            user = state.store.create({"email": "ada@example.com", "password_hash": state.passwords.hash(PASSWORD)})
            state.store.mark_verified(user)
        client = app.test_client()
        html_login(client)
        assert "/account/profile" not in client.get("/account").get_data(as_text=True)
        page = client.get("/account/profile")
        assert page.status_code == 200 and "There is nothing here to change yet" in page.get_data(as_text=True)
        assert client.post("/account/profile", data=hidden(client, "/account/profile")).status_code == 200
    finally:
        with app.app_context():
            members_db.session.remove()
            members_db.drop_all()
            members_db.engine.dispose()
