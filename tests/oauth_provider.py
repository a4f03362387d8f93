"""The real parts of the OAuth tests: the local Authlib provider of ``examples/oauth``
served on a loopback port, the app served on another, and a dance run with ``requests``
the way a browser runs it (redirects followed, each server's cookies kept).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import requests

from flask_registration import OAuthMixin
from tests.conftest import serve  # noqa: F401 (the OAuth tests import it from here)
from tests.models import db

PROVIDER_FILE = Path(__file__).resolve().parent.parent / "examples" / "oauth" / "provider.py"


def load_provider_module() -> Any:
    """``examples/oauth/provider.py``, imported once."""
    name = "flask_registration_example_provider"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PROVIDER_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class OAuth(db.Model, OAuthMixin):  # type: ignore[name-defined,misc]
    """The tests' OAuth model, beside tests.models.User."""

    __tablename__ = "oauth"
    __user_tablename__ = "users"


def consent(
    http: requests.Session,
    page: requests.Response,
    *,
    sub: str,
    email: str | None = None,
    verified: bool = False,
    name: str = "",
    decision: str = "allow",
    **kwargs: Any,
) -> requests.Response:
    """Answer the provider's consent page as a person would; follow every redirect."""
    assert page.status_code == 200, page.text
    assert "wants to know who you are" in page.text, page.text[:500]
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action is not None
    url = requests.compat.urljoin(page.url, action.group(1).replace("&amp;", "&"))
    form = {"sub": sub, "name": name, "email": email or "", "decision": decision}
    if verified:
        form["email_verified"] = "1"
    return http.post(url, data=form, **kwargs)


def dance(http: requests.Session, start: str, **person: Any) -> requests.Response:
    """Start at ``start`` (``.../login/local``), consent as ``person``, end where the app sends us."""
    headers = person.pop("headers", None)
    page = http.get(start, headers=headers)
    return consent(http, page, headers=headers, **person)


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)
