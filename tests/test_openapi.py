"""The JSON API as a contract: the OpenAPI 3.1 document the app serves, fuzzed with
schemathesis against the live demo app.

The demo (examples/basic) is served with werkzeug's ``make_server`` on a loopback port,
on SQLite in a temporary folder, sending its mail to the real SMTP fixture. Every
operation of the document is called with generated requests, valid and invalid, as a
visitor and (for the routes that need one) as a logged-in user; any 5xx, undocumented
status, wrong content type, missing header or body that breaks the schema fails.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from tests.helpers import optional, schemathesis_checks

# Without schemathesis the module is skipped (a failure under CI, where it is installed).
schemathesis = optional("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from flask_registration import openapi  # noqa: E402
from flask_registration.config import RATE_LIMIT_DEFAULTS  # noqa: E402
from tests.conftest import free_port, serve  # noqa: E402
from tests.models import CHEAP_ARGON2, make_app  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "basic" / "app.py"

#: Enough to find a 5xx or a broken answer on each operation, and under a minute in all.
EXAMPLES = 100

CHECKS = schemathesis_checks()

PASSWORD = "fuzzing password 1"


def _load_demo() -> Any:
    spec = importlib.util.spec_from_file_location("flask_registration_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # SQLAlchemy resolves the model's annotations there
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def live_demo(smtp_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo app on 127.0.0.1, with a verified user; yields its base URL."""
    _handler, mail_host, mail_port = smtp_server
    folder = tmp_path_factory.mktemp("fuzzed-demo")
    demo = _load_demo()
    app = demo.create_app(
        {
            "SECRET_KEY": "the fuzzed demo's secret key",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.sqlite'}",
            "MAIL_SERVER": mail_host,
            "MAIL_PORT": mail_port,
            # requests keeps Secure cookies for https only: this server is plain http.
            "SESSION_COOKIE_SECURE": False,
            **CHEAP_ARGON2,
            # Every request comes from 127.0.0.1, and every logged-in one is the fuzz
            # user's: the usual limits would turn most of the run into 429s (whose answer
            # is checked on its own below).
            "REGISTRATION_RATE_LIMITS": {name: "1000 per minute" for name in RATE_LIMIT_DEFAULTS},
        }
    )
    with app.app_context():
        from flask_registration import get_state

        store = get_state().store
        passwords = get_state().passwords
        user = store.create({"email": "fuzz@example.com", "password_hash": passwords.hash(PASSWORD)})
        store.mark_verified(user)
    port = free_port()
    try:
        with serve(app, port) as base:
            yield base
    finally:
        with app.app_context():
            demo.db.engine.dispose()


@pytest.fixture(scope="module")
def api_schema(live_demo: str) -> Any:
    """The document as the live demo serves it (loaded with schemathesis's own loader)."""
    return schemathesis.openapi.from_url(f"{live_demo}/api/users/openapi.json", timeout=10)


# One test per operation and mode. The operations are listed from the default document
# (the demo uses the default prefix); schemathesis's lazy pytest loader is not used, as
# it does not run under pytest 9.
DEFAULT_DOCUMENT = openapi.document()
OPERATIONS = [(method.upper(), path) for path, item in DEFAULT_DOCUMENT["paths"].items() for method in item]
# Invalid requests exist only where there is a body or a parameter to get wrong (the
# login of the routes that need one is fixed; tests/test_csrf.py covers its absence).
HAS_INPUT = {
    (method.upper(), path)
    for path, item in DEFAULT_DOCUMENT["paths"].items()
    for method, op in item.items()
    if "requestBody" in op or "parameters" in op
}

NEEDS_LOGIN = {
    "/api/users/me",
    "/api/users/change-password",
    "/api/users/change-email",
    "/api/users/change-email/cancel",
}


def _logged_in(base: str) -> dict[str, Any]:
    """The cookies and header of a logged-in browser: fixed parts of the generated cases
    (the wrong passwords a case sends change nothing, so the session stays valid)."""
    with requests.Session() as session:
        r = session.post(
            f"{base}/api/users/login", json={"email": "fuzz@example.com", "password": PASSWORD}, timeout=10
        )
        assert r.status_code == 200, r.text
        token = session.get(f"{base}/api/users/csrf-token", timeout=10).json()["csrfToken"]
        return {"cookies": session.cookies.get_dict(), "headers": {"X-CSRFToken": token}}


RUNS = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if (m, p) in HAS_INPUT
]


#: The demo answers resend, reset and some logins before their email leaves: the email is
#: written (its MIME boundary drawn from the ``random`` module) in a thread of its own,
#: which may still run while Hypothesis draws the next case. Hypothesis then sees the
#: global random state move "inside a strategy" and warns; the strategies do not use it.
MAIL_THREADS_USE_RANDOM = pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)


@pytest.mark.slow
@MAIL_THREADS_USE_RANDOM
@pytest.mark.parametrize("method, path, mode", RUNS, ids=[f"{m} {p} {mode.value}" for m, p, mode in RUNS])
def test_the_api_answers_as_its_document_says(
    api_schema: Any, live_demo: Any, method: Any, path: Any, mode: Any
) -> None:
    operation = api_schema[path][method]
    # Never logged in for DELETE: the login marks a recent re-authentication, and a
    # generated DELETE of /me would delete the fuzz user for every run after it.
    fixed = _logged_in(live_demo) if path in NEEDS_LOGIN and method != "DELETE" else {}

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        case.call_and_validate(base_url=live_demo, checks=CHECKS, timeout=10)

    call()


def test_the_app_serves_its_document_at_the_api_prefix() -> None:
    app = make_app({"REGISTRATION_API_PREFIX": "/v2/accounts", "REGISTRATION_PREVENT_ENUMERATION": False})
    doc = app.test_client().get("/v2/accounts/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    assert "/v2/accounts/login" in doc["paths"] and "/api/users/login" not in doc["paths"]
    signup = doc["paths"]["/v2/accounts"]["post"]["responses"]
    assert "201" in signup and "202" not in signup  # enumeration prevention off: the new user
    # The test model's extra column and its access tokens are in the document.
    assert doc["components"]["schemas"]["User"]["properties"]["username"] == {
        "type": ["string", "null"],
        "maxLength": 40,
    }
    assert "accessToken" in doc["components"]["securitySchemes"]


LOOPBACK_GETS = {("/api/users/confirm", "GET"), ("/api/users/confirm-email", "GET")}


@pytest.mark.parametrize("loopback", [False, True], ids=["default", "loopback-links"])
def test_every_json_route_is_in_the_document(loopback: Any) -> None:
    app = make_app({"REGISTRATION_LOOPBACK_CONFIRM_LINKS": loopback})
    client = app.test_client()
    doc = client.get("/api/users/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    routes = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        json_route = blueprint in ("registration_api", "registration_profile_api", "registration_lifecycle_api")
        if json_route and rule.endpoint != "registration_api.not_found":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            routes |= {(path, m) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    if not loopback:
        # Without LoopBack's links, opening a link changes nothing: those GETs answer 405.
        for path, _ in LOOPBACK_GETS:
            r = client.get(path, query_string={"uid": "1", "token": "a.b.c"})
            assert r.status_code == 405 and r.get_json()["error"]["code"] == "CONFIRM_BY_POST"
        routes -= LOOPBACK_GETS
    assert routes == documented  # with third-party login too: tests/test_oauth_hardening.py


def test_the_docs_copy_is_the_default_document() -> None:
    # docs/openapi.json is the default document, printed by REGENERATE.
    copy = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert copy == openapi.document(), f"docs/openapi.json is stale: {REGENERATE}"


REGENERATE = (
    """python -c 'import json, flask_registration.openapi as o; print(json.dumps(o.document(), indent=2))'"""
    " > docs/openapi.json"
)


@pytest.mark.slow
@pytest.mark.app_config(REGISTRATION_RATE_LIMITS_ENABLED=True, REGISTRATION_RATE_LIMITS={"login_per_ip": "2 per hour"})
def test_a_429_answers_as_the_document_says(app: Flask) -> None:
    api = schemathesis.openapi.from_wsgi("/api/users/openapi.json", app)
    case = api["/api/users/login"]["POST"].Case(body={"email": "a@example.com", "password": "wrong password"})
    statuses = []
    for _ in range(3):
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        statuses.append(response.status_code)
    assert statuses == [401, 401, 429]
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert int(headers["retry-after"][0]) > 0  # and response_headers_conformance checked it is there
