"""The profile over the JSON API: GET/PATCH/PUT /api/users/{id} and PATCH/PUT /api/users/me.

Owner, stranger and visitor on every route; every protected field refused by PATCH and
PUT, nothing written; values checked against their columns; hooks, signal, CSRF.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from flask_registration import ValidationError, signals
from flask_registration.flows.profile import library_columns
from tests.helpers import PASSWORD, add_user, api_login, csrf_headers, optional, schemathesis_checks, set_username
from tests.models import User, db

#: (method, path) of every profile route; ``{id}`` is filled in per test.
ROUTES = [("GET", "/api/users/{id}"), ("PATCH", "/api/users/{id}"), ("PUT", "/api/users/{id}")]
WRITES = [
    ("PATCH", "/api/users/{id}"),
    ("PUT", "/api/users/{id}"),
    ("PATCH", "/api/users/me"),
    ("PUT", "/api/users/me"),
]

#: Every field a profile change refuses: LoopBack's names, the library's columns, and a
#: field no one declared.
PROTECTED = sorted(
    {"email", "emailVerified", "password", "id", "createdAt", "pendingEmail", "nickname"} | library_columns()
)


@pytest.fixture
def people(app: Flask) -> dict[str, int]:
    """Ada (the owner) and Bob (a stranger), verified, each with a username."""
    ids = {"ada": add_user(app, "ada@example.com"), "bob": add_user(app, "bob@example.com")}
    for name, user_id in ids.items():
        set_username(app, user_id, name)
    return ids


def client_of(app: Flask, **options: Any) -> Any:
    """A test client (typed ``Any``: its answers' ``json`` is read as the API's)."""
    return app.test_client(**options)


def token_of(app: Flask, email: str) -> dict[str, str]:
    """An ``Authorization`` header for ``email``'s account (no cookie on this client)."""
    token = api_login(client_of(app, use_cookies=False), email, PASSWORD)
    return {"Authorization": f"Bearer {token}"}


def send(client: Any, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    return client.open(path, method=method, headers=headers or {}, **kwargs)


def row(app: Flask, user_id: int) -> dict[str, Any]:
    """Every column of a user, as stored."""
    with app.app_context():
        user = db.session.get(User, user_id)
        return {c.key: getattr(user, c.key) for c in User.__mapper__.column_attrs}


# Who may.


@pytest.mark.parametrize("method, path", ROUTES + WRITES[2:])
def test_a_visitor_gets_401(app: Flask, client: Any, people: dict[str, int], method: str, path: str) -> None:
    r = send(client, method, path.format(id=people["ada"]), json={"username": "mallory"})
    assert r.status_code == 401
    assert r.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert row(app, people["ada"])["username"] == "ada"


@pytest.mark.parametrize("method, path", ROUTES)
def test_the_owner_reads_and_changes_their_own_account(
    app: Flask, people: dict[str, int], method: str, path: str
) -> None:
    r = send(client_of(app), method, path.format(id=people["ada"]), token_of(app, "ada@example.com"), json={})
    assert r.status_code == 200
    assert r.json["id"] == people["ada"] and r.json["email"] == "ada@example.com"
    assert "password_hash" not in r.json and "auth_stamp" not in r.json


@pytest.mark.parametrize("auth", ["token", "session"])
@pytest.mark.parametrize("method, path", ROUTES)
def test_a_stranger_gets_one_answer_for_an_existing_and_a_missing_id(
    app: Flask, people: dict[str, int], method: str, path: str, auth: str
) -> None:
    client = client_of(app)
    if auth == "token":
        headers = token_of(app, "bob@example.com")
    else:
        api_login(client, "bob@example.com")
        headers = csrf_headers(client)
    body = {"username": "mallory", "email": "mallory@example.com"}  # never read: the id decides first
    existing = send(client, method, path.format(id=people["ada"]), headers, json=body)
    missing = send(client, method, path.format(id=people["ada"] + 1000), headers, json=body)
    huge = send(client, method, path.format(id=2**80), headers, json=body)
    assert existing.status_code == missing.status_code == huge.status_code == 401
    assert existing.data == missing.data == huge.data
    assert existing.json["error"]["code"] == "AUTHORIZATION_REQUIRED"
    assert row(app, people["ada"])["username"] == "ada"


def test_a_path_that_is_not_an_id_is_not_found(app: Flask, people: dict[str, int]) -> None:
    r = client_of(app).get("/api/users/not-a-number", headers=token_of(app, "ada@example.com"))
    assert r.status_code == 404 and r.json["error"]["code"] == "NOT_FOUND"


# What a change does.


@pytest.mark.parametrize("path", ["/api/users/{id}", "/api/users/me"])
def test_patch_changes_the_fields_given(app: Flask, people: dict[str, int], path: str) -> None:
    r = client_of(app).patch(
        path.format(id=people["ada"]), headers=token_of(app, "ada@example.com"), json={"username": "ada_l"}
    )
    assert r.status_code == 200
    assert r.json["username"] == "ada_l"
    assert row(app, people["ada"])["username"] == "ada_l"
    assert row(app, people["bob"])["username"] == "bob"


@pytest.mark.parametrize("path", ["/api/users/{id}", "/api/users/me"])
def test_put_sets_a_profile_field_it_leaves_out_to_null(app: Flask, people: dict[str, int], path: str) -> None:
    r = client_of(app).put(path.format(id=people["ada"]), headers=token_of(app, "ada@example.com"), json={})
    assert r.status_code == 200
    assert r.json["username"] is None
    assert row(app, people["ada"])["username"] is None


def test_an_empty_patch_changes_nothing(app: Flask, people: dict[str, int], registration: Any) -> None:
    calls = []
    registration.after_update(lambda user, changes: calls.append(changes))
    before = row(app, people["ada"])
    r = client_of(app).patch("/api/users/me", headers=token_of(app, "ada@example.com"), json={})
    assert r.status_code == 200 and r.json["username"] == "ada"
    assert row(app, people["ada"]) == before
    assert calls == []


def test_a_username_another_user_has_is_refused_and_nothing_is_written(app: Flask, people: dict[str, int]) -> None:
    r = client_of(app).patch("/api/users/me", headers=token_of(app, "ada@example.com"), json={"username": "bob"})
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"username": ["uniqueness"]}
    assert row(app, people["ada"])["username"] == "ada"


def test_keeping_ones_own_unique_value_is_no_conflict(app: Flask, people: dict[str, int]) -> None:
    r = client_of(app).put("/api/users/me", headers=token_of(app, "ada@example.com"), json={"username": "ada"})
    assert r.status_code == 200 and r.json["username"] == "ada"


# Protected fields.


@pytest.mark.parametrize("field", PROTECTED)
@pytest.mark.parametrize("method, path", WRITES)
def test_every_protected_field_is_refused_and_nothing_is_written(
    app: Flask, people: dict[str, int], method: str, path: str, field: str
) -> None:
    before = row(app, people["ada"])
    body = {"username": "changed", field: "x"}
    r = send(client_of(app), method, path.format(id=people["ada"]), token_of(app, "ada@example.com"), json=body)
    assert r.status_code == 422
    error = r.json["error"]
    assert error["code"] == ("PASSWORD_CHANGE_NOT_ALLOWED" if field == "password" else "PROTECTED_FIELD")
    assert error["details"]["codes"] == {field: ["protected"]}
    assert row(app, people["ada"]) == before


def test_every_refused_field_is_named_at_once(app: Flask, people: dict[str, int]) -> None:
    body = {"email": "new@example.com", "password": "new password", "emailVerified": True}
    r = client_of(app).patch("/api/users/me", headers=token_of(app, "ada@example.com"), json=body)
    assert r.status_code == 422
    assert r.json["error"]["code"] == "PASSWORD_CHANGE_NOT_ALLOWED"
    assert set(r.json["error"]["details"]["codes"]) == {"email", "password", "emailVerified"}


# Bad input: always a 4xx with a code, never a 500, nothing written.


@pytest.mark.parametrize(
    "raw, status, code",
    [
        ("[]", 422, "INVALID_BODY"),
        ('"text"', 422, "INVALID_BODY"),
        ("null", 422, "INVALID_BODY"),
        ("42", 422, "INVALID_BODY"),
        ("{", 400, "MALFORMED_JSON"),
        ('{"username": ["a"]}', 422, "VALIDATION_ERROR"),
        ('{"username": {"a": 1}}', 422, "VALIDATION_ERROR"),
        ('{"username": 12}', 422, "VALIDATION_ERROR"),
        ('{"username": true}', 422, "VALIDATION_ERROR"),
        (f'{{"username": "{"u" * 41}"}}', 422, "VALIDATION_ERROR"),
        (f'{{"username": "{"u" * 5000}"}}', 422, "VALIDATION_ERROR"),
        ('{"username": "\\ud800"}', 422, "VALIDATION_ERROR"),
        ('{"username": "a\\u0000b"}', 422, "VALIDATION_ERROR"),
    ],
)
@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_bad_bodies_are_refused_with_a_code(
    app: Flask, people: dict[str, int], method: str, raw: str, status: int, code: str
) -> None:
    headers = {**token_of(app, "ada@example.com"), "Content-Type": "application/json"}
    r = send(client_of(app), method, "/api/users/me", headers, data=raw)
    assert r.status_code == status
    assert r.json["error"]["code"] == code
    assert row(app, people["ada"])["username"] == "ada"


def test_other_content_types_and_huge_bodies_are_refused(app: Flask, people: dict[str, int]) -> None:
    client, headers = client_of(app), token_of(app, "ada@example.com")
    r = client.patch(
        "/api/users/me", headers=headers, data="username=x", content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 415 and r.json["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    r = client.patch("/api/users/me", headers=headers, json={"username": "x" * (70 * 1024)})
    assert r.status_code == 413 and r.json["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert row(app, people["ada"])["username"] == "ada"


# CSRF: a cookie-authenticated change needs the header, like every other API change.


def test_a_session_change_needs_the_csrf_header(app: Flask, people: dict[str, int]) -> None:
    client = client_of(app)
    api_login(client, "ada@example.com")
    r = client.patch("/api/users/me", json={"username": "csrf"})
    assert r.status_code == 403 and r.json["error"]["code"] == "CSRF_FAILED"
    assert row(app, people["ada"])["username"] == "ada"
    r = client.patch("/api/users/me", json={"username": "csrf"}, headers=csrf_headers(client))
    assert r.status_code == 200 and r.json["username"] == "csrf"
    assert client.get(f"/api/users/{people['ada']}").status_code == 200  # reading needs no header


# Hooks and signal.


def test_hooks_change_then_see_the_committed_change(app: Flask, people: dict[str, int], registration: Any) -> None:
    seen = []

    @registration.before_update
    def underscores(user: Any, changes: dict[str, Any]) -> None:
        assert user.username == "ada"  # nothing written yet
        changes["username"] = changes["username"].replace("-", "_")

    @registration.after_update
    def after(user: Any, changes: dict[str, Any]) -> None:
        with app.app_context():  # another session: the change is committed
            seen.append((row(app, user.id)["username"], changes))

    received = []
    with signals.profile_updated.connected_to(lambda sender, **kw: received.append(kw["changes"]), app):
        r = client_of(app).patch("/api/users/me", headers=token_of(app, "ada@example.com"), json={"username": "a-b"})
    assert r.status_code == 200 and r.json["username"] == "a_b"
    assert seen == [("a_b", {"username": "a_b"})]
    assert received == [{"username": "a_b"}]


def test_a_hook_veto_writes_nothing_and_runs_no_after_hook(
    app: Flask, people: dict[str, int], registration: Any
) -> None:
    after = []

    @registration.before_update
    def refuse(user: Any, changes: dict[str, Any]) -> None:
        raise ValidationError("This username is reserved.", field="username", field_code="reserved")

    registration.after_update(lambda user, changes: after.append(changes))
    r = client_of(app).patch("/api/users/me", headers=token_of(app, "ada@example.com"), json={"username": "root"})
    assert r.status_code == 422
    assert r.json["error"]["details"]["codes"] == {"username": ["reserved"]}
    assert row(app, people["ada"])["username"] == "ada" and after == []


def test_a_hook_cannot_slip_in_a_protected_field(app: Flask, people: dict[str, int], registration: Any) -> None:
    registration.before_update(lambda user, changes: changes.update(email="hook@example.com"))
    r = client_of(app).patch("/api/users/me", headers=token_of(app, "ada@example.com"), json={"username": "x"})
    assert r.status_code == 422 and r.json["error"]["code"] == "PROTECTED_FIELD"
    assert row(app, people["ada"])["email"] == "ada@example.com"


# Settings.


@pytest.mark.app_config(REGISTRATION_PROFILE_FIELDS=())
def test_no_profile_fields_refuses_every_field(app: Flask, people: dict[str, int]) -> None:
    r = client_of(app).patch("/api/users/me", headers=token_of(app, "ada@example.com"), json={"username": "x"})
    assert r.status_code == 422 and r.json["error"]["details"]["codes"] == {"username": ["protected"]}


@pytest.mark.parametrize(
    "fields, message",
    [
        (["nickname"], "'nickname', which is not a column of User"),
        (["auth_stamp"], "'auth_stamp': it is a column of UserMixin"),
        (["email"], "REGISTRATION_PROFILE_FIELDS cannot name 'email'"),
        ([3], "REGISTRATION_PROFILE_FIELDS cannot name 3"),
        ("username", "must be tuple or list or NoneType"),
    ],
)
def test_init_app_refuses_profile_fields_that_cannot_be(fields: Any, message: str) -> None:
    from tests.models import make_app

    with pytest.raises(RuntimeError) as caught:
        make_app({"REGISTRATION_PROFILE_FIELDS": fields})
    assert message in str(caught.value)


def test_the_document_lists_the_profile_routes_and_fields(app: Flask) -> None:
    doc = client_of(app).get("/api/users/openapi.json").get_json()
    assert set(doc["paths"]["/api/users/{id}"]) >= {"get", "patch", "put"}
    assert set(doc["paths"]["/api/users/me"]) >= {"get", "patch", "put"}
    changes = doc["components"]["schemas"]["ProfileChanges"]
    assert changes["properties"] == {"username": {"type": ["string", "null"], "maxLength": 40}}
    assert changes["additionalProperties"] is False and changes["required"] == []
    for method in ("patch", "put"):
        statuses = set(doc["paths"]["/api/users/me"][method]["responses"])
        assert {"200", "401", "403", "422"} <= statuses


# Any body the owner sends gets an answer the document lists (schemathesis, through WSGI).

FUZZED = (
    [(m, p, "positive") for m, p in ROUTES + WRITES[2:]]
    + [(m, p, "negative") for m, p in ROUTES + WRITES[2:] if m != "GET"]
    + [("GET", "/api/users/{id}", "negative")]
)


@pytest.mark.slow
@pytest.mark.parametrize("method, path, mode", FUZZED, ids=[f"{m} {p} {mode}" for m, p, mode in FUZZED])
def test_the_owner_gets_what_the_document_says_whatever_the_body(
    app: Flask, people: dict[str, int], method: str, path: str, mode: str
) -> None:
    schemathesis = optional("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    checks = schemathesis_checks()
    operation = schemathesis.openapi.from_wsgi("/api/users/openapi.json", app)[path][method]
    fixed: dict[str, Any] = {"headers": token_of(app, "ada@example.com")}
    if "{id}" in path and not (method == "GET" and mode == "negative"):  # the owner's id, or a mangled one
        fixed["path_parameters"] = {"id": people["ada"]}

    @given(case=operation.as_strategy(generation_mode=GenerationMode(mode), **fixed))
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        case.validate_response(case.call(), checks=checks)

    call()
    assert row(app, people["bob"])["username"] == "bob"  # the stranger's row never changed
