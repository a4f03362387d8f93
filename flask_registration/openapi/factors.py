"""The OpenAPI paths of :mod:`flask_registration.factors.api` (passkeys, the
authenticator app and recovery codes of the logged-in user) and of
:mod:`flask_registration.factors.login_api` (the second step of a login, logging in and
signing up with a passkey, re-authenticating with one); ``POST /login`` takes ``code``
and may answer ``SECOND_FACTOR_REQUIRED``. In the document only when the app has a factor
model (:func:`~flask_registration.openapi.for_app`)."""

from __future__ import annotations

from .parts import Schema, json_response, obj, operation, post, ref

_DATE = {"type": "string", "format": "date-time"}
_MAYBE_DATE = {"type": ["string", "null"], "format": "date-time"}
_CODES = {"type": "array", "items": {"type": "string"}, "description": "Shown this once: keep them safe."}

_SCHEMAS: dict[str, Schema] = {
    "Passkey": obj(
        ["id", "name", "created", "lastUsed", "backupEligible", "backedUp"],
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "created": _DATE,
            "lastUsed": _MAYBE_DATE,
            "backupEligible": {"type": "boolean"},
            "backedUp": {"type": "boolean"},
        },
    ),
    "Factors": obj(
        ["passkeys", "totp", "recoveryCodesLeft"],
        {
            "passkeys": {"type": "array", "items": ref("Passkey")},
            "totp": {
                "oneOf": [
                    {"type": "null"},
                    obj(
                        ["id", "created", "lastUsed"],
                        {"id": {"type": "integer"}, "created": _DATE, "lastUsed": _MAYBE_DATE},
                    ),
                ]
            },
            "recoveryCodesLeft": {"type": ["integer", "null"], "minimum": 0},
        },
    ),
    "PasskeyBody": obj(
        ["credential"],
        {
            "credential": {
                "type": "object",
                "description": "The answer of `navigator.credentials.create()` in WebAuthn's JSON shape.",
            },
            "name": {"type": ["string", "null"], "maxLength": 64},
        },
    ),
    "PasskeyAdded": {
        "allOf": [ref("Passkey")],
        "type": "object",
        "required": ["recoveryCodes"],
        "properties": {"recoveryCodes": _CODES},
    },
    "PasskeyName": obj(["name"], {"name": {"type": "string", "minLength": 1, "maxLength": 64}}),
    "TotpSetup": obj(
        ["secret", "uri", "qrSvg"],
        {"secret": {"type": "string"}, "uri": {"type": "string"}, "qrSvg": {"type": "string"}},
    ),
    "TotpCode": obj(["code"], {"code": {"type": "string", "minLength": 1}}),
    "TotpAdded": obj(
        ["id", "created", "recoveryCodes"], {"id": {"type": "integer"}, "created": _DATE, "recoveryCodes": _CODES}
    ),
    "RecoveryCodes": obj(["recoveryCodes"], {"recoveryCodes": _CODES}),
}


def section(
    *,
    access_tokens: bool,
    session_cookie: str = "session",
    id_schema: Schema | None = None,
    prevent_enumeration: bool = True,
    login: Schema | None = None,
) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """The ``(paths, schemas)`` of second factors, for :func:`~flask_registration.openapi.document`.

    A change needs the browser session (and its CSRF header) with a recent
    re-authentication, which an access token never has; a read takes either. ``login``
    is the core's login body, which gains ``code``.
    """
    changing: list[Schema] = [{"session": [], "csrfToken": []}]
    reading: list[Schema] = [{"session": []}, *([{"accessToken": []}] if access_tokens else [])]
    none = {204: {"description": "No Content"}}
    factor_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    body_errors = (400, 401, 403, 413, 415, 422)
    paths: dict[str, Schema] = {
        "/me/factors": {
            "get": operation(
                "The logged-in user's second factors",
                {200: json_response("Factors", ref("Factors"))},
                (401,),
                security=reading,
            )
        },
        "/me/passkeys": {
            "get": operation(
                "The logged-in user's passkeys",
                {200: json_response("Passkeys", {"type": "array", "items": ref("Passkey")})},
                (401,),
                security=reading,
            ),
            "post": post(
                "Add a passkey (the authenticator's answer to the options)",
                "PasskeyBody",
                (*body_errors, 409),
                {201: json_response("The passkey, and the first recovery codes", ref("PasskeyAdded"))},
                security=changing,
            ),
        },
        "/me/passkeys/options": {
            "post": operation(
                "WebAuthn's options to create a passkey",
                {200: json_response("PublicKeyCredentialCreationOptionsJSON", {"type": "object"})},
                (401, 403),
                security=changing,
            )
        },
        "/me/passkeys/{id}": {
            "patch": post(
                "Rename a passkey",
                "PasskeyName",
                (*body_errors, 404),
                {200: json_response("The passkey", ref("Passkey"))},
                parameters=factor_id,
                security=changing,
            ),
            "delete": operation("Remove a passkey", none, (401, 403, 404), parameters=factor_id, security=changing),
        },
        "/me/totp": {
            "post": operation(
                "A new authenticator-app secret (confirm it with a first code)",
                {200: json_response("The secret, its URI and QR code", ref("TotpSetup"))},
                (401, 403, 409),
                security=changing,
            ),
            "delete": operation("Remove the authenticator app", none, (401, 403, 404), security=changing),
        },
        "/me/totp/confirm": {
            "post": post(
                "Turn the authenticator app on with its first code",
                "TotpCode",
                (*body_errors, 409),
                {201: json_response("On, and the first recovery codes", ref("TotpAdded"))},
                security=changing,
            )
        },
        "/me/recovery-codes": {
            "post": operation(
                "A new set of recovery codes (the old one stops working)",
                {201: json_response("The codes", ref("RecoveryCodes"))},
                (401, 403, 409),
                security=changing,
            ),
            "delete": operation("Remove the recovery codes", none, (401, 403, 404), security=changing),
        },
    }
    login_paths, login_schemas = _login_section(
        access_tokens=access_tokens,
        id_schema=id_schema or {"type": "integer"},
        prevent_enumeration=prevent_enumeration,
        login=login,
    )
    return {**paths, **login_paths}, {**_SCHEMAS, **login_schemas}


def _login_section(
    *, access_tokens: bool, id_schema: Schema, prevent_enumeration: bool, login: Schema | None
) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """The paths and schemas of :mod:`flask_registration.factors.login_api`, and what
    second factors change in ``POST /login`` and ``POST /reauthenticate``."""
    text = {"type": "string", "minLength": 1}
    result: Schema = obj(["userId", "user"], {"userId": id_schema, "user": ref("User")})
    if access_tokens:
        result = obj(
            ["id", "ttl", "created", "userId", "user"],
            {
                "id": {"type": "string", "description": "The access token: send it as `Authorization: Bearer <id>`."},
                "ttl": {"type": "integer", "minimum": 1},
                "created": _DATE,
                "userId": id_schema,
                "user": ref("User"),
            },
        )
    answer = {200: json_response("Logged in (the token is issued only now)", ref("LoginResult"))}
    required = {
        401: json_response(
            "`SECOND_FACTOR_REQUIRED` (with `details.methods`), a wrong or used code, or the login was refused",
            ref("SecondFactorRequired"),
        )
    }
    options = json_response("PublicKeyCredentialRequestOptionsJSON", {"type": "object"})
    body_errors = (400, 403, 413, 415, 422)
    if prevent_enumeration:
        signed_up = {202: json_response("Accepted, the same for a new and a taken address", ref("SignupAccepted"))}
    else:
        signed_up = {201: json_response("The new user", ref("UserCreated"))}
    paths: dict[str, Schema] = {
        "/login": {
            "post": post(
                "Log in (with `code` for an account with a second factor)",
                "Login",
                (*body_errors, 429, 503),
                {**answer, **required},
            )
        },
        "/login/second-factor": {
            "post": post(
                "Finish a login that waits for its second factor, with a code",
                "SecondFactorCode",
                (*body_errors, 401, 429),
                answer,
            )
        },
        "/login/passkey/options": {
            "post": post(
                "WebAuthn's options to log in with a passkey (alone, or as the second factor)",
                "PasskeyLoginOptions",
                (*body_errors, 401),
                {200: options},
            )
        },
        "/login/passkey": {"post": post("Log in with a passkey", "PasskeyLogin", (*body_errors, 401, 429), answer)},
        "/passkey-signup/options": {
            "post": post(
                "WebAuthn's options to sign up with a passkey (the address and extra fields)",
                "PasskeySignupStart",
                body_errors,
                {200: json_response("PublicKeyCredentialCreationOptionsJSON", {"type": "object"})},
            )
        },
        "/passkey-signup": {
            "post": post("Sign up with a passkey (its answer)", "PasskeyAnswer", (*body_errors, 409, 429), signed_up)
        },
        "/reauthenticate/passkey/options": {
            "post": operation(
                "WebAuthn's options to confirm it is you with a passkey (the answer goes to /reauthenticate)",
                {200: options},
                (400, 401, 403),
                security=[{"session": [], "csrfToken": []}],
            )
        },
    }
    credential = {"type": "object", "description": "The authenticator's answer, in WebAuthn's JSON shape."}
    ttl = {"type": "integer", "minimum": 1}
    schemas: dict[str, Schema] = {
        "LoginResult": result,
        "SecondFactorRequired": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["statusCode", "name", "message", "code"],
                    "properties": {
                        "statusCode": {"const": 401},
                        "name": {"type": "string"},
                        "message": {"type": "string"},
                        "code": {"type": "string"},
                        "details": {
                            "type": "object",
                            "description": "`methods` with `SECOND_FACTOR_REQUIRED`; field errors otherwise.",
                            "properties": {
                                "methods": {
                                    "type": "array",
                                    "items": {"enum": ["passkey", "totp", "recovery_code"]},
                                }
                            },
                        },
                    },
                }
            },
        },
        "SecondFactorCode": obj(["code"], {"code": text, "ttl": ttl}),
        "PasskeyLoginOptions": obj([], {"secondFactor": {"type": "boolean"}}),
        "PasskeyLogin": obj(["credential"], {"credential": credential, "remember": {"type": "boolean"}, "ttl": ttl}),
        "PasskeySignupStart": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string", "format": "email", "minLength": 1}},
            "description": "The address, and the extra fields of `REGISTRATION_SIGNUP_FIELDS`.",
        },
        "PasskeyAnswer": obj(["credential"], {"credential": credential}),
        "Reauthenticate": {
            "oneOf": [
                obj(["password"], {"password": text}),
                obj(["credential"], {"credential": credential}),
            ]
        },
    }
    if login is not None:
        properties = {**login["properties"], "code": {**text, "description": "The app's code, or a recovery code."}}
        schemas["Login"] = {**login, "properties": properties}
    return paths, schemas
