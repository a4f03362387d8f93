"""Helpers the test modules share."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(html: str | bytes) -> str:
    """The first CSRF token in a page."""
    text = html.decode() if isinstance(html, bytes) else html
    found = CSRF_RE.search(text)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def local(link: str) -> str:
    """An emailed absolute link as a path with its query (for the test client)."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def link_params(link: str) -> dict[str, str]:
    """The query parameters of a link."""
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def press_confirm(client: Any, link: str, password: str | None = None) -> Any:
    """Open an emailed verification link and press its button (with the password, when
    the page asks for it), as a person does; return the answer to the press."""
    path = local(link)
    page = client.get(path)
    assert page.status_code == 200, page.data[:300]
    params = link_params(link)
    data = {"uid": params["uid"], "token": params["token"]}
    if CSRF_RE.search(page.get_data(as_text=True)):  # none when a test turned CSRF off
        data["csrf_token"] = csrf_token(page.data)
    if password is not None:
        data["password"] = password
    query = urlsplit(path).query
    return client.post("/confirm" + (f"?{query}" if "redirect=" in query else ""), data=data)


def confirm_by_api(client: Any, link: str, password: str | None = "correct horse", **extra: Any) -> Any:
    """Confirm an emailed verification link through ``POST /api/users/confirm``."""
    params = link_params(link)
    body: dict[str, Any] = {"uid": params["uid"], "token": params["token"], **extra}
    if password is not None:
        body["password"] = password
    return client.post("/api/users/confirm", json=body)


def press_confirm_with_new_password(client: Any, link: str, new_password: str) -> Any:
    """Open an emailed verification link and confirm it by setting a new password (the
    way for an owner who does not know the account's password)."""
    page = client.get(local(link))
    assert page.status_code == 200, page.data[:300]
    params = link_params(link)
    data = {"uid": params["uid"], "token": params["token"], "password": new_password, "password_confirm": new_password}
    if CSRF_RE.search(page.get_data(as_text=True)):
        data["csrf_token"] = csrf_token(page.data)
    return client.post("/confirm/new-password", data=data)
