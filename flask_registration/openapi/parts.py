"""Builders for the OpenAPI document: the error shape, JSON bodies and answers, operations.

Public so that each face's paths can be written beside the others (the core API's in
``openapi/__init__.py``; a plug-in's in a module of its own in this package).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, Integer, Numeric, String

from ..validation import FIELD_MAX_LENGTH

Schema = dict[str, Any]

MESSAGES = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    302: "Found: a redirect to the local `redirect` path",
    400: "Malformed JSON, a bad or expired link, or a wrong current password",
    401: "Not logged in, or the login was refused",
    403: "A cookie-authenticated request without a valid `X-CSRFToken` header",
    404: "No such account: deleted since the link was sent, or (enumeration prevention off) the address has none",
    409: "A conflict: the provider is the account's only way to log in, or other rows still refer to the account",
    413: "The body is over `REGISTRATION_MAX_BODY_SIZE`",
    415: "The body was not sent as `application/json`",
    422: "The data is not acceptable (details name the fields)",
    429: "Too many attempts: wait `Retry-After` seconds",
    503: "Too many passwords are being checked at once: try again after `Retry-After` seconds (`SERVER_BUSY`)",
}


def nullable(schema: Schema) -> Schema:
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
    return nullable(schema) if column.nullable else schema


def error_schema() -> Schema:
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


def error_response(status: int) -> Schema:
    """The response of one error status: the error shape with that ``statusCode``."""
    schema: Schema = {
        "allOf": [
            {"$ref": "#/components/schemas/Error"},
            {"properties": {"error": {"properties": {"statusCode": {"const": status}}}}},
        ]
    }
    response: Schema = {"description": MESSAGES[status], "content": {"application/json": {"schema": schema}}}
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
    return response


def json_response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def body(name: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


def obj(required: list[str], properties: dict[str, Schema]) -> Schema:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def operation(summary: str, responses: dict[int, Schema], errors: tuple[int, ...], **extra: Any) -> Schema:
    answers = {str(status): response for status, response in responses.items()}
    answers.update({str(status): {"$ref": f"#/components/responses/Error{status}"} for status in errors})
    return {"summary": summary, "responses": dict(sorted(answers.items())), **extra}


def post(
    summary: str, schema: str, errors: tuple[int, ...], answer: dict[int, Schema] | None = None, **extra: Any
) -> Schema:
    """A ``POST`` operation with a JSON body (schema ``schema``), answering 204 by default."""
    return operation(summary, answer or {204: {"description": "No Content"}}, errors, requestBody=body(schema), **extra)


def link_params(what: str) -> list[Schema]:
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
