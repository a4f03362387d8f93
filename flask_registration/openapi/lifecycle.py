"""The OpenAPI paths of :mod:`flask_registration.lifecycle_api`: deleting an account,
restoring it within the grace period, and exporting its data."""

from __future__ import annotations

from .parts import Schema, json_response, obj, operation, post, ref

_ANSWERS = {
    "DeleteResult": obj(
        ["count", "emailSent"],
        {
            "count": {"type": "integer", "enum": [1], "description": "LoopBack's count of deleted accounts."},
            "emailSent": {"type": "boolean"},
        },
    ),
    "DeleteScheduled": obj(
        ["count", "deleteAfter", "emailSent"],
        {
            "count": {"type": "integer", "enum": [0]},
            "deleteAfter": {
                "type": "string",
                "format": "date-time",
                "description": "When the grace period ends: until then the emailed link restores the account.",
            },
            "emailSent": {"type": "boolean"},
        },
    ),
    "DeleteBody": obj(
        [],
        {
            "password": {
                "type": "string",
                "minLength": 1,
                "description": "The account's password, for a client without a recent re-authentication.",
            }
        },
    ),
    "Export": {
        "type": "object",
        "required": ["format", "exportedAt", "user", "sessions", "accessTokens", "identities"],
        "properties": {
            "format": {"type": "string"},
            "exportedAt": {"type": "string", "format": "date-time"},
            "user": {"type": "object"},
            "sessions": {"type": "array", "items": {"type": "object"}},
            "accessTokens": {"type": "array", "items": {"type": "object"}},
            "identities": {"type": "array", "items": {"type": "object"}},
        },
        "description": "Everything the library stores about the user; plug-ins and `export_data` hooks add keys.",
    },
}


def section(
    *, id_schema: Schema, logged_in: list[Schema], reading: list[Schema]
) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """The ``(paths, schemas)`` of the account's end, for :func:`~flask_registration.openapi.document`.

    :param id_schema: the schema of a user id.
    :param logged_in: the security of a change (session and CSRF header, or an access token).
    :param reading: the security of a read.
    """
    by_id = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": id_schema,
            "description": "The logged-in user's own id: any other, existing or not, gets the same 401.",
        }
    ]
    optional_body = {"required": False, "content": {"application/json": {"schema": ref("DeleteBody")}}}
    answers = {
        200: json_response("Deleted", ref("DeleteResult")),
        202: json_response("Disabled until the grace period ends", ref("DeleteScheduled")),
    }
    # 404: what is no id is no route (the API's JSON 404); 409: rows of the app refused it.
    errors = (400, 401, 403, 404, 409, 413, 415, 422, 429)
    download = {
        200: {
            "description": "A JSON file (`Content-Disposition: attachment`)",
            "content": {"application/json": {"schema": ref("Export")}},
        }
    }

    def delete(summary: str, **extra: object) -> Schema:
        return operation(summary, answers, errors, requestBody=optional_body, security=logged_in, **extra)

    def export(summary: str, **extra: object) -> Schema:
        return operation(summary, download, (401, 404, 429), security=reading, **extra)

    paths = {
        "/{id}": {"delete": delete("Delete my account (owner only)", parameters=by_id)},
        "/me": {"delete": delete("Delete my account")},
        "/restore": {"post": post("Restore my account with the emailed link", "Link", (400, 403, 404, 413, 415, 422))},
        "/{id}/export": {"get": export("Download my data (owner only)", parameters=by_id)},
        "/me/export": {"get": export("Download my data")},
    }
    return paths, dict(_ANSWERS)
