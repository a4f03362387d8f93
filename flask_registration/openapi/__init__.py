"""The JSON API as an OpenAPI 3.1 document, made from the app's settings.

The API serves it at ``GET <REGISTRATION_API_PREFIX>/openapi.json``: the paths under the
app's prefix, the signup fields of ``REGISTRATION_SIGNUP_FIELDS`` typed from the app's
columns, and the answers that ``REGISTRATION_PREVENT_ENUMERATION`` decides.
``docs/openapi.json`` is :func:`document` for the default settings. The test suite
fuzzes the live demo against the served document with schemathesis.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from sqlalchemy import Integer
from sqlalchemy import inspect as sa_inspect

from ..flows.profile import declared_fields
from ..validation import EMAIL_MAX_LENGTH, FIELD_MAX_LENGTH
from . import factors, lifecycle, profile
from .parts import (
    MESSAGES,
    Schema,
    column_schema,
    error_response,
    error_schema,
    json_response,
    link_params,
    obj,
    operation,
    post,
    ref,
)

__all__ = ["Schema", "column_schema", "document", "for_app"]


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
    profile_fields: dict[str, Schema] | None = None,
    username_login: bool = False,
    sections: Iterable[tuple[dict[str, Schema], dict[str, Schema]]] = (),
) -> Schema:
    """The OpenAPI 3.1 document of the JSON API for these settings.

    :param signup_fields: the schema of each field of ``REGISTRATION_SIGNUP_FIELDS``.
    :param user_fields: those of them that the user object shows (the model's columns).
    :param identities: whether third-party login is set up (the ``/me/identities`` routes).
    :param loopback_confirm_links: whether LoopBack's ``GET`` confirm routes are on.
    :param profile_fields: the schema of each field of ``REGISTRATION_PROFILE_FIELDS``.
    :param username_login: whether a login may give ``username`` instead of ``email``.
    :param sections: more ``(paths, schemas)`` pairs, each from a module of this package
        that describes one face's routes; operations on a path already listed are added
        beside the ones there.
    """
    from .. import __version__

    text = {"type": "string", "minLength": 1}
    address = {"type": "string", "format": "email", "minLength": 1, "maxLength": EMAIL_MAX_LENGTH}
    password = {"type": "string", "minLength": password_min, "maxLength": password_max}
    body_errors = (400, 403, 413, 415, 422)
    enum_404 = () if prevent_enumeration else (404,)
    user = obj(
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
    created = obj([*user["required"], "emailSent"], {**user["properties"], "emailSent": {"type": "boolean"}})
    login_result: Schema = obj(["userId", "user"], {"userId": user["properties"]["id"], "user": ref("User")})
    if access_tokens:
        login_result = obj(
            ["id", "ttl", "created", "userId", "user"],
            {
                "id": {"type": "string", "description": "The access token: send it as `Authorization: Bearer <id>`."},
                "ttl": {"type": "integer", "minimum": 1},
                "created": {"type": "string", "format": "date-time"},
                "userId": user["properties"]["id"],
                "user": ref("User"),
            },
        )
    if prevent_enumeration:
        signup_answer = {202: json_response("Accepted, the same for a new and a taken address", ref("SignupAccepted"))}
    else:
        signup_answer = {201: json_response("The new user", ref("UserCreated"))}
    # A change needs the session and the CSRF header, or an access token; a read, either.
    logged_in: list[Schema] = [{"session": [], "csrfToken": []}]
    reading: list[Schema] = [{"session": []}]
    if access_tokens:
        logged_in.append({"accessToken": []})
        reading.append({"accessToken": []})
    none = {204: {"description": "No Content"}}
    redirect = {302: {"description": MESSAGES[302], "headers": {"Location": {"$ref": "#/components/headers/Location"}}}}

    paths: dict[str, Schema] = {
        "": {"post": post("Sign up", "SignupBody", (*body_errors, 429, 503), signup_answer)},
        "/confirm": {
            "post": post(
                "Verify an address (with the account's password, or a new one)",
                "Confirm",
                (*body_errors, 404, 429, 503),
            )
        },
        "/reauthenticate": {
            "post": post(
                "Confirm it is you (marks this browser session)",
                "Reauthenticate",
                (*body_errors, 401, 429, 503),
                security=logged_in,
            )
        },
        "/verify": {"post": post("Send the link again", "Email", (*body_errors, *enum_404, 429))},
        "/login": {
            "post": post(
                "Log in", "Login", (*body_errors, 401, 429, 503), {200: json_response("Logged in", login_result)}
            )
        },
        "/logout": {"post": operation("Log out", none, (403,))},
        "/logout-all": {"post": operation("Log out everywhere", none, (401, 403), security=logged_in)},
        "/me": {
            "get": operation(
                "The logged-in user", {200: json_response("The user", ref("User"))}, (401,), security=reading
            )
        },
        "/reset": {"post": post("Ask for a reset link", "Email", (*body_errors, *enum_404, 429))},
        "/reset-password": {"post": post("Set a new password", "ResetPassword", (*body_errors, 404, 503))},
        "/change-password": {
            "post": post("Change the password", "ChangePassword", (*body_errors, 401, 429, 503), security=logged_in)
        },
        "/change-email": {
            "post": post(
                "Ask to change the address",
                "ChangeEmail",
                (*body_errors, 401, 429, 503),
                {202: json_response("The link was sent to the new address", ref("ChangeEmailAccepted"))},
                security=logged_in,
            )
        },
        "/change-email/cancel": {"post": operation("Cancel the change", none, (401, 403), security=logged_in)},
        "/confirm-email": {"post": post("Apply a new address", "Link", (*body_errors, 404))},
        "/csrf-token": {
            "get": operation(
                "A CSRF token",
                {200: json_response("The token", obj(["csrfToken"], {"csrfToken": {"type": "string"}}))},
                (),
            )
        },
        "/openapi.json": {
            "get": operation("This document", {200: json_response("OpenAPI 3.1", {"type": "object"})}, ())
        },
    }
    if loopback_confirm_links:
        # LoopBack's links, which change state when opened (REGISTRATION_LOOPBACK_CONFIRM_LINKS).
        paths["/confirm"]["get"] = operation(
            "Verify an address on opening the link", {**none, **redirect}, (400, 404), parameters=link_params("link")
        )
        paths["/confirm-email"]["get"] = operation(
            "Apply a new address on opening the link",
            {**none, **redirect},
            (400, 404, 422),
            parameters=link_params("change link"),
        )
    schemas: dict[str, Schema] = {}
    if identities:
        provider = [{"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}}]
        schemas["Identity"] = obj(
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
        listed = {"type": "array", "items": ref("Identity")}
        paths["/me/identities"] = {
            "get": operation(
                "The linked providers", {200: json_response("Identities", listed)}, (401,), security=reading
            )
        }
        paths["/me/identities/{provider}"] = {
            "delete": operation(
                "Unlink a provider", none, (401, 403, 404, 409), parameters=provider, security=logged_in
            )
        }
    # The profile (profile_api), an account's end (lifecycle_api), then the callers' sections.
    profile_paths = profile.section(
        fields=profile_fields or {},
        id_schema=user["properties"]["id"],
        logged_in=logged_in,
        reading=reading,
        username_login=username_login,
    )
    ends = lifecycle.section(id_schema=user["properties"]["id"], logged_in=logged_in, reading=reading)
    for more_paths, more_schemas in (profile_paths, ends, *sections):
        for path, item in more_paths.items():
            paths[path] = {**paths.get(path, {}), **item}
        schemas.update(more_schemas)
    schemes: dict[str, Schema] = {
        "session": {"type": "apiKey", "in": "cookie", "name": session_cookie},
        "csrfToken": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
    }
    if access_tokens:
        schemes["accessToken"] = {"type": "http", "scheme": "bearer"}
    # Only the error responses some operation uses (409 comes with the identities routes).
    operations = [op for item in paths.values() for op in item.values()]
    used = {answer.get("$ref") for op in operations for answer in op["responses"].values()}
    statuses = sorted(s for s in MESSAGES if s >= 400 and f"#/components/responses/Error{s}" in used)
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
                "Error": error_schema(),
                "User": user,
                "UserCreated": created,
                "SignupBody": obj(
                    ["email", "password"],
                    {"email": address, "password": password, **(signup_fields or {})},
                ),
                "SignupAccepted": obj(
                    ["email", "emailSent", "message"],
                    {"email": {"type": "string"}, "emailSent": {"type": "boolean"}, "message": {"type": "string"}},
                ),
                "Email": obj(["email"], {"email": address}),
                "Link": obj(["uid", "token"], {"uid": text, "token": text}),
                "Confirm": obj(
                    ["uid", "token"], {"uid": text, "token": text, "password": text, "newPassword": password}
                ),
                "Reauthenticate": obj(["password"], {"password": text}),
                "Login": login_schema(text, max_ttl, username_login),
                "ResetPassword": obj(["token", "newPassword"], {"token": text, "newPassword": password}),
                "ChangePassword": obj(["oldPassword", "newPassword"], {"oldPassword": text, "newPassword": password}),
                "ChangeEmail": obj(["newEmail", "password"], {"newEmail": address, "password": text}),
                "ChangeEmailAccepted": obj(
                    ["emailSent", "message"], {"emailSent": {"type": "boolean"}, "message": {"type": "string"}}
                ),
                **schemas,
            },
            "responses": {f"Error{status}": error_response(status) for status in statuses},
            "headers": {
                "RetryAfter": {"required": True, "schema": {"type": "integer", "minimum": 1}},
                "Location": {"required": True, "schema": {"type": "string"}},
            },
            "securitySchemes": schemes,
        },
    }


def login_schema(text: Schema, max_ttl: int, username_login: bool) -> Schema:
    """The login body: ``email`` and ``password``; with username login, ``username`` may
    stand in for ``email`` (neither: 400 ``USERNAME_EMAIL_REQUIRED``)."""
    names = {"email": text, "username": text} if username_login else {"email": text}
    ttl = {"type": "integer", "minimum": 1, "maximum": max_ttl}
    login = obj(
        ["password"] if username_login else ["email", "password"],
        {**names, "password": text, "remember": {"type": "boolean"}, "ttl": ttl},
    )
    if username_login:
        login["anyOf"] = [{"required": ["email"]}, {"required": ["username"]}]
    return login


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
    profile_fields = {name: column_schema(columns[name]) for name in declared_fields(app)}
    user_fields.update(profile_fields)
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
        profile_fields=profile_fields,
        username_login="username" in config["REGISTRATION_LOGIN_FIELDS"],
        # Second factors' routes, when the app has a factor model (flask_registration.factors).
        sections=[
            factors.section(
                access_tokens=state.store.token_model is not None,
                id_schema=id_schema,
                prevent_enumeration=config["REGISTRATION_PREVENT_ENUMERATION"],
                login=login_schema(
                    {"type": "string", "minLength": 1},
                    int(config["REGISTRATION_ACCESS_TOKEN_MAX_TTL"].total_seconds()),
                    "username" in config["REGISTRATION_LOGIN_FIELDS"],
                ),
            )
        ]
        if state.factors
        else [],
    )
