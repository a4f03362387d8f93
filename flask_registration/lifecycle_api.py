"""The JSON face of an account's end: delete it (LoopBack's ``DELETE /Users/{id}``),
restore it within the grace period, and export its data. Registered under
``REGISTRATION_API_PREFIX`` beside :mod:`flask_registration.api`.

Only the owner may act on an account: anonymous requests get 401
``AUTHORIZATION_REQUIRED``, and requests for any other id one same 401 whether that id
exists or not (:func:`flask_registration.flows.profile.check_owner`, as the profile
routes answer).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from . import reauth
from .errors import ValidationError
from .flows import deletion, export, profile
from .i18n import gettext
from .jsonface import iso_time, json_blueprint, logged_in_user, no_content, read_body
from .validation import check_payload

bp = json_blueprint("registration_lifecycle_api", __name__)


def owner(id: int) -> Any:
    """The logged-in user, if ``id`` (LoopBack's ``{id}``) is theirs.

    :raises AuthorizationRequired: nobody is logged in, or the id is someone else's (or
        no one's: the answer never tells which; the profile routes give the same one).
    """
    user = logged_in_user()
    profile.check_owner(user, id)
    return user


def _delete(user: Any) -> tuple[Response, int]:
    body = check_payload(read_body(), required=(), optional=("password",))
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise ValidationError.from_fields({"password": [("type", gettext("The password must be text."))]})
    result = deletion.request_deletion(user, recent=reauth.is_recent(user), password=password)
    if result.deleted:
        return jsonify({"count": 1, "emailSent": result.email_sent}), 200
    answer = {"count": 0, "deleteAfter": iso_time(result.delete_after), "emailSent": result.email_sent}
    return jsonify(answer), 202


@bp.delete("/<int:id>")
def delete_by_id(id: int) -> tuple[Response, int]:
    """``DELETE /api/users/{id}``: delete the account (200 ``{"count": 1}``), or with
    ``REGISTRATION_DELETE_GRACE`` disable it until ``deleteAfter`` (202). Needs a
    recent re-authentication in this browser, or ``{"password"}`` in the body."""
    return _delete(owner(id))


@bp.delete("/me")
def delete_me() -> tuple[Response, int]:
    """``DELETE /api/users/me``: as ``DELETE /api/users/{id}`` for the logged-in user."""
    return _delete(logged_in_user())


@bp.post("/restore")
def restore() -> Response:
    """``POST /api/users/restore`` with the emailed link's ``{"uid", "token"}``: 204; the
    account is enabled again, and its owner logs in as usual."""
    body = read_body()
    if isinstance(body, dict) and isinstance(body.get("uid"), int) and not isinstance(body.get("uid"), bool):
        body = {**body, "uid": str(body["uid"])}
    checked = check_payload(body, required=("uid", "token"))
    deletion.restore(checked["uid"], checked["token"])
    return no_content()


def _export(user: Any) -> Response:
    data = export.export_data(user)
    response = Response(export.to_json(data), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{export.filename(user)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:id>/export")
def export_by_id(id: int) -> Response:
    """``GET /api/users/{id}/export``: everything the library stores about the user, as a
    JSON file download (``Content-Disposition: attachment``); rate-limited per user."""
    return _export(owner(id))


@bp.get("/me/export")
def export_me() -> Response:
    """``GET /api/users/me/export``: as ``GET /api/users/{id}/export`` for the logged-in user."""
    return _export(logged_in_user())
