"""A local OAuth2 provider to try third-party login without an account anywhere.

An Authlib authorization server, in memory: ``/authorize`` shows a page where you say
who you are at this "provider" (an id, a name, an address, whether the provider
vouches for it) and allow or deny; ``/token`` exchanges the code; ``/userinfo`` answers
who the token's owner is, in OpenID Connect's names (``sub``, ``email``,
``email_verified``). The test suite drives the same server.

For trying things only: it has no passwords, no CSRF protection and forgets everything
when it stops. Run it with ``python examples/oauth/provider.py`` (127.0.0.1:5001) beside
``examples/oauth/app.py``; it registers that app as a client
(``REGISTRATION_OAUTH_PROVIDERS["local"]`` there).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Flask, jsonify, render_template_string, request, session

#: How long a code may wait to be exchanged, in seconds.
CODE_MAX_AGE = 300


@dataclass
class Client(ClientMixin):
    """A client registered with the provider (a site that offers "log in with ...")."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    scope: str = "openid profile email"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.client_secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict[str, Any]
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Token(TokenMixin):
    client_id: str
    access_token: str
    scope: str
    expires_in: int
    user: dict[str, Any]
    issued_at: float = field(default_factory=time.time)

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() > self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return False

    def get_user(self) -> dict[str, Any]:
        return self.user

    def get_client(self) -> None:
        return None


@dataclass
class Store:
    """Everything the provider knows, in memory."""

    clients: dict[str, Client] = field(default_factory=dict)
    codes: dict[str, Code] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)


def _store() -> Store:
    from flask import current_app

    return current_app.extensions["test_provider"]  # type: ignore[no-any-return]


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        payload = request.payload
        _store().codes[code] = Code(code, request.client.client_id, payload.redirect_uri, payload.scope, request.user)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        item = _store().codes.get(code)
        if item is None or item.client_id != client.client_id or time.time() - item.issued_at > CODE_MAX_AGE:
            return None
        return item

    def delete_authorization_code(self, authorization_code: Code) -> None:
        _store().codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> dict[str, Any]:
        return authorization_code.user


class Validator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        return _store().tokens.get(token_string)


CONSENT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Local provider</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto}
label{display:block;margin-top:.8rem}input[type=text],input[type=email]{width:100%}</style></head>
<body><h1>Local provider</h1>
<p><strong>{{ client_id }}</strong> wants to know who you are here.</p>
<form method="post" action="{{ action }}">
  <label>Your id at this provider <input type="text" name="sub" value="{{ last.sub }}" required></label>
  <label>Name <input type="text" name="name" value="{{ last.name }}"></label>
  <label>Email (leave empty: the provider gives none) <input type="email" name="email" value="{{ last.email }}"></label>
  <label><input type="checkbox" name="email_verified" value="1" {% if last.email_verified %}checked{% endif %}>
    The provider has verified this address</label>
  <p><button name="decision" value="allow">Allow</button> <button name="decision" value="deny">Deny</button></p>
</form></body></html>"""


def create_provider(config: dict[str, Any] | None = None) -> Flask:
    """The provider app (a fresh, empty store)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_hex(16),
        # It shares 127.0.0.1 with the client app, and cookies ignore ports.
        SESSION_COOKIE_NAME="local_provider_session",
        OAUTH2_TOKEN_EXPIRES_IN={"authorization_code": 3600},
    )
    app.config.update(config or {})
    app.extensions["test_provider"] = Store()
    server = AuthorizationServer(app, query_client=lambda cid: _store().clients.get(cid), save_token=_save_token)
    server.register_grant(CodeGrant)
    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(Validator())

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        if request.method == "GET":
            try:
                server.get_consent_grant(end_user=None)
            except OAuth2Error as error:
                return jsonify(dict(error.get_body())), 400
            last = session.get("last", {"sub": "", "name": "", "email": "", "email_verified": False})
            action = request.full_path
            return render_template_string(CONSENT, client_id=request.args.get("client_id"), last=last, action=action)
        user = None
        if request.form.get("decision") == "allow" and request.form.get("sub"):
            user = {"sub": request.form["sub"], "name": request.form.get("name", "")}
            if request.form.get("email"):
                user["email"] = request.form["email"]
                user["email_verified"] = request.form.get("email_verified") == "1"
            session["last"] = {**{"email": "", "email_verified": False}, **user}
        try:
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            return jsonify(dict(error.get_body())), 400
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/token")
    def token() -> Any:
        return server.create_token_response()

    @app.get("/userinfo")
    @require_oauth()
    def userinfo() -> Any:
        return jsonify(current_token.user)

    return app


def _save_token(token: dict[str, Any], request: Any) -> None:
    _store().tokens[token["access_token"]] = Token(
        client_id=request.client.client_id,
        access_token=token["access_token"],
        scope=token.get("scope", ""),
        expires_in=int(token.get("expires_in", 3600)),
        user=request.user,
    )


def register_client(
    app: Flask, client_id: str, client_secret: str, redirect_uris: list[str], scope: str = "openid profile email"
) -> Client:
    """Register a client with the provider (a site that sends people here to log in)."""
    client = Client(client_id, client_secret, list(redirect_uris), scope)
    app.extensions["test_provider"].clients[client_id] = client
    return client


if __name__ == "__main__":
    provider = create_provider()
    register_client(
        provider,
        "example-app",
        "example-secret",
        ["http://127.0.0.1:5000/login/local/authorized"],
    )
    provider.run(host="127.0.0.1", port=5001)
