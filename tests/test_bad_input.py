"""Bad input to the JSON API: a clear 4xx with a stable code in LoopBack's shape, never a
5xx, and nothing written (no user row, no email)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.models import User, db
from tests.smtp import Mailbox

SIGNUP, LOGIN, VERIFY = "/api/users", "/api/users/login", "/api/users/verify"
PASSWORD = "correct horse battery"
#: A well-formed body for each endpoint, which each test spoils in one way.
GOOD = {
    SIGNUP: {"email": "a@x.com", "password": PASSWORD},
    LOGIN: {"email": "a@x.com", "password": PASSWORD},
    VERIFY: {"email": "a@x.com"},
}


def _user_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(db.select(db.func.count()).select_from(User)))


def _nothing_written(app: Flask, mailbox: Mailbox) -> None:
    assert _user_count(app) == 0
    assert mailbox.messages == []


def _raw(client: Any, path: str, body: str | bytes, content_type: str = "application/json") -> Any:
    return client.post(path, data=body, content_type=content_type)


def _object(**raw: str) -> str:
    """A JSON object written by hand: each value is a JSON literal, sent as is (e.g. "\\ud800")."""
    return "{" + ", ".join(f'"{name}": {value}' for name, value in raw.items()) + "}"


def _error(r: Any, status: int, code: str) -> dict:
    """The LoopBack error body of ``r``, checked for its status and code."""
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.is_json
    error = r.json["error"]
    assert error["statusCode"] == status
    assert error["code"] == code
    assert isinstance(error["name"], str) and isinstance(error["message"], str) and error["message"]
    return error


def _field_codes(r: Any) -> dict[str, list[str]]:
    error = _error(r, 422, "VALIDATION_ERROR")
    assert error["name"] == "ValidationError"
    assert set(error["details"]["messages"]) == set(error["details"]["codes"])
    return error["details"]["codes"]


# The body as a whole.


@pytest.mark.parametrize("path", [SIGNUP, LOGIN, VERIFY])
@pytest.mark.parametrize(
    "body",
    [
        '{"email": "a@x.com",',
        "{'email': 'a@x.com'}",
        "email=a@x.com",
        '{"email": "a@x.com"} trailing',
        b"\xff\xfe{\x00}",
        "[" * 20000,
        "[" * 20000 + "]" * 20000,
        '{"a":' * 10000 + "1" + "}" * 10000,
        '{"email": "a@x.com", "password": ' + "9" * 5000 + "}",
    ],
    ids=[
        "truncated",
        "single-quotes",
        "form-syntax",
        "trailing",
        "not-utf8",
        "open-brackets",
        "nested-arrays",
        "nested-objects",
        "huge-int",
    ],
)
def test_malformed_json_is_400_malformed_json(app: Flask, client: Any, mailbox: Mailbox, path: Any, body: Any) -> None:
    _error(_raw(client, path, body), 400, "MALFORMED_JSON")
    _nothing_written(app, mailbox)


@pytest.mark.parametrize("path", [SIGNUP, LOGIN, VERIFY])
@pytest.mark.parametrize("body", ["[]", '[{"email": "a@x.com"}]', '"a@x.com"', "5", "null", "true"])
def test_a_body_that_is_not_an_object_is_422_invalid_body(
    app: Flask, client: Any, mailbox: Mailbox, path: Any, body: Any
) -> None:
    # One code, one status on every endpoint, so a client can rely on either.
    error = _error(_raw(client, path, body), 422, "INVALID_BODY")
    assert error["name"] == "ValidationError"
    _nothing_written(app, mailbox)


@pytest.mark.parametrize("path", [SIGNUP, LOGIN])
def test_an_empty_body_is_missing_email_and_password(app: Flask, client: Any, mailbox: Mailbox, path: Any) -> None:
    for r in (client.post(path), _raw(client, path, "{}")):
        assert _field_codes(r) == {"email": ["presence"], "password": ["presence"]}
    _nothing_written(app, mailbox)


def test_an_empty_body_to_verify_is_missing_email(app: Flask, client: Any, mailbox: Mailbox) -> None:
    for r in (client.post(VERIFY), _raw(client, VERIFY, "{}")):
        assert _field_codes(r) == {"email": ["presence"]}
    _nothing_written(app, mailbox)


@pytest.mark.parametrize("path", [SIGNUP, LOGIN, VERIFY])
def test_a_body_over_the_size_limit_is_413(app: Flask, client: Any, mailbox: Mailbox, path: Any) -> None:
    limit = app.config["REGISTRATION_MAX_BODY_SIZE"]
    body = json.dumps({**GOOD[path], "pad": "x" * limit})
    _error(_raw(client, path, body), 413, "PAYLOAD_TOO_LARGE")
    _nothing_written(app, mailbox)


@pytest.mark.parametrize("path", [SIGNUP, LOGIN, VERIFY])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_that_is_not_json_is_415(
    app: Flask, client: Any, mailbox: Mailbox, path: Any, content_type: Any
) -> None:
    _error(_raw(client, path, json.dumps(GOOD[path]), content_type), 415, "UNSUPPORTED_MEDIA_TYPE")
    _nothing_written(app, mailbox)


# Fields: missing, of the wrong type, unknown.


@pytest.mark.parametrize("path", [SIGNUP, LOGIN])
@pytest.mark.parametrize("missing", ["email", "password"])
@pytest.mark.parametrize("how", ["absent", "null", "empty"])
def test_a_missing_field_is_presence(
    app: Flask, client: Any, mailbox: Mailbox, path: Any, missing: Any, how: Any
) -> None:
    body = dict(GOOD[path])
    if how == "absent":
        del body[missing]
    else:
        body[missing] = None if how == "null" else ""
    assert _field_codes(client.post(path, json=body)) == {missing: ["presence"]}
    _nothing_written(app, mailbox)


@pytest.mark.parametrize(
    "path, field, value",
    [
        (SIGNUP, "email", 5),
        (SIGNUP, "email", ["a@x.com"]),
        (SIGNUP, "password", []),
        (SIGNUP, "password", 12345678),
        (SIGNUP, "username", {}),
        (SIGNUP, "username", ["ada"]),
        (LOGIN, "email", 5),
        (LOGIN, "email", {"$ne": None}),
        (LOGIN, "password", []),
        (LOGIN, "password", True),
        (LOGIN, "remember", "yes"),
        (VERIFY, "email", 5),
        (VERIFY, "email", ["a@x.com"]),
    ],
)
def test_a_field_of_the_wrong_type_is_type(
    app: Flask, client: Any, mailbox: Mailbox, path: Any, field: Any, value: Any
) -> None:
    body = {**GOOD[path], field: value}
    assert _field_codes(client.post(path, json=body)) == {field: ["type"]}
    _nothing_written(app, mailbox)


@pytest.mark.parametrize("path", [SIGNUP, LOGIN, VERIFY])
@pytest.mark.parametrize("field", ["isAdmin", "x" * 200])
def test_an_unknown_field_is_refused(app: Flask, client: Any, mailbox: Mailbox, path: Any, field: Any) -> None:
    body = {**GOOD[path], field: True}
    codes = _field_codes(client.post(path, json=body))
    assert list(codes.values()) == [["unknown"]]
    assert list(codes)[0] == field[:64]
    _nothing_written(app, mailbox)


# Passwords and addresses nobody should send.


@pytest.mark.parametrize(
    "password, code",
    [
        ('"short12"', "length"),
        (json.dumps("p" * 1025), "length"),
        ('"long enough \\ud800 but a lone surrogate"', "type"),
        ('"long enough \\u0000 but a NUL"', "type"),
    ],
    ids=["7-chars", "over-max", "lone-surrogate", "nul"],
)
def test_a_bad_password_is_refused_at_signup(
    app: Flask, client: Any, mailbox: Mailbox, password: Any, code: Any
) -> None:
    assert app.config["REGISTRATION_PASSWORD_MAX_LENGTH"] == 1024
    r = _raw(client, SIGNUP, _object(email='"a@x.com"', password=password))
    assert _field_codes(r) == {"password": [code]}
    _nothing_written(app, mailbox)


ABSURD_EMAILS = [
    ('"no-at-sign"', "format"),
    (json.dumps("a" * 294 + "@x.com"), "length"),
    ('"a\\u0000@x.com"', "type"),
    ('"a\\ud800@x.com"', "type"),
    ('"a@x.com\\nBcc: b@y.com"', "format"),
    ('"a@x.com\\r\\nSubject: hi"', "format"),
    ('"a@x.com, b@y.com"', "format"),
]
ABSURD_IDS = ["no-at", "300-chars", "nul", "lone-surrogate", "newline-bcc", "crlf-header", "two-addresses"]


@pytest.mark.parametrize("path", [SIGNUP, VERIFY])
@pytest.mark.parametrize("email, code", ABSURD_EMAILS, ids=ABSURD_IDS)
def test_an_absurd_email_is_refused(
    app: Flask, client: Any, mailbox: Mailbox, path: Any, email: Any, code: Any
) -> None:
    extra = {"password": json.dumps(PASSWORD)} if path == SIGNUP else {}
    r = _raw(client, path, _object(email=email, **extra))
    assert _field_codes(r) == {"email": [code]}
    _nothing_written(app, mailbox)


@pytest.mark.parametrize("email, code", ABSURD_EMAILS, ids=ABSURD_IDS)
def test_an_absurd_email_at_login_is_refused(app: Flask, client: Any, mailbox: Mailbox, email: Any, code: Any) -> None:
    r = _raw(client, LOGIN, _object(email=email, password=json.dumps(PASSWORD)))
    if code == "type":
        assert _field_codes(r) == {"email": ["type"]}
    else:  # text, but no account can have it: the same answer as any wrong address
        _error(r, 401, "LOGIN_FAILED")
    _nothing_written(app, mailbox)


# Login failures look alike.


def test_wrong_password_and_unknown_user_get_identical_401s(app: Flask, client: Any, mailbox: Mailbox) -> None:
    assert client.post(SIGNUP, json={"email": "known@x.com", "password": PASSWORD}).status_code == 202
    mailbox.wait_for(1)
    answers = [
        client.post(LOGIN, json={"email": "known@x.com", "password": "wrong password"}),
        client.post(LOGIN, json={"email": "KNOWN@x.com", "password": "wrong password"}),
        client.post(LOGIN, json={"email": "nobody@x.com", "password": "wrong password"}),
        client.post(LOGIN, json={"email": "nobody@x.com", "password": PASSWORD}),
        client.post(LOGIN, json={"email": "known@x.com", "password": PASSWORD + "x" * 1024}),
    ]
    error = _error(answers[0], 401, "LOGIN_FAILED")
    assert error["name"] == "Error"
    assert {r.get_data(as_text=True) for r in answers} == {answers[0].get_data(as_text=True)}
    assert all(r.status_code == 401 for r in answers)
    assert client.get("/api/users/me").status_code == 401
    assert _user_count(app) == 1


# Confirm links that were never sent by us.


CONFIRM_QUERIES = {
    "nothing": "",
    "no-token": "?uid=1",
    "no-uid": "?token=abc",
    "both-empty": "?uid=&token=",
    "garbage": "?uid=1&token=garbage",
    "dotted-garbage": "?uid=abc&token=a.b.c",
    "nul": "?uid=%00&token=%00",
    "bad-utf8": "?uid=%ff&token=%fe%ff",
    "long-uid": "?uid=" + "9" * 5000 + "&token=abc",
    "long-token": "?uid=1&token=" + "A" * 5000,
    "forged": "?uid=1&token=WyIxIiwiMDAwMDAwMDAwMDAwMDAwMCJd.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb",
}


@pytest.mark.parametrize("query", list(CONFIRM_QUERIES.values()), ids=list(CONFIRM_QUERIES))
@pytest.mark.app_config(REGISTRATION_LOOPBACK_CONFIRM_LINKS=True)
def test_a_bad_confirm_link_is_400_invalid_token(app: Flask, client: Any, mailbox: Mailbox, query: Any) -> None:
    _error(client.get("/api/users/confirm" + query), 400, "INVALID_TOKEN")
    assert client.get("/confirm" + query).status_code == 400
    _nothing_written(app, mailbox)


#: Refused by the body's check (a field missing, empty or holding a NUL) before any token is read.
POSTED_CONFIRM_PROBLEMS = {"nothing", "no-token", "no-uid", "both-empty", "nul"}


@pytest.mark.parametrize("name", list(CONFIRM_QUERIES))
def test_a_bad_confirm_link_pressed_is_refused_cleanly(app: Flask, client: Any, mailbox: Mailbox, name: Any) -> None:
    # The page's button (HTML) and POST /api/users/confirm (JSON) -> None: a clean 4xx, nothing written.
    from urllib.parse import parse_qsl

    params = dict(parse_qsl(CONFIRM_QUERIES[name][1:], keep_blank_values=True, errors="replace"))
    r = client.post("/api/users/confirm", json={**params, "password": PASSWORD})
    if name in POSTED_CONFIRM_PROBLEMS:
        _error(r, 422, "VALIDATION_ERROR")
    else:
        _error(r, 400, "INVALID_TOKEN")
    r = client.post("/confirm" + CONFIRM_QUERIES[name], data={**params, "password": PASSWORD})
    assert r.status_code == 400 and b"not valid" in r.data
    _nothing_written(app, mailbox)


@pytest.mark.app_config(REGISTRATION_LOOPBACK_CONFIRM_LINKS=True)
def test_a_link_for_one_user_does_not_confirm_another(app: Flask, client: Any, mailbox: Mailbox) -> None:
    for address in ("one@x.com", "two@x.com"):
        assert client.post(SIGNUP, json={"email": address, "password": PASSWORD}).status_code == 202
    first = mailbox.wait_for(2)[0]
    query = mailbox.link(first).split("?", 1)[1]
    assert "uid=1&" in query
    _error(client.get("/api/users/confirm?" + query.replace("uid=1&", "uid=2&")), 400, "INVALID_TOKEN")
    with app.app_context():
        assert not any(u.email_verified for u in db.session.scalars(db.select(User)))


@pytest.mark.parametrize("path", ["/api/users/1%0A", "/api/users/1%0A/export", "/api/users/x/y%0Az", "/api/users/a/b"])
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_an_unknown_path_under_the_api_is_a_json_404_even_with_a_newline(client: Any, path: str, method: str) -> None:
    # Werkzeug's path converter stops at a newline: without the API's own catch-all
    # converter these got Flask's HTML 404 (found by schemathesis on the {id} routes).
    r = client.open(path, method=method)
    assert r.status_code == 404 and r.content_type == "application/json"
    assert r.get_json()["error"]["code"] == "NOT_FOUND"
