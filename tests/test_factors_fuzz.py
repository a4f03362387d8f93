"""schemathesis against the routes of logging in and signing up with second factors, on
an app with a factor model served on a loopback port: every generated request, valid or
not, gets an answer its OpenAPI document allows (never a 500). Slow."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import factors_app_for, free_port, serve_localhost
from tests.helpers import PASSWORD, add_user, optional, schemathesis_checks

schemathesis = optional("schemathesis")
hypothesis = optional("hypothesis")

PATHS = [
    ("POST", "/api/users/login"),
    ("POST", "/api/users/login/second-factor"),
    ("POST", "/api/users/login/passkey/options"),
    ("POST", "/api/users/login/passkey"),
    ("POST", "/api/users/passkey-signup/options"),
    ("POST", "/api/users/passkey-signup"),
    ("POST", "/api/users/reauthenticate"),
]
RUNS = [(method, path, mode) for method, path in PATHS for mode in ("positive", "negative")]


@pytest.fixture(scope="module")
def live(smtp_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with second factors on a loopback port, with a user; its base URL."""
    _handler, host, port = smtp_server
    folder = tmp_path_factory.mktemp("fuzzed-factors")
    app_port = free_port()
    config = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/fuzz.sqlite",
        "MAIL_SERVER": host,
        "MAIL_PORT": port,
        "SERVER_NAME": f"localhost:{app_port}",
        "WTF_CSRF_ENABLED": False,  # the generated requests carry no CSRF header
    }
    with factors_app_for(config) as app, serve_localhost(app, app_port) as base:
        add_user(app, "fuzz@example.com", password=PASSWORD)
        yield base


@pytest.mark.slow
@pytest.mark.filterwarnings(
    "ignore:Do not use the `random` module inside strategies:hypothesis.errors.HypothesisDeprecationWarning"
)
@pytest.mark.parametrize(("method", "path", "mode"), RUNS, ids=[f"{m} {p} {mode}" for m, p, mode in RUNS])
def test_the_routes_answer_as_their_document_says(live: str, method: str, path: str, mode: str) -> None:
    from schemathesis import GenerationMode

    api = schemathesis.openapi.from_url(f"{live}/api/users/openapi.json", timeout=10)
    operation = api[path][method]
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    checks = schemathesis_checks()

    @hypothesis.given(case=operation.as_strategy(generation_mode=generation))
    @hypothesis.settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(hypothesis.HealthCheck)
    )
    def call(case: Any) -> None:
        case.call_and_validate(base_url=live, checks=checks, timeout=10)

    call()
