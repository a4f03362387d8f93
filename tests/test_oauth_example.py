"""The OAuth demo in examples/oauth works as its docstring promises: GitHub and Google
from the environment, and a whole dance with the local provider."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port
from tests.models import CHEAP_ARGON2
from tests.oauth_provider import dance, load_provider_module, serve

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "oauth" / "app.py"


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # SQLAlchemy resolves the models' annotations there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    app_port, provider_port = free_port(), free_port()
    monkeypatch.setenv("APP_URL", f"http://127.0.0.1:{app_port}")
    monkeypatch.setenv("LOCAL_PROVIDER_URL", f"http://127.0.0.1:{provider_port}")
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # restored after the test
    monkeypatch.setenv("GITHUB_OAUTH_CLIENT_ID", "gh-id")
    monkeypatch.setenv("GITHUB_OAUTH_CLIENT_SECRET", "gh-secret")
    monkeypatch.delenv("GOOGLE_OAUTH_CLIENT_ID", raising=False)
    module = _load(f"flask_registration_oauth_demo_{app_port}")
    yield module, app_port, provider_port
    sys.modules.pop(module.__name__, None)


def _config(tmp_path: Path, port: int) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'demo.sqlite'}",
        "SERVER_NAME": f"127.0.0.1:{port}",
        **CHEAP_ARGON2,
    }


def test_providers_come_from_the_environment(example: Any, tmp_path: Path) -> None:
    module, app_port, _ = example
    providers = module.providers_from_environment()
    assert set(providers) == {"github", "local"}
    assert providers["github"] == {"client_id": "gh-id", "client_secret": "gh-secret"}
    app = module.create_app(_config(tmp_path, app_port))
    page = app.test_client().get("/login").get_data(as_text=True)
    assert 'href="/login/github"' in page and "Local test provider" in page
    with app.app_context():
        module.db.engine.dispose()


def test_the_local_provider_logs_a_person_in_without_any_account_anywhere(example: Any, tmp_path: Path) -> None:
    module, app_port, provider_port = example
    app = module.create_app(_config(tmp_path, app_port))
    provider_module = load_provider_module()
    provider = provider_module.create_provider()
    with serve(provider, provider_port), serve(app, app_port) as base:
        provider_module.register_client(provider, "example-app", "example-secret", [f"{base}/login/local/authorized"])
        with requests.Session() as http:
            r = dance(http, f"{base}/login/local", sub="demo", email="demo@example.com", verified=True)
            assert r.url == f"{base}/"
            assert "Logged in as <strong>demo@example.com</strong>" in r.text
            assert "Local test provider" in http.get(f"{base}/account/connections").text
    with app.app_context():
        module.db.engine.dispose()
