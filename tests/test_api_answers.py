"""The JSON API's odds and ends: a 204 has no body and no Content-Type; the OpenAPI
document lists only the error responses its operations use, in CommonMark; a reset link
of an account deleted since it was sent answers 404 ``USER_NOT_FOUND``, as confirm does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_registration import get_state, openapi
from flask_registration.flows.password import reset_token
from flask_registration.flows.verify import verification_token
from tests.helpers import add_user
from tests.models import User, db
from tests.oauth_provider import OAuth

PASSWORD = "correct horse"
ROOT = Path(__file__).resolve().parent.parent


def assert_no_content(r: Any) -> None:
    assert r.status_code == 204, r.get_data(as_text=True)
    assert r.data == b""
    assert "Content-Type" not in r.headers


def ada(app: Any) -> Any:
    with app.app_context():
        return db.session.scalars(db.select(User).where(User.email == "ada@example.com")).one()


def login(client: Any) -> dict[str, str]:
    """Log ``client`` in (a session cookie); the CSRF header its changes need."""
    assert client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 200
    return {"X-CSRFToken": client.get("/api/users/csrf-token").json["csrfToken"]}


def test_every_204_of_the_api_has_no_content_type(app: Flask) -> None:
    add_user(app, verified=False)
    client = app.test_client()
    assert_no_content(client.post("/api/users/verify", json={"email": "ada@example.com"}))
    assert_no_content(client.post("/api/users/reset", json={"email": "ada@example.com"}))
    user = ada(app)
    with app.test_request_context():
        token = verification_token(get_state().store.get(user.id))
    body = {"uid": str(user.id), "token": token, "password": PASSWORD}
    assert_no_content(client.post("/api/users/confirm", json=body))

    csrf = login(client)
    assert_no_content(client.post("/api/users/reauthenticate", json={"password": PASSWORD}, headers=csrf))
    assert_no_content(client.post("/api/users/change-email/cancel", headers=csrf))
    new = {"oldPassword": PASSWORD, "newPassword": "battery staple"}
    assert_no_content(client.post("/api/users/change-password", json=new, headers=csrf))
    assert_no_content(client.post("/api/users/logout", headers=csrf))

    with app.app_context():
        token = reset_token(get_state().store.get(user.id))
    r = client.post("/api/users/reset-password", json={"token": token, "newPassword": PASSWORD})
    assert_no_content(r)
    csrf = login(client)
    assert_no_content(client.post("/api/users/logout-all", headers=csrf))


@pytest.mark.app_config(REGISTRATION_LOOPBACK_CONFIRM_LINKS=True)
def test_loopbacks_get_confirm_answers_204_without_content_type(app: Flask) -> None:
    add_user(app, verified=False)
    user = ada(app)
    with app.test_request_context():
        token = verification_token(get_state().store.get(user.id))
    assert_no_content(app.test_client().get(f"/api/users/confirm?uid={user.id}&token={token}"))


def test_unlinking_a_provider_answers_204_without_content_type(oauth_app: Flask) -> None:
    add_user(oauth_app)
    user = ada(oauth_app)
    with oauth_app.app_context():
        db.session.add(OAuth(provider="local", provider_user_id="ada-1", user_id=user.id, token={}))
        db.session.commit()
    client = oauth_app.test_client()
    csrf = login(client)
    assert_no_content(client.delete("/api/users/me/identities/local", headers=csrf))


def test_a_reset_link_of_a_deleted_account_is_a_404_user_not_found(app: Flask) -> None:
    add_user(app)
    user = ada(app)
    with app.app_context():
        token = reset_token(get_state().store.get(user.id))
        db.session.delete(db.session.get(User, user.id))
        db.session.commit()
    r = app.test_client().post("/api/users/reset-password", json={"token": token, "newPassword": "battery staple"})
    assert r.status_code == 404
    assert r.json["error"]["code"] == "USER_NOT_FOUND"
    assert "404" in openapi.document()["paths"]["/api/users/reset-password"]["post"]["responses"]


def _refs(document: dict[str, Any]) -> set[str]:
    found = set()
    for item in document["paths"].values():
        for operation in item.values():
            for answer in operation["responses"].values():
                if "$ref" in answer:
                    found.add(answer["$ref"].rpartition("/")[2])
    return found


def test_the_document_lists_only_the_error_responses_its_operations_use() -> None:
    for identities in (False, True):
        document = openapi.document(identities=identities)
        assert set(document["components"]["responses"]) == _refs(document)
        # 409: deleting an account (DELETE_CONFLICT), and unlinking the last provider.
        assert "Error409" in document["components"]["responses"]


def test_the_documents_descriptions_are_commonmark_not_restructuredtext() -> None:
    text = json.dumps(openapi.document(identities=True, access_tokens=True, loopback_confirm_links=True))
    assert "``" not in text
    # A bare <id> would be an HTML tag in CommonMark: it must be inside backticks.
    assert "`Authorization: Bearer <id>`" in text
    assert "``" not in (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
