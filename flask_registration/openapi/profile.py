"""The profile's routes in the OpenAPI document: ``GET``, ``PATCH`` and ``PUT`` of
``<prefix>/{id}``, and ``PATCH`` and ``PUT`` of ``<prefix>/me`` (the ``GET`` of ``/me`` is
the core API's)."""

from __future__ import annotations

from .parts import Schema, body, json_response, obj, operation, ref

#: What the document says of a username when people may log in with one.
USERNAME_RULES = (
    "Stored in normal form (spaces around it dropped, NFKC, lower case) under a unique index; "
    "cannot contain `@`, spaces or invisible characters."
)


def section(
    *,
    fields: dict[str, Schema],
    id_schema: Schema,
    logged_in: list[Schema],
    reading: list[Schema],
    username_login: bool,
) -> tuple[dict[str, Schema], dict[str, Schema]]:
    """The ``(paths, schemas)`` of the profile, for :func:`~flask_registration.openapi.document`.

    :param fields: the schema of each profile field (``REGISTRATION_PROFILE_FIELDS``).
    :param id_schema: the schema of a user id.
    :param logged_in: the security of a change (session and CSRF header, or an access token).
    :param reading: the security of a read.
    :param username_login: whether ``username`` is a login field (its rules are described).
    """
    the_user = {200: json_response("The user, as it is now", ref("User"))}
    errors = (400, 401, 403, 413, 415, 422)
    by_id = [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": id_schema,
            "description": "The logged-in user's own id: any other, existing or not, gets the same 401.",
        }
    ]

    def change(summary: str, *, path_id: bool) -> Schema:
        extra: Schema = {"parameters": by_id} if path_id else {}
        statuses = (*errors, 404) if path_id else errors
        return operation(summary, the_user, statuses, requestBody=body("ProfileChanges"), security=logged_in, **extra)

    patch = "Change some profile fields (the others stay)"
    put = "Replace the profile fields (one left out is set to null)"
    paths: dict[str, Schema] = {
        "/{id}": {
            "get": operation("The user, for its owner", the_user, (401, 404), parameters=by_id, security=reading),
            "patch": change(patch, path_id=True),
            "put": change(put, path_id=True),
        },
        "/me": {"patch": change(patch, path_id=False), "put": change(put, path_id=False)},
    }
    properties = dict(fields)
    if username_login and "username" in properties:
        properties["username"] = {**properties["username"], "description": USERNAME_RULES}
    changes = obj([], properties)
    changes["description"] = (
        "Only the profile fields. Any other field (`email`, `password`, `emailVerified`, `id`...) is "
        "refused with 422 `PROTECTED_FIELD` (`PASSWORD_CHANGE_NOT_ALLOWED` when `password` is one), "
        "and nothing is written."
    )
    return paths, {"ProfileChanges": changes}
