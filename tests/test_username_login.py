"""Logging in with a username (``REGISTRATION_LOGIN_FIELDS = ["email", "username"]``).

Usernames are stored in one normal form under the unique index, so the database decides
between ``Alice`` and ``alice`` (50 racing signups included); a wrong username answers as
a wrong address does, after the same argon2 work (counted, not timed).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_registration import Registration, UserMixin, get_state
from tests.helpers import PASSWORD, add_user, client_at, inputs, limited_app, set_username
from tests.models import User, db, make_app

USERNAME_LOGIN = pytest.mark.app_config(REGISTRATION_LOGIN_FIELDS=["email", "username"])


def client_of(app: Flask, **options: Any) -> Any:
    """A test client (typed ``Any``: its answers' ``json`` is read as the API's)."""
    return app.test_client(**options)


def with_username(app: Flask, email: str, username: str, *, verified: bool = True) -> int:
    user_id = add_user(app, email, verified=verified)
    set_username(app, user_id, username)
    return user_id


def login(client: Any, **body: Any) -> Any:
    return client.post("/api/users/login", json={"password": PASSWORD, **body})


def usernames(app: Flask) -> list[str | None]:
    with app.app_context():
        return [u.username for u in db.session.scalars(db.select(User).order_by(User.id))]


# Off by default.


def test_by_default_a_login_takes_an_address_only(app: Flask, client: Any) -> None:
    with_username(app, "ada@example.com", "ada")
    r = login(client, username="ada")
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"email": ["presence"], "username": ["unknown"]}
    field = inputs(client.get("/login").get_data(as_text=True))["email"]
    assert field["type"] == "email" and field["autocomplete"] == "email"


# The JSON login.


@USERNAME_LOGIN
@pytest.mark.parametrize("typed", ["ada", "ADA", " Ada ", "\uff21\uff24\uff21"])  # full-width ＡＤＡ too
def test_a_username_logs_in_whatever_its_case(app: Flask, typed: str) -> None:
    user_id = with_username(app, "ada@example.com", "ada")
    r = login(client_of(app), username=typed)
    assert r.status_code == 200
    assert r.json["userId"] == user_id and r.json["user"]["username"] == "ada"


@USERNAME_LOGIN
def test_the_address_still_logs_in_and_wins_when_both_are_given(app: Flask) -> None:
    with_username(app, "ada@example.com", "ada")
    assert login(client_of(app), email="ada@example.com").status_code == 200
    assert login(client_of(app), email="ada@example.com", username="nobody").status_code == 200
    r = login(client_of(app), email="nobody@example.com", username="ada")
    assert r.status_code == 401 and r.json["error"]["code"] == "LOGIN_FAILED"


@USERNAME_LOGIN
@pytest.mark.parametrize("body", [{}, {"email": "", "username": ""}, {"email": None, "username": None}])
def test_neither_address_nor_username_is_loopbacks_400(app: Flask, client: Any, body: dict[str, Any]) -> None:
    r = client.post("/api/users/login", json={**body, "password": PASSWORD})
    assert r.status_code == 400
    assert r.json == {
        "error": {
            "statusCode": 400,
            "name": "Error",
            "message": "Enter your email address or your username.",
            "code": "USERNAME_EMAIL_REQUIRED",
        }
    }


@USERNAME_LOGIN
@pytest.mark.parametrize("value", [5, True, ["ada"], {"a": 1}])
def test_a_username_that_is_not_text_is_refused(app: Flask, client: Any, value: Any) -> None:
    r = login(client, username=value)
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"username": ["type"]}


# What a username is.


@USERNAME_LOGIN
@pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False, REGISTRATION_SEND_VERIFICATION_ON_SIGNUP=False)
def test_signup_stores_the_normal_form_and_one_name_in_any_case(app: Flask, client: Any) -> None:
    def signup(email: str, username: Any) -> Any:
        return client.post("/api/users", json={"email": email, "password": PASSWORD, "username": username})

    assert signup("a@example.com", " \uff21lice ").json["username"] == "alice"
    assert signup("b@example.com", "").json["username"] is None
    assert signup("c@example.com", None).json["username"] is None  # two without a name: no conflict
    r = signup("d@example.com", "ALICE")
    assert r.status_code == 422 and r.json["error"]["details"]["codes"] == {"username": ["uniqueness"]}
    r = signup("e@example.com", "STRASSE")
    assert r.status_code == 201 and r.json["username"] == "strasse"
    assert signup("f@example.com", "Stra\u00dfe").status_code == 422  # ß folds to ss: the same name
    assert usernames(app) == ["alice", None, None, "strasse"]


@USERNAME_LOGIN
@pytest.mark.parametrize(
    "username, message",
    [
        ("ada@example.com", "A username cannot contain @."),
        ("two words", "A username cannot contain spaces or invisible characters."),
        ("tab\there", "A username cannot contain spaces or invisible characters."),
        ("zero\u200bwidth", "A username cannot contain spaces or invisible characters."),
        ("no\u00a0break", "A username cannot contain spaces or invisible characters."),
    ],
)
def test_a_username_that_breaks_the_rules_is_refused_at_signup_and_in_the_profile(
    app: Flask, username: str, message: str
) -> None:
    client = client_of(app, use_cookies=False)
    r = client.post("/api/users", json={"email": "new@example.com", "password": PASSWORD, "username": username})
    assert r.status_code == 422
    assert r.json["error"]["details"] == {
        "context": "user",
        "codes": {"username": ["format"]},
        "messages": {"username": [message]},
    }
    with_username(app, "ada@example.com", "ada")
    token = login(client, email="ada@example.com").json["id"]
    r = client.patch("/api/users/me", json={"username": username}, headers={"Authorization": token})
    assert r.status_code == 422 and r.json["error"]["details"]["codes"] == {"username": ["format"]}
    assert usernames(app) == ["ada"]


@pytest.mark.slow
@USERNAME_LOGIN
@pytest.mark.app_config(REGISTRATION_SEND_VERIFICATION_ON_SIGNUP=False)
def test_fifty_signups_of_one_username_in_any_case_make_one_account(app: Flask) -> None:
    count, names = 50, ["Alice", "ALICE", "alice"]
    barrier = threading.Barrier(count)
    answers: list[tuple[int, Any]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        client = client_of(app)
        body = {"email": f"racer{i}@example.com", "password": PASSWORD, "username": names[i % 3]}
        try:
            barrier.wait(timeout=60)
            r = client.post("/api/users", json=body)
            with lock:
                answers.append((r.status_code, r.json))
        except BaseException as exc:  # a 5xx propagates here under TESTING
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sorted(status for status, _ in answers) == [202] + [422] * (count - 1)
    refusals = [body["error"]["details"]["codes"] for status, body in answers if status == 422]
    assert refusals == [{"username": ["uniqueness"]}] * (count - 1)
    assert usernames(app) == ["alice"]


# Enumeration and rate limits: a username is treated as an address is.


class CountingHasher:
    """Wraps the app's argon2 hasher: counts each hash and verify, then makes it."""

    def __init__(self, hasher: Any) -> None:
        self.hasher, self.calls = hasher, Counter[str]()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.hasher, name)
        if name not in ("hash", "verify"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@USERNAME_LOGIN
def test_a_wrong_username_answers_and_works_as_a_wrong_password(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    with_username(app, "ada@example.com", "ada")
    passwords = get_state(app).passwords
    counter = CountingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", counter)
    client = client_of(app, use_cookies=False)
    cases = [
        {"username": "ada", "password": "wrong password"},  # an account, a wrong password
        {"username": "nobody", "password": PASSWORD},  # no such username
        {"username": "not a username", "password": PASSWORD},  # cannot be one
        {"username": "ada", "password": "x" * 2000},  # over the maximum length
        {"email": "nobody@example.com", "password": PASSWORD},  # no such address
    ]
    answers = []
    for body in cases:
        before = Counter(counter.calls)
        r = client.post("/api/users/login", json=body)
        answers.append((r.status_code, r.data, counter.calls - before))
    assert {(status, data) for status, data, _ in answers} == {(401, answers[0][1])}
    assert b'"LOGIN_FAILED"' in answers[0][1]
    assert [work for _, _, work in answers] == [Counter(verify=1)] * len(cases)


@USERNAME_LOGIN
def test_the_right_password_of_an_unverified_account_by_username_sends_a_new_link(app: Flask, mailbox: Any) -> None:
    with_username(app, "uv@example.com", "uv", verified=False)
    r = login(client_of(app), username="UV")
    assert r.status_code == 401 and r.json["error"]["code"] == "LOGIN_FAILED"
    (msg,) = mailbox.wait_for(1)
    assert msg["To"] == "uv@example.com" and "/confirm?" in mailbox.text(msg)


def test_failed_username_logins_share_one_bucket_whatever_the_case(database_url: str, mailbox: Any) -> None:
    app = limited_app(
        database_url,
        mailbox,
        "memory://",
        REGISTRATION_LOGIN_FIELDS=["email", "username"],
        REGISTRATION_RATE_LIMITS={"failed_login_per_email": "2 per 5 minutes"},
    )
    try:
        with_username(app, "ada@example.com", "ada")
        statuses = []
        for i, typed in enumerate(["ada", "ADA", "Ada"]):  # three clients, one name
            r = client_at(app, f"192.0.2.{i + 1}").post(
                "/api/users/login", json={"username": typed, "password": "wrong password"}
            )
            statuses.append(r.status_code)
        assert statuses == [401, 401, 429]
        assert login(client_at(app, "192.0.2.9"), email="ada@example.com").status_code == 200  # its own bucket
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


# The HTML login page.


@USERNAME_LOGIN
@pytest.mark.app_config(WTF_CSRF_ENABLED=False)
def test_the_login_page_has_one_email_or_username_field(app: Flask) -> None:
    with_username(app, "ada@example.com", "ada")
    client = client_of(app)
    page = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email or username</label>' in page
    field = inputs(page)["email"]
    assert field["type"] == "text" and field["autocomplete"] == "username"

    for typed in ("ADA", "ada@example.com"):
        r = client_of(app).post("/login", data={"email": typed, "password": PASSWORD})
        assert r.status_code == 302, typed

    def refused(typed: str) -> tuple[int, str]:
        r = client_of(app).post("/login", data={"email": typed, "password": "wrong password"})
        return r.status_code, r.get_data(as_text=True).replace(typed, "…")

    assert refused("ada") == refused("nobody") == refused("nobody@example.com")
    assert refused("ada")[0] == 401
    r = client.post("/login", data={"email": "", "password": PASSWORD})
    assert r.status_code == 422 and "Enter your email address or username." in r.get_data(as_text=True)


# Setting it up.


class _Base(DeclarativeBase):
    pass


other_db = SQLAlchemy(model_class=_Base)


class NoUsername(other_db.Model, UserMixin):  # type: ignore[name-defined]
    __tablename__ = "no_username_users"


class SharedUsername(other_db.Model, UserMixin):  # type: ignore[name-defined]
    __tablename__ = "shared_username_users"
    username: Mapped[str | None] = mapped_column(String(40))  # not unique


@pytest.mark.parametrize(
    "model, message", [(NoUsername, "needs a username column"), (SharedUsername, "the username column must be unique")]
)
def test_username_login_needs_a_unique_username_column(model: Any, message: str) -> None:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        SECRET_KEY="username setup test key",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        REGISTRATION_LOGIN_FIELDS=["email", "username"],
    )
    other_db.init_app(app)
    with pytest.raises(RuntimeError) as caught:
        Registration(app, db=other_db, user_model=model)
    assert message in str(caught.value)


@pytest.mark.parametrize("fields", [["username"], ["email", "phone"], [], "email", ["email", 1]])
def test_login_fields_are_email_or_email_and_username(fields: Any) -> None:
    with pytest.raises(RuntimeError) as caught:
        make_app({"REGISTRATION_LOGIN_FIELDS": fields})
    assert "REGISTRATION_LOGIN_FIELDS must be" in str(caught.value)
