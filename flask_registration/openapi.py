"""The JSON API as an OpenAPI 3.1 document, made from the app's settings.

The API serves it at ``GET <REGISTRATION_API_PREFIX>/openapi.json``: the paths under the
app's prefix, the signup fields of ``REGISTRATION_SIGNUP_FIELDS`` typed from the app's
columns, and the answers that ``REGISTRATION_PREVENT_ENUMERATION`` decides.
``docs/openapi.json`` is :func:`document` for the default settings. The test suite
fuzzes the live demo against the served document with schemathesis.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import Boolean, Float, Integer, Numeric, String
from sqlalchemy import inspect as sa_inspect

from .validation import EMAIL_MAX_LENGTH, FIELD_MAX_LENGTH

Schema = dict[str, Any]

_MESSAGES = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    302: "Found: a redirect to the local `redirect` path",
    400: "Malformed JSON, a bad or expired link, or a wrong current password",
    401: "Not logged in, or the login was refused",
    403: "A cookie-authenticated request without a valid `X-CSRFToken` header",
    404: "No such account: deleted since the link was sent, or (enumeration prevention off) the address has none",
    409: "The provider is the account's only way to log in",
    413: "The body is over `REGISTRATION_MAX_BODY_SIZE`",
    415: "The body was not sent as `application/json`",
    422: "The data is not acceptable (details name the fields)",
    429: "Too many attempts: wait `Retry-After` seconds",
}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]} if "type" in schema else schema


def column_schema(column: Any) -> Schema:
    """The JSON schema of a value for one of the app's columns."""
    kind = column.type
    if isinstance(kind, Boolean):
        schema: Schema = {"type": "boolean"}
    elif isinstance(kind, Integer):
        schema = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
    elif isinstance(kind, Float | Numeric):
        schema = {"type": "number"}
    elif isinstance(kind, String):
        schema = {"type": "string", "maxLength": kind.length or FIELD_MAX_LENGTH}
    else:
        schema = {}
    return _nullable(schema) if column.nullable else schema


def _error_schema() -> Schema:
    strings = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}
    return {
        "type": "object",
        "description": "LoopBack's error shape. `code` is stable; `details` only for field errors.",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["statusCode", "name", "message", "code"],
                "additionalProperties": False,
                "properties": {
                    "statusCode": {"type": "integer"},
                    "name": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                    "details": {
                        "type": "object",
                        "required": ["context", "codes", "messages"],
                        "additionalProperties": False,
                        "properties": {"context": {"type": "string"}, "codes": strings, "messages": strings},
                    },
                },
            }
        },
    }


def _error(status: int) -> Schema:
    """The response of one error status: the error shape with that ``statusCode``."""
    schema: Schema = {
        "allOf": [
            {"$ref": "#/components/schemas/Error"},
            {"properties": {"error": {"properties": {"statusCode": {"const": status}}}}},
        ]
    }
    response: Schema = {"description": _MESSAGES[status], "content": {"application/json": {"schema": schema}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def _json(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(name: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _object(required: list[str], properties: dict[str, Schema]) -> Schema:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def _operation(summary: str, responses: dict[int, Schema], errors: tuple[int, ...], **extra: Any) -> Schema:
    answers = {str(status): response for status, response in responses.items()}
    answers.update({str(status): {"$ref": f"#/components/responses/Error{status}"} for status in errors})
    return {"summary": summary, "responses": dict(sorted(answers.items())), **extra}


def _post(
    summary: str, body: str, errors: tuple[int, ...], answer: dict[int, Schema] | None = None, **extra: Any
) -> Schema:
    """A ``POST`` operation with a JSON body (schema ``body``), answering 204 by default."""
    return _operation(summary, answer or {204: {"description": "No Content"}}, errors, requestBody=_body(body), **extra)


def _link_params(what: str) -> list[Schema]:
    text = {"type": "string"}
    return [
        {"name": "uid", "in": "query", "required": True, "schema": text, "description": f"The user id of the {what}."},
        {"name": "token", "in": "query", "required": True, "schema": text, "description": f"The {what}'s token."},
        {
            "name": "redirect",
            "in": "query",
            "required": False,
            "schema": text,
            "description": "A path on this site (or a host of `REGISTRATION_ALLOWED_REDIRECT_HOSTS`) to go to after.",
        },
    ]


def document(
    *,
    prefix: str = "/api/users",
    signup_fields: dict[str, Schema] | None = None,
    user_fields: dict[str, Schema] | None = None,
    id_schema: Schema | None = None,
    prevent_enumeration: bool = True,
    access_tokens: bool = False,
    password_min: int = 8,
    password_max: int = 1024,
    max_ttl: int = 365 * 24 * 3600,
    session_cookie: str = "session",
    identities: bool = False,
    loopback_confirm_links: bool = False,
) -> Schema:
    """The OpenAPI 3.1 document of the JSON API for these settings.

    :param signup_fields: the schema of each field of ``REGISTRATION_SIGNUP_FIELDS``.
    :param user_fields: those of them that the user object shows (the model's columns).
    :param identities: whether third-party login is set up (the ``/me/identities`` routes).
    :param loopback_confirm_links: whether LoopBack's ``GET`` confirm routes are on.
    """
    from . import __version__

    text = {"type": "string", "minLength": 1}
    address = {"type": "string", "format": "email", "minLength": 1, "maxLength": EMAIL_MAX_LENGTH}
    password = {"type": "string", "minLength": password_min, "maxLength": password_max}
    body_errors = (400, 403, 413, 415, 422)
    enum_404 = () if prevent_enumeration else (404,)
    user = _object(
        ["id", "email", "emailVerified", "pendingEmail", "createdAt"],
        {
            "id": id_schema or {"type": "integer"},
            "email": {"type": "string"},
            "emailVerified": {"type": "boolean"},
            "pendingEmail": {"type": ["string", "null"]},
            "createdAt": {"type": "string", "format": "date-time"},
            **(user_fields or {}),
        },
    )
    created = _object([*user["required"], "emailSent"], {**user["properties"], "emailSent": {"type": "boolean"}})
    login_result: Schema = _object(["userId", "user"], {"userId": user["properties"]["id"], "user": _ref("User")})
    if access_tokens:
        login_result = _object(
            ["id", "ttl", "created", "userId", "user"],
            {
                "id": {"type": "string", "description": "The access token: send it as `Authorization: Bearer <id>`."},
                "ttl": {"type": "integer", "minimum": 1},
                "created": {"type": "string", "format": "date-time"},
                "userId": user["properties"]["id"],
                "user": _ref("User"),
            },
        )
    if prevent_enumeration:
        signup_answer = {202: _json("Accepted, the same for a new and a taken address", _ref("SignupAccepted"))}
    else:
        signup_answer = {201: _json("The new user", _ref("UserCreated"))}
    # A change needs the session and the CSRF header, or an access token; a read, either.
    logged_in: list[Schema] = [{"session": [], "csrfToken": []}]
    reading: list[Schema] = [{"session": []}]
    if access_tokens:
        logged_in.append({"accessToken": []})
        reading.append({"accessToken": []})
    none = {204: {"description": "No Content"}}
    redirect = {
        302: {"description": _MESSAGES[302], "headers": {"Location": {"$ref": "#/components/headers/Location"}}}
    }

    paths: dict[str, Schema] = {
        "": {"post": _post("Sign up", "SignupBody", (*body_errors, 429), signup_answer)},
        "/confirm": {
            "post": _post(
                "Verify an address (with the account's password, or a new one)", "Confirm", (*body_errors, 404, 429)
            )
        },
        "/reauthenticate": {
            "post": _post(
                "Confirm it is you (marks this browser session)",
                "Reauthenticate",
                (*body_errors, 401, 429),
                security=logged_in,
            )
        },
        "/verify": {"post": _post("Send the link again", "Email", (*body_errors, *enum_404, 429))},
        "/login": {"post": _post("Log in", "Login", (*body_errors, 401, 429), {200: _json("Logged in", login_result)})},
        "/logout": {"post": _operation("Log out", none, (403,))},
        "/logout-all": {"post": _operation("Log out everywhere", none, (401, 403), security=logged_in)},
        "/me": {
            "get": _operation("The logged-in user", {200: _json("The user", _ref("User"))}, (401,), security=reading)
        },
        "/reset": {"post": _post("Ask for a reset link", "Email", (*body_errors, *enum_404, 429))},
        "/reset-password": {"post": _post("Set a new password", "ResetPassword", (*body_errors, 404))},
        "/change-password": {
            "post": _post("Change the password", "ChangePassword", (*body_errors, 401, 429), security=logged_in)
        },
        "/change-email": {
            "post": _post(
                "Ask to change the address",
                "ChangeEmail",
                (*body_errors, 401, 429),
                {202: _json("The link was sent to the new address", _ref("ChangeEmailAccepted"))},
                security=logged_in,
            )
        },
        "/change-email/cancel": {"post": _operation("Cancel the change", none, (401, 403), security=logged_in)},
        "/confirm-email": {"post": _post("Apply a new address", "Link", (*body_errors, 404))},
        "/csrf-token": {
            "get": _operation(
                "A CSRF token", {200: _json("The token", _object(["csrfToken"], {"csrfToken": {"type": "string"}}))}, ()
            )
        },
        "/openapi.json": {"get": _operation("This document", {200: _json("OpenAPI 3.1", {"type": "object"})}, ())},
    }
    if loopback_confirm_links:
        # LoopBack's links, which change state when opened (REGISTRATION_LOOPBACK_CONFIRM_LINKS).
        paths["/confirm"]["get"] = _operation(
            "Verify an address on opening the link", {**none, **redirect}, (400, 404), parameters=_link_params("link")
        )
        paths["/confirm-email"]["get"] = _operation(
            "Apply a new address on opening the link",
            {**none, **redirect},
            (400, 404, 422),
            parameters=_link_params("change link"),
        )
    schemas: dict[str, Schema] = {}
    if identities:
        provider = [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}]
        schemas["Identity"] = _object(
            ["id", "provider", "title", "externalId", "userId", "created"],
            {
                "id": {"type": "integer"},
                "provider": {"type": "string"},
                "title": {"type": "string"},
                "externalId": {"type": "string"},
                "userId": user["properties"]["id"],
                "created": {"type": ["string", "null"], "format": "date-time"},
            },
        )
        listed = {"type": "array", "items": _ref("Identity")}
        paths["/me/identities"] = {
            "get": _operation("The linked providers", {200: _json("Identities", listed)}, (401,), security=reading)
        }
        paths["/me/identities/{provider}"] = {
            "delete": _operation(
                "Unlink a provider", none, (401, 403, 404, 409), parameters=provider, security=logged_in
            )
        }
    schemes: dict[str, Schema] = {
        "session": {"type": "apiKey", "in": "cookie", "name": session_cookie},
        "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
    }
    if access_tokens:
        schemes["accessToken"] = {"type": "http", "scheme": "bearer"}
    # Only the error responses some operation uses (409 comes with the identities routes).
    operations = [op for item in paths.values() for op in item.values()]
    used = {answer.get("$ref") for op in operations for answer in op["responses"].values()}
    statuses = sorted(s for s in _MESSAGES if s >= 400 and f"#/components/responses/Error{s}" in used)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "flask-registration JSON API",
            "version": __version__,
            "description": (
                "LoopBack's User REST paths and error shape. A request that changes state and "
                "carries the session or remember-me cookie needs the `X-CSRFToken` header (from "
                "`GET csrf-token`); a request without those cookies, or with an access token, "
                "needs none. Bodies are `application/json` only."
            ),
        },
        "paths": {prefix + path: item for path, item in paths.items()},
        "components": {
            "schemas": {
                "Error": _error_schema(),
                "User": user,
                "UserCreated": created,
                "SignupBody": _object(
                    ["email", "password"],
                    {"email": address, "password": password, **(signup_fields or {})},
                ),
                "SignupAccepted": _object(
                    ["email", "emailSent", "message"],
                    {"email": {"type": "string"}, "emailSent": {"type": "boolean"}, "message": {"type": "string"}},
                ),
                "Email": _object(["email"], {"email": address}),
                "Link": _object(["uid", "token"], {"uid": text, "token": text}),
                "Confirm": _object(
                    ["uid", "token"], {"uid": text, "token": text, "password": text, "newPassword": password}
                ),
                "Reauthenticate": _object(["password"], {"password": text}),
                "Login": _object(
                    ["email", "password"],
                    {
                        "email": text,
                        "password": text,
                        "remember": {"type": "boolean"},
                        "ttl": {"type": "integer", "minimum": 1, "maximum": max_ttl},
                    },
                ),
                "ResetPassword": _object(["token", "newPassword"], {"token": text, "newPassword": password}),
                "ChangePassword": _object(
                    ["oldPassword", "newPassword"], {"oldPassword": text, "newPassword": password}
                ),
                "ChangeEmail": _object(["newEmail", "password"], {"newEmail": address, "password": text}),
                "ChangeEmailAccepted": _object(
                    ["emailSent", "message"], {"emailSent": {"type": "boolean"}, "message": {"type": "string"}}
                ),
                **schemas,
            },
            "responses": {f"Error{status}": _error(status) for status in statuses},
            "headers": {
                "RetryAfter": {"required": True, "schema": {"type": "integer", "minimum": 1}},
                "Location": {"required": True, "schema": {"type": "string"}},
            },
            "securitySchemes": schemes,
        },
    }


def for_app(app: Flask) -> Schema:
    """The document for ``app``'s settings and user model."""
    config = app.config
    state = app.extensions["registration"]
    model = state.store.model
    columns = model.__table__.c
    signup_fields: dict[str, Schema] = {}
    user_fields: dict[str, Schema] = {}
    mapped = set(sa_inspect(model).column_attrs.keys())
    for name in config["REGISTRATION_SIGNUP_FIELDS"]:
        column = columns.get(name)
        if column is not None and name in mapped:
            signup_fields[name] = user_fields[name] = column_schema(column)
        else:  # not a column: it only reaches the hooks
            signup_fields[name] = {"type": ["string", "number", "boolean", "null"], "maxLength": FIELD_MAX_LENGTH}
    id_column = columns.id
    id_schema = {"type": "integer"} if isinstance(id_column.type, Integer) else {"type": "string"}
    return document(
        prefix=config["REGISTRATION_API_PREFIX"],
        signup_fields=signup_fields,
        user_fields=user_fields,
        id_schema=id_schema,
        prevent_enumeration=config["REGISTRATION_PREVENT_ENUMERATION"],
        access_tokens=state.store.token_model is not None,
        password_min=config["REGISTRATION_PASSWORD_MIN_LENGTH"],
        password_max=config["REGISTRATION_PASSWORD_MAX_LENGTH"],
        max_ttl=int(config["REGISTRATION_ACCESS_TOKEN_MAX_TTL"].total_seconds()),
        session_cookie=config["SESSION_COOKIE_NAME"],
        identities="registration_connections_api" in app.blueprints,
        loopback_confirm_links=config["REGISTRATION_LOOPBACK_CONFIRM_LINKS"],
    )
