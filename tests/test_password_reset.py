"""Password reset over the real SMTP server: ask, receive the link, set a new password.

The link works once, for one user, for ``REGISTRATION_RESET_WITHIN``, and only while the
account is as it was when the link was made; using it ends every session and token.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.helpers import add_user, can_log_in, hidden, link_params, made_ago
from tests.models import AccessToken, User, db
from tests.smtp import Mailbox

PASSWORD = "correct horse"
NEW = "battery staple"


def token_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def path_of(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def reset_link(app: Flask, mailbox: Mailbox, email: str = "ada@example.com") -> str:
    """Ask for a reset of ``email`` and return the link the email carries."""
    before = len(mailbox.messages)
    r = app.test_client().post("/api/users/reset", json={"email": email})
    assert r.status_code == 204
    msg = mailbox.wait_for(before + 1)[-1]
    assert msg["To"] == email and msg["Subject"] == "Reset your password"
    return mailbox.link(msg, "/reset-password")


def reset(app: Flask, token: str, password: str = NEW) -> Any:
    """Use a reset token through the JSON API, from a client without cookies."""
    return app.test_client().post("/api/users/reset-password", json={"token": token, "newPassword": password})


def access_token(app: Flask, email: str = "ada@example.com", password: str = PASSWORD) -> str:
    r = app.test_client().post("/api/users/login", json={"email": email, "password": password})
    assert r.status_code == 200
    return str(r.json["id"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(r: Any, code: str = "INVALID_TOKEN") -> None:
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.json["error"]["code"] == code


def test_request_answers_alike_for_existing_unknown_and_case_variant_addresses(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    answers = [client.post("/api/users/reset", json={"email": e}) for e in ("nobody@example.com", "ada@example.com")]
    (first,) = mailbox.wait_for(1)
    answers.append(client.post("/api/users/reset", json={"email": "ADA@Example.COM"}))
    second = mailbox.wait_for(2)[1]
    for r in answers:
        assert r.status_code == 204 and r.data == b""
    assert [m["To"] for m in mailbox.messages] == ["ada@example.com", "ada@example.com"]
    for msg in (first, second):
        assert mailbox.link(msg, "/reset-password").startswith("http://localhost/reset-password?token=")


def test_unknown_address_gets_no_email(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    r = client.post("/api/users/reset", json={"email": "nobody@example.com"})
    assert r.status_code == 204
    # Mail is sent inside the request: a message for this address would be here already.
    assert mailbox.messages == []


@pytest.mark.app_config(REGISTRATION_PREVENT_ENUMERATION=False)
def test_unknown_address_is_a_404_when_enumeration_is_allowed(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    r = client.post("/api/users/reset", json={"email": "nobody@example.com"})
    assert r.status_code == 404 and r.json["error"]["code"] == "EMAIL_NOT_FOUND"
    assert mailbox.messages == []


def test_reset_through_json_sets_the_new_password(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    r = reset(app, token_of(reset_link(app, mailbox)))
    assert r.status_code == 204 and r.data == b""
    assert can_log_in(app, NEW)
    assert not can_log_in(app, PASSWORD)


def test_reset_page_get_shows_the_form_and_changes_nothing_then_post_changes(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    add_user(app)
    link = reset_link(app, mailbox)
    fields = hidden(client, path_of(link))
    assert fields["token"] == token_of(link)
    assert can_log_in(app, PASSWORD)  # opening the link (a mail scanner) changed nothing

    r = client.post("/reset-password", data={**fields, "password": NEW, "password_confirm": NEW})
    assert r.status_code == 200 and b"Password changed" in r.data
    assert can_log_in(app, NEW) and not can_log_in(app, PASSWORD)


def test_reset_page_post_without_the_csrf_token_changes_nothing(app: Flask, client: Any, mailbox: Mailbox) -> None:
    add_user(app)
    fields = hidden(client, path_of(reset_link(app, mailbox)))
    del fields["csrf_token"]
    r = client.post("/reset-password", data={**fields, "password": NEW, "password_confirm": NEW})
    assert r.status_code == 422
    assert can_log_in(app, PASSWORD) and not can_log_in(app, NEW)


def test_token_works_only_once(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    token = token_of(reset_link(app, mailbox))
    assert reset(app, token).status_code == 204
    assert_refused(reset(app, token, "a third password"))
    assert can_log_in(app, NEW)


def test_token_older_than_reset_within_is_expired(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    # The only way to age a link without waiting an hour: stamp it an hour and a minute ago.
    with made_ago(3660):
        token = token_of(reset_link(app, mailbox))
    assert_refused(reset(app, token), "TOKEN_EXPIRED")
    assert can_log_in(app, PASSWORD)


def test_token_a_little_younger_than_reset_within_works(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    with made_ago(3540):  # one minute to spare: shows the limit above is the hour, not less
        token = token_of(reset_link(app, mailbox))
    assert reset(app, token).status_code == 204


TAMPERINGS = {
    "truncated": lambda t: t[:-1],
    "signature-changed": lambda t: t[:-2] + ("A" if t[-2] != "A" else "B") + t[-1],
    "appended": lambda t: t + "A",
    "garbage": lambda t: "x" * 40,
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
def test_tampered_token_is_refused(app: Flask, mailbox: Mailbox, tamper: Any) -> None:
    add_user(app)
    token = token_of(reset_link(app, mailbox))
    assert_refused(reset(app, tamper(token)))
    assert can_log_in(app, PASSWORD)


def test_a_users_token_resets_only_that_user(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    add_user(app, "grace@example.com")
    ada_token = token_of(reset_link(app, mailbox))
    grace_token = token_of(reset_link(app, mailbox, "grace@example.com"))
    assert reset(app, ada_token).status_code == 204
    assert can_log_in(app, PASSWORD, "grace@example.com")
    assert not can_log_in(app, NEW, "grace@example.com")
    # Grace's link is her own, untouched by Ada's reset; Ada's used link stays dead.
    assert reset(app, grace_token, "grace's new one").status_code == 204
    assert can_log_in(app, "grace's new one", "grace@example.com") and can_log_in(app, NEW)


def test_link_is_refused_after_the_password_was_changed_otherwise(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    token = token_of(reset_link(app, mailbox))
    r = app.test_client().post(
        "/api/users/change-password",
        json={"oldPassword": PASSWORD, "newPassword": "changed while logged in"},
        headers=bearer(access_token(app)),
    )
    assert r.status_code == 204
    assert_refused(reset(app, token))
    assert can_log_in(app, "changed while logged in")


def test_link_is_refused_after_the_email_changed(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    token = token_of(reset_link(app, mailbox))
    api = app.test_client()
    r = api.post(
        "/api/users/change-email",
        json={"newEmail": "ada@new.example", "password": PASSWORD},
        headers=bearer(access_token(app)),
    )
    assert r.status_code == 202
    confirm = next(m for m in mailbox.wait_for(3) if m["To"] == "ada@new.example")
    link = mailbox.link(confirm, "/confirm-email")
    assert api.post("/api/users/confirm-email", json=link_params(link)).status_code == 204
    # The link went to the old address: whoever still reads that mailbox cannot use it.
    assert_refused(reset(app, token))
    assert can_log_in(app, PASSWORD, "ada@new.example")


def test_verification_token_is_not_a_reset_token_and_back(app: Flask, client: Any, mailbox: Mailbox) -> None:
    r = client.post("/api/users", json={"email": "new@example.com", "password": PASSWORD})
    assert r.status_code == 202
    verify_link = mailbox.link(mailbox.wait_for(1)[0], "/confirm")
    verify_query = parse_qs(urlsplit(verify_link).query)
    assert_refused(reset(app, verify_query["token"][0]))
    assert not can_log_in(app, NEW, "new@example.com")

    reset_token = token_of(reset_link(app, mailbox, "new@example.com"))
    r = client.post(
        "/api/users/confirm", json={"uid": verify_query["uid"][0], "token": reset_token, "password": PASSWORD}
    )
    assert_refused(r)
    with app.app_context():
        assert not db.session.scalars(db.select(User).filter_by(email="new@example.com")).one().email_verified


def test_reset_ends_every_session_and_access_token(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    session_client, remembered = app.test_client(), app.test_client()
    login = {"email": "ada@example.com", "password": PASSWORD}
    assert session_client.post("/api/users/login", json=login).status_code == 200
    assert remembered.post("/api/users/login", json={**login, "remember": True}).status_code == 200
    remembered.delete_cookie("session")  # a browser restarted: only the remember cookie is left
    tokens = [access_token(app), access_token(app)]
    for c in (session_client, remembered):
        assert c.get("/api/users/me").status_code == 200
    assert app.test_client().get("/api/users/me", headers=bearer(tokens[0])).status_code == 200

    assert reset(app, token_of(reset_link(app, mailbox))).status_code == 204

    for c in (session_client, remembered):
        r = c.get("/api/users/me")
        assert r.status_code == 401 and r.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    for t in tokens:
        assert app.test_client().get("/api/users/me", headers=bearer(t)).status_code == 401
    with app.app_context():
        assert db.session.scalars(db.select(AccessToken)).all() == []


def test_reset_voids_a_change_of_address_asked_for_by_an_ended_session(app: Flask, mailbox: Mailbox) -> None:
    # A reset is how an owner throws an intruder out; a change of address the intruder
    # asked for (and whose link reaches the intruder's mailbox) must end with the sessions.
    add_user(app)
    r = app.test_client().post(
        "/api/users/change-email",
        json={"newEmail": "intruder@evil.example", "password": PASSWORD},
        headers=bearer(access_token(app)),
    )
    assert r.status_code == 202
    confirm = next(m for m in mailbox.wait_for(2) if m["To"] == "intruder@evil.example")
    mailbox.clear()
    assert reset(app, token_of(reset_link(app, mailbox))).status_code == 204
    r = app.test_client().post("/api/users/confirm-email", json=link_params(mailbox.link(confirm, "/confirm-email")))
    assert_refused(r)
    assert can_log_in(app, NEW, "ada@example.com")


def test_reset_sends_the_password_changed_notice(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    assert reset(app, token_of(reset_link(app, mailbox))).status_code == 204
    notice = mailbox.wait_for(2)[1]
    assert notice["To"] == "ada@example.com"
    assert notice["Subject"] == "Your password was changed"
    assert NEW not in notice.as_string()


def test_reset_marks_an_unverified_address_verified(app: Flask, mailbox: Mailbox) -> None:
    add_user(app, verified=False)
    r = app.test_client().post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.json["error"]["code"] == "LOGIN_FAILED"
    (fresh,) = mailbox.wait_for(1)  # the right password of an unverified account: a new link
    assert fresh["Subject"] == "Confirm your email address"
    mailbox.clear()
    assert reset(app, token_of(reset_link(app, mailbox))).status_code == 204
    r = app.test_client().post("/api/users/login", json={"email": "ada@example.com", "password": NEW})
    assert r.status_code == 200 and r.json["user"]["emailVerified"] is True


def test_too_short_new_password_is_a_422_and_keeps_the_link_usable(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    token = token_of(reset_link(app, mailbox))
    r = reset(app, token, "short")
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"newPassword": ["length"]}
    assert can_log_in(app, PASSWORD)
    assert reset(app, token).status_code == 204


def test_one_link_used_twice_at_the_same_instant_changes_the_password_once(app: Flask, mailbox: Mailbox) -> None:
    add_user(app)
    token = token_of(reset_link(app, mailbox))
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def use(password: str) -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            r = client.post("/api/users/reset-password", json={"token": token, "newPassword": password})
            results[password] = r.status_code
        except BaseException as exc:  # a 5xx propagates here under TESTING
            errors.append(exc)

    threads = [threading.Thread(target=use, args=(p,)) for p in ("first new password", "second new password")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results.values()) == [204, 400]
    winner = next(p for p, s in results.items() if s == 204)
    loser = next(p for p, s in results.items() if s == 400)
    assert can_log_in(app, winner) and not can_log_in(app, loser) and not can_log_in(app, PASSWORD)
    notices = [m for m in mailbox.wait_for(2) if m["Subject"] == "Your password was changed"]
    assert len(notices) == 1
