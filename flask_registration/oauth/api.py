"""The JSON routes of third-party login, under the API prefix: the providers linked to
the logged-in user's account (``GET /me/identities``) and unlinking one
(``DELETE /me/identities/<provider>``).

They go through the guard and error answers of every JSON route (:mod:`flask_registration.jsonface`):
a request that carries a cookie and changes state needs the ``X-CSRFToken`` header.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.wrappers import Response

from ..jsonface import iso_time, json_blueprint, logged_in_user, no_content
from . import flows
from .providers import titles_by_name

bp = json_blueprint("registration_connections_api", __name__)


def identity_json(row: Any) -> dict[str, Any]:
    """A linked identity in LoopBack's ``UserIdentity`` names, never its token."""
    return {
        "id": row.id,
        "provider": row.provider,
        "title": titles_by_name().get(row.provider, row.provider),
        "externalId": row.provider_user_id,
        "userId": row.user_id,
        "created": iso_time(row.created_at),
    }


@bp.get("/me/identities")
def list_identities() -> Response:
    """``GET /api/users/me/identities``: the logged-in user's linked identities."""
    return jsonify([identity_json(row) for row in flows.identities_of(logged_in_user())])


@bp.delete("/me/identities/<provider>")
def delete_identity(provider: str) -> Response:
    """``DELETE /api/users/me/identities/<provider>``: 204; 409 ``OAUTH_LAST_LOGIN_METHOD``
    when it is the account's only way to log in."""
    flows.unlink_identity(logged_in_user(), provider)
    return no_content()


def init_app(app: Flask) -> None:
    """Register the JSON routes on ``app``."""
    app.register_blueprint(bp, url_prefix=app.config["REGISTRATION_API_PREFIX"])
