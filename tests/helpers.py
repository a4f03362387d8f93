"""Helpers the test modules share."""

from __future__ import annotations

import importlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from itsdangerous import TimestampSigner

from flask_registration.models import utcnow
from flask_registration.state import get_state
from tests.models import User, db, make_app
from tests.smtp import Mailbox

#: The password of the users the helpers make.
PASSWORD = "correct horse"


def optional(module: str) -> Any:
    """Import an optional test dependency (bcrypt, redis, playwright, axe, schemathesis),
    or skip the test without it. Under ``CI`` the test command has installed them all, so
    a missing one is a failure there, not a skip."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


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


def add_user(
    app: Flask,
    email: str = "ada@example.com",
    *,
    password: str | None = PASSWORD,
    verified: bool = True,
    age: timedelta = timedelta(0),
) -> int:
    """Put a user straight into the database (no signup, no email) and return its id:
    with ``password`` (None for an account without one), verified or not, created
    ``age`` ago (and verified then)."""
    with app.app_context():
        state = get_state(app)
        created = utcnow() - age
        fields = {
            "email": email,
            "password_hash": None if password is None else state.passwords.hash(password),
            "created_at": created,
            "email_verified_at": created if verified else None,
        }
        return int(state.store.create(fields).id)


def sign_up(
    client: Any,
    mailbox: Any = None,
    email: str = "ada@example.com",
    *,
    password: str = PASSWORD,
    prefix: str = "/api/users",
    path: str | None = None,
) -> str:
    """Sign up over the JSON API. Return the emailed verification link as path and query,
    its path replaced by ``path`` when given; or "" without a ``mailbox`` to read it from."""
    before = len(mailbox.messages) if mailbox is not None else 0
    r = client.post(prefix, json={"email": email, "password": password})
    # 202 and no user in the answer while the app prevents enumeration; 201 otherwise.
    assert r.status_code == (202 if client.application.config["REGISTRATION_PREVENT_ENUMERATION"] else 201), r.data

    if mailbox is None:
        return ""
    msg = mailbox.wait_for(before + 1)[before]
    assert msg["To"] == email
    parts = urlsplit(mailbox.link(msg))
    return f"{path or parts.path}?{parts.query}"


def can_log_in(app: Flask, password: str = PASSWORD, email: str = "ada@example.com") -> bool:
    """Whether the JSON login takes ``email`` and ``password`` now."""
    r = app.test_client().post("/api/users/login", json={"email": email, "password": password})
    # Two honest answers to the question; anything else (a 500, a 429) is a bug it must show.
    assert r.status_code in (200, 401), r.data[:300]
    return r.status_code == 200


@contextmanager
def made_ago(seconds: int) -> Iterator[None]:
    """Tokens made (and links emailed) inside this block carry a timestamp ``seconds`` in
    the past.

    itsdangerous stamps a token with ``TimestampSigner.get_timestamp()``. Moving that one
    clock back while a token is made is the only way to age it without waiting for it to
    expire; loading or following it happens outside the block, on the real clock.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - seconds)
        yield


# Pages (the HTML face)

INPUT_RE = re.compile(r"<input\b[^>]*>")
ATTR_RE = re.compile(r'([\w-]+)(?:="([^"]*)")?')


def inputs(page: str) -> dict[str, dict[str, str]]:
    """Every ``<input>`` of a page by name, with its attributes (values unescaped)."""
    found: dict[str, dict[str, str]] = {}
    for tag in INPUT_RE.findall(page):
        attrs = {k: unescape(v) for k, v in ATTR_RE.findall(tag[len("<input") : -1])}
        if "name" in attrs:
            found[attrs["name"]] = attrs
    return found


def hidden(client: Any, path: str) -> dict[str, str]:
    """GET ``path`` and return its hidden fields (``csrf_token``, ``next``) as a browser would send them."""
    r = client.get(path)
    assert r.status_code == 200
    return {n: a.get("value", "") for n, a in inputs(r.get_data(as_text=True)).items() if a.get("type") == "hidden"}


def forms(page: str) -> list[str]:
    """The ``action`` of every form on a page."""
    return re.findall(r'<form method="post" action="([^"]*)"', page)


def html_login(client: Any, email: str = "ada@example.com", password: str = PASSWORD) -> None:
    """Log in on the HTML login page."""
    r = client.post("/login", data={**hidden(client, "/login"), "email": email, "password": password})
    assert r.status_code == 302


def account(app: Flask) -> tuple[str, str | None]:
    """The address and pending address of the (only) user."""
    with app.app_context():
        user = db.session.scalars(db.select(User)).first()
        assert user is not None
        return user.email, user.pending_email


def reset_link(app: Flask, client: Any, mailbox: Mailbox) -> str:
    """Ask for a password reset on /forgot; return the emailed link."""
    r = client.post("/forgot", data={**hidden(client, "/forgot"), "email": "ada@example.com"})
    assert r.status_code == 200
    return mailbox.link(mailbox.wait_for(1)[0], "/reset-password")


def request_change(client: Any, mailbox: Mailbox, new: str = "ada@new.example") -> str:
    """Ask for a change of address on /account/email; return the link sent to the new one."""
    r = client.post("/account/email", data={**hidden(client, "/account/email"), "new_email": new, "password": PASSWORD})
    assert r.status_code == 200 and b"Check your new inbox" in r.data
    (msg,) = [m for m in mailbox.wait_for(2) if m["To"] == new]
    return mailbox.link(msg, "/confirm-email")


# Rate limits


def limited_app(database_url: str, mailbox: Any, storage: str, **config: Any) -> Flask:
    """An app with its rate limits on, kept in ``storage``, and a fresh database."""
    app = make_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "MAIL_SERVER": mailbox.host,
            "MAIL_PORT": mailbox.port,
            "WTF_CSRF_ENABLED": False,
            "REGISTRATION_RATE_LIMITS_ENABLED": True,
            "REGISTRATION_RATE_LIMIT_STORAGE_URI": storage,
            **config,
        }
    )
    with app.app_context():
        db.create_all()
    limits = get_state(app).rate_limits
    assert limits is not None
    limits.reset()  # a Redis outlives the test before this one
    return app


def client_at(app: Flask, address: str, **environ: str) -> Any:
    """A client whose requests come from ``address`` (the WSGI peer), with extra environ."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=address, **environ)
    return client


def schemathesis_checks() -> list[Any]:
    """The checks the schemathesis tests run on every answer (the ``schemathesis`` test
    extra; skipped without it, except under ``CI``)."""
    optional("schemathesis")
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]


# Deleting and exporting an account


def csrf_headers(client: Any, prefix: str = "/api/users") -> dict[str, str]:
    """The ``X-CSRFToken`` header a cookie-authenticated API request of ``client`` needs."""
    return {"X-CSRFToken": client.get(f"{prefix}/csrf-token").get_json()["csrfToken"]}


def api_login(client: Any, email: str = "ada@example.com", password: str = PASSWORD) -> str:
    """Log ``client`` in over the JSON API (a session cookie, and a recent
    re-authentication: the password was typed); return the access token."""
    r = client.post("/api/users/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.data[:300]
    return str(r.get_json()["id"])


def forget_reauth(client: Any) -> None:
    """Drop the re-authentication mark from ``client``'s session (a session restored, or
    copied, without the password being typed again)."""
    with client.session_transaction() as session:
        session.pop("registration_reauth", None)


def rows_of(app: Flask, user_id: Any, *models: Any) -> dict[str, int]:
    """How many rows of the user model (by ``id``) and of each of ``models`` (by
    ``user_id``) belong to user ``user_id``, by table name."""
    from sqlalchemy import func, select

    with app.app_context():
        counts = {User.__tablename__: db.session.scalar(select(func.count()).where(User.id == user_id))}
        for model in models:
            query = select(func.count()).select_from(model).where(model.user_id == user_id)
            counts[model.__tablename__] = db.session.scalar(query)
        return {name: int(n or 0) for name, n in counts.items()}


@contextmanager
def full_app(database_url: str, mailbox: Any, **config: Any) -> Iterator[Flask]:
    """An app with every model the library writes (users, access tokens, login sessions
    and linked identities: the tests' OAuth model) on a fresh database; dropped after."""
    from flask_registration import Registration
    from tests.models import AccessToken, LoginSession
    from tests.oauth_provider import OAuth  # that module imports conftest, which imports this one

    registration = Registration(
        db=db, user_model=User, token_model=AccessToken, session_model=LoginSession, oauth_model=OAuth
    )
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "MAIL_SERVER": mailbox.host, "MAIL_PORT": mailbox.port}
    app = make_app({**settings, **config}, registration=registration)
    with app.app_context():
        db.create_all()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


# Second factors


class SoftAuthenticator:
    """A software passkey for the JSON tests: an EC P-256 key that answers WebAuthn's
    ``create`` (attestation ``none``) and ``get`` as a browser's authenticator would,
    built by hand with ``cryptography`` and CBOR. Each argument a browser would fill in
    (origin, relying party, type, flags) can be set wrong on purpose."""

    def __init__(self, *, origin: str = "http://localhost", rp_id: str = "localhost") -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.origin = origin
        self.rp_id = rp_id
        self.sign_count = 0
        self.user_handle: str | None = None

    @staticmethod
    def b64(data: bytes) -> str:
        import base64

        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def cose_key(self) -> bytes:
        import cbor2

        numbers = self.key.public_key().public_numbers()
        return bytes(
            cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})
        )

    def auth_data(self, rp_id: str, flags: int, *, attested: bool) -> bytes:
        import hashlib

        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + self.sign_count.to_bytes(4, "big")
        if attested:
            cid = self.credential_id
            data += bytes(16) + len(cid).to_bytes(2, "big") + cid + self.cose_key()
        return data

    def client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        import json

        body = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(body).encode()

    def create(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None, flags: int = 0x45
    ) -> dict[str, Any]:
        """The answer to ``navigator.credentials.create()`` for these options (flags:
        user present, user verified, attested credential data)."""
        import cbor2

        self.user_handle = options["user"]["id"]
        client_data = self.client_data("webauthn.create", options["challenge"], origin)
        auth_data = self.auth_data(rp_id or self.rp_id, flags, attested=True)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": self.b64(self.credential_id),
            "rawId": self.b64(self.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": self.b64(client_data),
                "attestationObject": self.b64(attestation),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        flags: int = 0x05,
        count: bool = True,
        client_data: bytes | None = None,
    ) -> dict[str, Any]:
        """The answer to ``navigator.credentials.get()``: signed with the key, the sign
        counter raised (unless ``count`` is False)."""
        import hashlib

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        if count:
            self.sign_count += 1
        client = client_data or self.client_data("webauthn.get", options["challenge"], origin)
        auth_data = self.auth_data(rp_id or self.rp_id, flags, attested=False)
        signature = self.key.sign(auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        response = {
            "clientDataJSON": self.b64(client),
            "authenticatorData": self.b64(auth_data),
            "signature": self.b64(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = self.user_handle
        return {
            "id": self.b64(self.credential_id),
            "rawId": self.b64(self.credential_id),
            "type": "public-key",
            "clientExtensionResults": {},
            "response": response,
        }


def json_with_csrf(client: Any, method: str, path: str, body: Any = None) -> Any:
    """A cookie-authenticated JSON request of ``client`` with its ``X-CSRFToken``."""
    headers = {"X-CSRFToken": client.get("/api/users/csrf-token").get_json()["csrfToken"]}
    return client.open(path, method=method, json=body, headers=headers)


def add_passkey(client: Any, authenticator: SoftAuthenticator, name: str | None = "Laptop") -> Any:
    """Add ``authenticator``'s passkey to the logged-in user of ``client`` over the JSON
    API (options, then the answer); return the answer to the second request."""
    options = json_with_csrf(client, "POST", "/api/users/me/passkeys/options")
    assert options.status_code == 200, options.data[:300]
    body: dict[str, Any] = {"credential": authenticator.create(options.get_json())}
    if name is not None:
        body["name"] = name
    return json_with_csrf(client, "POST", "/api/users/me/passkeys", body)


def user_row(app: Flask, user_id: Any) -> User:
    """User ``user_id``'s row as stored now (detached; it must exist)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None, f"user {user_id} does not exist"
        return user


# Profile and username login


def set_username(app: Flask, user_id: int, username: str | None) -> None:
    """Store ``username`` on user ``user_id`` as given (straight into the database: no
    check, no normal form)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        user.username = username
        db.session.commit()


# Logging in with second factors


def pass_second_factor(
    client: Any,
    *,
    code: str | None = None,
    authenticator: SoftAuthenticator | None = None,
    trust: bool = False,
    next_url: str | None = None,
) -> Any:
    """On the second-factor page of ``client``'s waiting login, give ``code`` (the app's,
    or a recovery code) or ``authenticator``'s passkey, as the page's form and script do;
    return the answer to the form's POST."""
    import json

    page = client.get("/login/second-factor" + (f"?next={next_url}" if next_url else ""))
    assert page.status_code == 200, page.data[:300]
    fields = inputs(page.get_data(as_text=True))
    data = {"csrf_token": csrf_token(page.data), "next": fields["next"].get("value", "")}
    if code is not None:
        data["code"] = code
    if authenticator is not None:
        options = json_with_csrf(client, "POST", "/api/users/login/passkey/options", {"secondFactor": True})
        assert options.status_code == 200, options.data[:300]
        data["credential"] = json.dumps(authenticator.get(options.get_json()))
    if trust:
        data["trust"] = "y"
    return client.post("/login/second-factor", data=data)


def html_login_with_second_factor(
    client: Any,
    *,
    code: str | None = None,
    authenticator: SoftAuthenticator | None = None,
    email: str = "ada@example.com",
    password: str = PASSWORD,
) -> Any:
    """Log in on the HTML login page, then on the second-factor page; return the answer
    to the second page's POST."""
    r = client.post("/login", data={**hidden(client, "/login"), "email": email, "password": password})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login/second-factor"), r.data[:300]
    return pass_second_factor(client, code=code, authenticator=authenticator)


def passkey_login(client: Any, authenticator: SoftAuthenticator, **answer: Any) -> Any:
    """Log in with ``authenticator``'s passkey alone over the JSON API (options, then the
    answer; ``answer`` goes to :meth:`SoftAuthenticator.get`); return the second answer."""
    options = json_with_csrf(client, "POST", "/api/users/login/passkey/options", {})
    assert options.status_code == 200, options.data[:300]
    credential = authenticator.get(options.get_json(), **answer)
    return json_with_csrf(client, "POST", "/api/users/login/passkey", {"credential": credential})


def passkey_signup(client: Any, authenticator: SoftAuthenticator, email: str = "ada@example.com", **answer: Any) -> Any:
    """Sign up with ``authenticator``'s new passkey over the JSON API (options, then the
    answer; ``answer`` goes to :meth:`SoftAuthenticator.create`); return the second answer."""
    options = json_with_csrf(client, "POST", "/api/users/passkey-signup/options", {"email": email})
    assert options.status_code == 200, options.data[:300]
    credential = authenticator.create(options.get_json(), **answer)
    return json_with_csrf(client, "POST", "/api/users/passkey-signup", {"credential": credential})


def forget_totp_step(app: Flask, user_id: int = 1) -> None:
    """Forget which time step of user ``user_id``'s authenticator app was used last (the
    enrolment's first code): a test may then log in with the code of this step."""
    from flask_registration.factors import get_factors

    with app.app_context():
        user = get_state(app).store.get(user_id)
        store = get_factors()
        row = store.one(user, "totp")
        assert row is not None, "the user has no authenticator app"
        store.update(row, {**row.data, "last_step": -1})
