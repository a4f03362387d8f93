"""Hooks change what happens (before_* may veto, after_* run after the commit); blinker
signals only observe. Everything runs over the real SMTP server and database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from flask_registration import LoginFailed, RegistrationError, ValidationError, signals
from flask_registration.state import get_state
from tests.helpers import confirm_by_api, press_confirm
from tests.models import User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse battery"


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def _signup(client: Any, email: str, **extra: Any) -> Any:
    return client.post("/api/users", json={"email": email, "password": PASSWORD, **extra})


def _users(app: Flask) -> list[User]:
    with app.app_context():
        users = list(db.session.scalars(db.select(User).order_by(User.id)))
        db.session.expunge_all()
        return users


def _verified_user(app: Flask, email: str = "ada@example.org") -> int:
    with app.app_context():
        user = User(
            email=email,
            password_hash=get_state().passwords.hash(PASSWORD),
            email_verified_at=datetime.now(UTC),
        )
        db.session.add(user)
        db.session.commit()
        return int(user.id)


def _login(client: Any, email: str = "ada@example.org", password: str = PASSWORD, **extra: Any) -> Any:
    return client.post("/api/users/login", json={"email": email, "password": password, **extra})


def _logged_in(client: Any) -> bool:
    return bool(client.get("/api/users/me").status_code == 200)


# before_signup: sees the data, may change it, may veto.


def test_before_signup_sees_the_checked_data_and_may_change_it(app: Flask, client: Any, registration: Any) -> None:
    seen = []

    @registration.before_signup
    def lower_case_username(data: Any) -> None:
        seen.append(dict(data))
        data["username"] = data["username"].lower()

    assert _signup(client, "Ada@Example.ORG", username="Ada_L").status_code == 202
    assert seen == [{"email": "ada@example.org", "password": PASSWORD, "username": "Ada_L"}]
    assert [u.username for u in _users(app)] == ["ada_l"]


@pytest.mark.parametrize("enumeration", [True, False])
def test_before_signup_veto_is_a_422_naming_the_field(
    app: Flask, client: Any, registration: Any, mailbox: Mailbox, enumeration: Any
) -> None:
    app.config["REGISTRATION_PREVENT_ENUMERATION"] = enumeration

    @registration.before_signup
    def refuse(data: Any) -> None:
        raise ValidationError("That username is taken.", field="username", field_code="uniqueness")

    r = _signup(client, "ada@example.org", username="ada")
    assert r.status_code == 422
    error = r.json["error"]
    assert (error["statusCode"], error["name"], error["code"]) == (422, "ValidationError", "VALIDATION_ERROR")
    assert error["details"]["codes"] == {"username": ["uniqueness"]}
    assert error["details"]["messages"] == {"username": ["That username is taken."]}
    assert _users(app) == []
    assert mailbox.messages == []


@pytest.mark.parametrize("field", ["email", "username"])
def test_before_signup_veto_re_renders_the_html_form(
    app: Flask, client: Any, registration: Any, mailbox: Mailbox, field: Any
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False

    @registration.before_signup
    def refuse(data: Any) -> None:
        raise ValidationError("Sign ups are closed today.", field=field, field_code="closed")

    r = client.post("/signup", data={"email": "ada@example.org", "password": PASSWORD, "password_confirm": PASSWORD})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "Sign ups are closed today." in page
    assert 'name="email"' in page and 'value="ada@example.org"' in page
    assert "Check your email" not in page
    assert _users(app) == []
    assert mailbox.messages == []


# The cases hooks exist for.


def test_username_availability_checked_in_a_hook(app: Flask, client: Any, registration: Any, mailbox: Mailbox) -> None:
    @registration.before_signup
    def lower_case(data: Any) -> None:
        if isinstance(data.get("username"), str):
            data["username"] = data["username"].lower()

    @registration.before_signup
    def username_available(data: Any) -> None:
        taken = db.session.scalar(db.select(User.id).filter_by(username=data.get("username")))
        if taken is not None:
            raise ValidationError("That username is taken.", field="username", field_code="uniqueness")

    assert _signup(client, "one@example.org", username="Ada").status_code == 202
    r = _signup(client, "two@example.org", username="ADA")
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"username": ["uniqueness"]}
    assert [(u.email, u.username) for u in _users(app)] == [("one@example.org", "ada")]
    assert [m["To"] for m in mailbox.wait_for(1)] == ["one@example.org"]


def test_email_domain_allowed_by_a_hook(app: Flask, client: Any, registration: Any, mailbox: Mailbox) -> None:
    @registration.before_signup
    def only_example_org(data: Any) -> None:
        if not data["email"].endswith("@example.org"):
            raise ValidationError("Use your example.org address.", field="email", field_code="domain")

    for refused in ("ada@example.com", "ada@example.org.evil.com", "ada@sub.example.org"):
        r = _signup(client, refused)
        assert r.status_code == 422, refused
        assert r.json["error"]["details"]["codes"] == {"email": ["domain"]}
    assert _users(app) == [] and mailbox.messages == []

    assert _signup(client, "Ada@EXAMPLE.org").status_code == 202
    assert [u.email for u in _users(app)] == ["ada@example.org"]


@pytest.mark.app_config(REGISTRATION_SIGNUP_FIELDS=["username", "inviteCode"], REGISTRATION_PREVENT_ENUMERATION=False)
def test_invite_code_reaches_the_hooks_but_is_not_stored(app: Flask, client: Any, registration: Any) -> None:
    after = []

    @registration.before_signup
    def needs_invite(data: Any) -> None:
        if data.get("inviteCode") != "OPEN-SESAME":
            raise ValidationError("is not a valid invite code.", field="inviteCode", field_code="invalid")

    @registration.after_signup
    def remember(user: Any, data: Any) -> None:
        after.append(data)

    for body in ({}, {"inviteCode": "guess"}, {"inviteCode": None}):
        r = _signup(client, "ada@example.org", **body)
        assert r.status_code == 422
        assert r.json["error"]["details"]["codes"] == {"inviteCode": ["invalid"]}
    assert _users(app) == []

    r = _signup(client, "ada@example.org", username="ada", inviteCode="OPEN-SESAME")
    assert r.status_code == 201
    assert "inviteCode" not in r.json
    assert after == [{"email": "ada@example.org", "username": "ada", "inviteCode": "OPEN-SESAME"}]
    assert [(u.email, u.username) for u in _users(app)] == [("ada@example.org", "ada")]


# Order, registration, and after_* after the commit.


def test_decorators_return_the_function_unchanged(registration: Any) -> None:
    def hook(*args: Any) -> None:
        pass

    for name in ("before_signup", "after_signup", "before_confirm", "after_confirm", "before_login", "after_login"):
        assert getattr(registration, name)(hook) is hook
        assert registration.hooks[name] == [hook]


def test_hooks_run_in_registration_order(client: Any, registration: Any) -> None:
    calls = []
    for name in ("first", "second", "third"):
        registration.before_signup(lambda data, name=name: calls.append(f"before {name}"))
    for name in ("first", "second"):
        registration.after_signup(lambda user, data, name=name: calls.append(f"after {name}"))

    assert _signup(client, "ada@example.org").status_code == 202
    assert calls == ["before first", "before second", "before third", "after first", "after second"]


def test_a_veto_stops_the_hooks_after_it(app: Flask, client: Any, registration: Any) -> None:
    calls = []
    registration.before_signup(lambda data: calls.append("first"))

    @registration.before_signup
    def veto(data: Any) -> None:
        raise ValidationError("No.", field="email", field_code="closed")

    registration.before_signup(lambda data: calls.append("third"))
    registration.after_signup(lambda user, data: calls.append("after"))
    assert _signup(client, "ada@example.org").status_code == 422
    assert calls == ["first"]


def test_after_signup_runs_after_the_commit_without_the_password(app: Flask, client: Any, registration: Any) -> None:
    seen = []

    @registration.after_signup
    def look(user: Any, data: Any) -> None:
        users = User.__table__
        with db.engine.connect() as other:  # a connection of its own sees only committed rows
            row_id = other.execute(db.select(users.c.id).where(users.c.email == user.email)).scalar_one()
        seen.append((user.id, row_id, dict(data)))

    assert _signup(client, "ada@example.org", username="ada").status_code == 202
    ((user_id, row_id, data),) = seen
    assert user_id is not None and user_id == row_id
    assert data == {"email": "ada@example.org", "username": "ada"}


# Confirm and login hooks.


def test_confirm_hooks_run_once_even_when_the_link_is_followed_twice(
    app: Flask, client: Any, registration: Any, mailbox: Mailbox
) -> None:
    calls = []
    registration.before_confirm(lambda user: calls.append(("before", user.email, user.email_verified)))
    registration.after_confirm(lambda user: calls.append(("after", user.email, user.email_verified)))

    _signup(client, "ada@example.org")
    link = _path(mailbox.link(mailbox.wait_for(1)[0]))
    assert press_confirm(client, link, PASSWORD).status_code == 200
    assert client.get(link).status_code == 200  # opening it again changes nothing
    assert confirm_by_api(app.test_client(), link, PASSWORD).status_code == 204
    assert calls == [("before", "ada@example.org", False), ("after", "ada@example.org", True)]


def _confirm_refused(registration: Any, calls: Any) -> None:
    registration.after_confirm(lambda user: calls.append("after"))

    @registration.before_confirm
    def refuse(user: Any) -> None:
        raise RegistrationError("Verification is paused.", code="VERIFICATION_PAUSED", status=403)


def test_before_confirm_veto_in_the_api_leaves_the_address_unverified(
    app: Flask, client: Any, registration: Any, mailbox: Mailbox
) -> None:
    calls = []
    _confirm_refused(registration, calls)
    _signup(client, "ada@example.org")
    link = _path(mailbox.link(mailbox.wait_for(1)[0]))
    r = confirm_by_api(client, link, PASSWORD)
    assert r.status_code == 403
    assert r.json["error"]["code"] == "VERIFICATION_PAUSED"
    assert calls == []
    assert [u.email_verified for u in _users(app)] == [False]


def test_before_confirm_veto_on_the_html_page_shows_the_message(
    app: Flask, client: Any, registration: Any, mailbox: Mailbox
) -> None:
    calls = []
    _confirm_refused(registration, calls)
    _signup(client, "ada@example.org")
    r = press_confirm(client, _path(mailbox.link(mailbox.wait_for(1)[0])), PASSWORD)
    assert r.status_code == 403
    assert "Verification is paused." in r.get_data(as_text=True)
    assert calls == []
    assert [u.email_verified for u in _users(app)] == [False]


def test_login_hooks_see_the_user_and_data_without_password(app: Flask, client: Any, registration: Any) -> None:
    user_id = _verified_user(app)
    calls = []
    registration.before_login(lambda user, data: calls.append(("before", user.id, data)))
    registration.after_login(lambda user: calls.append(("after", user.id)))

    assert _login(client, "Ada@Example.org", remember=True).status_code == 200
    assert calls == [("before", user_id, {"email": "Ada@Example.org", "remember": True}), ("after", user_id)]


def test_login_hooks_do_not_run_for_a_wrong_password(app: Flask, client: Any, registration: Any) -> None:
    _verified_user(app)
    calls = []
    registration.before_login(lambda user, data: calls.append("before"))
    registration.after_login(lambda user: calls.append("after"))
    assert _login(client, password="wrong password").status_code == 401
    assert calls == []


@pytest.mark.parametrize(
    "error, status, code",
    [
        (LoginFailed(), 401, "LOGIN_FAILED"),
        (RegistrationError("This account is locked.", code="ACCOUNT_LOCKED", status=403), 403, "ACCOUNT_LOCKED"),
    ],
    ids=["login-failed", "account-locked"],
)
def test_before_login_veto_starts_no_session(
    app: Flask, client: Any, registration: Any, error: Any, status: Any, code: Any
) -> None:
    _verified_user(app)
    after = []

    @registration.before_login
    def refuse(user: Any, data: Any) -> None:
        raise error

    registration.after_login(lambda user: after.append(user))
    with signals.user_logged_in.connected_to(lambda sender, **kw: after.append(kw), app):
        r = _login(client)
    assert r.status_code == status
    assert r.json["error"]["code"] == code
    assert not _logged_in(client)
    assert after == []


def test_before_login_veto_on_the_html_page_shows_the_message(app: Flask, client: Any, registration: Any) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    _verified_user(app)

    @registration.before_login
    def refuse(user: Any, data: Any) -> None:
        raise RegistrationError("This account is locked.", code="ACCOUNT_LOCKED", status=403)

    r = client.post("/login", data={"email": "ada@example.org", "password": PASSWORD, "next": "/inside"})
    assert r.status_code == 403
    assert "This account is locked." in r.get_data(as_text=True)
    assert not _logged_in(client)


# Signals: sent with the app as sender and the documented keyword arguments.


@contextmanager
def _recording(signal: Any, app: Flask) -> Iterator[list[dict]]:
    """The keyword arguments of every send of ``signal`` while inside; each must name ``app``."""
    calls: list[dict] = []
    senders: list[object] = []

    def receiver(sender: Any, **kwargs: Any) -> Any:
        senders.append(sender)
        calls.append(kwargs)
        return False  # ignored: signals only observe

    with signal.connected_to(receiver):  # any sender, so a wrong one is seen
        yield calls
    assert all(sender is app for sender in senders), senders


def test_user_registered_and_verification_sent(app: Flask, client: Any, mailbox: Mailbox) -> None:
    with _recording(signals.user_registered, app) as registered, _recording(signals.verification_sent, app) as sent:
        assert _signup(client, "ada@example.org", username="ada").status_code == 202
    (reg,) = registered
    assert set(reg) == {"user", "data"}
    assert reg["user"].email == "ada@example.org" and reg["user"].id is not None
    assert reg["data"] == {"email": "ada@example.org", "username": "ada"}
    (sent_kw,) = sent
    assert set(sent_kw) == {"user", "link"}
    assert sent_kw["user"].email == "ada@example.org"
    assert sent_kw["link"] == mailbox.link(mailbox.wait_for(1)[0])
    assert len(_users(app)) == 1  # a receiver's return value changed nothing


def test_signup_existing_email_is_signalled_instead_of_user_registered(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    _signup(client, "ada@example.org")
    with (
        _recording(signals.signup_existing_email, app) as existing,
        _recording(signals.user_registered, app) as registered,
        _recording(signals.verification_sent, app) as sent,
    ):
        assert _signup(client, "ADA@example.org").status_code == 202
    assert [set(kw) for kw in existing] == [{"user"}]
    assert existing[0]["user"].email == "ada@example.org"
    assert registered == [] and sent == []


def test_user_verified_is_sent_once(app: Flask, client: Any, mailbox: Mailbox) -> None:
    _signup(client, "ada@example.org")
    link = _path(mailbox.link(mailbox.wait_for(1)[0]))
    with _recording(signals.user_verified, app) as verified:
        assert press_confirm(client, link, PASSWORD).status_code == 200
        assert confirm_by_api(app.test_client(), link, PASSWORD).status_code == 204
    assert [set(kw) for kw in verified] == [{"user"}]
    assert verified[0]["user"].email == "ada@example.org" and verified[0]["user"].email_verified


@pytest.mark.app_config(MAIL_PORT=1)
def test_mail_failed_is_sent_when_the_mail_server_is_down(app: Flask, client: Any) -> None:
    with _recording(signals.mail_failed, app) as failed, _recording(signals.verification_sent, app) as sent:
        assert _signup(client, "ada@example.org").status_code == 202
    assert [(kw["user"].email, kw["kind"]) for kw in failed] == [("ada@example.org", "verify")]
    assert isinstance(failed[0]["error"], Exception)
    assert sent == []


def test_login_failed_names_the_address_and_the_code(app: Flask, client: Any) -> None:
    _verified_user(app)
    _signup(client, "new@example.org")
    with _recording(signals.login_failed, app) as failed, _recording(signals.user_logged_in, app) as logged_in:
        _login(client, "ADA@example.org", "wrong password")
        _login(client, "nobody@example.org")
        _login(client, "new@example.org")
    assert failed == [
        {"email": "ada@example.org", "code": "LOGIN_FAILED"},
        {"email": "nobody@example.org", "code": "LOGIN_FAILED"},
        {"email": "new@example.org", "code": "LOGIN_FAILED_EMAIL_NOT_VERIFIED"},
    ]
    assert logged_in == []


def test_user_logged_in_and_logged_out(app: Flask, client: Any) -> None:
    user_id = _verified_user(app)
    with _recording(signals.user_logged_in, app) as logged_in, _recording(signals.user_logged_out, app) as out:
        assert _login(client).status_code == 200
        token = client.get("/api/users/csrf-token").json["csrfToken"]
        assert client.post("/api/users/logout", headers={"X-CSRFToken": token}).status_code == 204
    assert [(set(kw), kw["user"].id) for kw in logged_in] == [({"user"}, user_id)]
    assert [(set(kw), kw["user"].id) for kw in out] == [({"user"}, user_id)]
    assert not _logged_in(client)
