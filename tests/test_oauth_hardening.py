"""The hardening checklist on the third-party login routes: their forms' CSRF tokens, the
``DELETE /me/identities/<provider>`` CSRF rule, ``next`` through ``safe_redirect``, the
address step counted as a signup, and their JSON routes in the OpenAPI document.

The provider is the real Authlib server of ``examples/oauth`` (see tests/test_oauth.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.helpers import optional, schemathesis_checks
from tests.oauth_provider import PASSWORD, Site, csrf_token, dance
from tests.smtp import Mailbox


def linked_with_password(site: Site, http: requests.Session) -> None:
    """ada, with a password, logged in and linked to the provider."""
    site.add_user("ada@example.com", verified=True)
    site.log_in(http, "ada@example.com")
    r = dance(http, site.login_url(), sub="ada-1", email="ada@example.com", verified=True)
    assert r.status_code == 200
    assert [i[:2] for i in site.identities()] == [("local", "ada-1")]


def test_the_unlink_form_needs_its_token(site: Any, http: Any) -> None:
    linked_with_password(site, http)
    page = http.get(f"{site.url}/account/connections").text
    action = "/account/connections/local/unlink"
    assert f'action="{action}"' in page
    token = csrf_token(page)
    r = http.post(f"{site.url}{action}", data={})
    assert r.status_code == 400 and len(site.identities()) == 1
    r = http.post(f"{site.url}{action}", data={"csrf_token": token})
    assert r.status_code == 200 and site.identities() == []


def test_the_address_form_needs_its_token(site: Any, http: Any, mailbox: Mailbox) -> None:
    r = dance(http, site.login_url(), sub="nomail-1")  # the provider gives no address
    assert r.url == f"{site.url}/login/local/email"
    token = csrf_token(r.text)
    r = http.post(f"{site.url}/login/local/email", data={"email": "carol@example.com"})
    assert r.status_code == 422 and "did not give us an email address" in r.text  # the form again
    assert site.users() == [] and mailbox.messages == []
    r = http.post(f"{site.url}/login/local/email", data={"email": "carol@example.com", "csrf_token": token})
    assert r.status_code == 200 and "Check your email" in r.text
    assert [m["To"] for m in mailbox.wait_for(1)] == ["carol@example.com"]


def test_unlinking_over_json_follows_the_apis_csrf_rule(site: Any, http: Any) -> None:
    linked_with_password(site, http)
    route = f"{site.url}/api/users/me/identities/local"
    r = http.delete(route)
    assert r.status_code == 403 and r.json()["error"]["code"] == "CSRF_FAILED"
    assert len(site.identities()) == 1
    api_token = requests.post(
        f"{site.url}/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}
    ).json()["id"]
    r = http.delete(route, headers={"Authorization": f"Bearer {api_token}"})  # the cookie rides along
    assert r.status_code == 204 and site.identities() == []


@pytest.mark.parametrize(
    "target, lands_on",
    [
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/?welcome=1", "/?welcome=1"),
    ],
)
def test_next_goes_through_the_one_validator(site: Any, http: Any, target: Any, lands_on: Any) -> None:
    r = dance(http, site.login_url(next=target), sub="next-1", email="next@example.com", verified=True)
    assert r.status_code == 200 and r.url == f"{site.url}{lands_on}"


@pytest.mark.app_config(
    REGISTRATION_RATE_LIMITS_ENABLED=True, REGISTRATION_RATE_LIMITS={"signup_per_email": "1 per hour"}
)
def test_the_address_step_counts_as_a_signup(site: Any, mailbox: Mailbox) -> None:
    statuses = []
    for n in range(2):
        with requests.Session() as http:
            r = dance(http, site.login_url(), sub=f"nomail-{n}")
            r = http.post(
                f"{site.url}/login/local/email", data={"email": "Carol@Example.com", "csrf_token": csrf_token(r.text)}
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) > 0
    assert statuses == [200, 429]


def test_the_document_has_the_identity_routes(site: Any) -> None:
    doc = requests.get(f"{site.url}/api/users/openapi.json").json()
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    assert {("/api/users/me/identities", "GET"), ("/api/users/me/identities/{provider}", "DELETE")} <= documented
    routes = set()
    for rule in site.app.url_map.iter_rules():
        json_faces = ("registration_api", "registration_connections_api", "registration_profile_api")
        if rule.endpoint.partition(".")[0] in (*json_faces, "registration_lifecycle_api"):
            if rule.endpoint != "registration_api.not_found":
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
                routes |= {(path, m) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    # LoopBack's GET confirms are documented only with REGISTRATION_LOOPBACK_CONFIRM_LINKS.
    assert routes - {("/api/users/confirm", "GET"), ("/api/users/confirm-email", "GET")} == documented


@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)  # mail threads write MIME boundaries with ``random`` while cases are drawn (tests/test_openapi.py)
@pytest.mark.slow
def test_the_identity_routes_answer_as_documented(site: Any, http: Any) -> None:
    schemathesis = optional("schemathesis")
    checks = schemathesis_checks()

    linked_with_password(site, http)
    api = schemathesis.openapi.from_url(f"{site.url}/api/users/openapi.json")
    token = http.get(f"{site.url}/api/users/csrf-token").json()["csrfToken"]
    listing = api["/api/users/me/identities"]["GET"].Case()
    response = listing.call(session=http)
    listing.validate_response(response, checks=checks)
    assert response.status_code == 200 and response.json()[0]["provider"] == "local"
    for provider, status in (("nowhere", 404), ("local", 204)):
        case = api["/api/users/me/identities/{provider}"]["DELETE"].Case(path_parameters={"provider": provider})
        response = case.call(session=http, headers={"X-CSRFToken": token})
        case.validate_response(response, checks=checks)
        assert response.status_code == status
