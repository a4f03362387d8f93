"""The JSON face of the profile: LoopBack's ``GET``, ``PATCH`` (``patchAttributes``) and
``PUT`` (``replaceById``) of ``<prefix>/{id}``, and ``PATCH``/``PUT`` of ``<prefix>/me``.

Only the owner may use them. A visitor gets 401 ``AUTHORIZATION_REQUIRED``; a logged-in
user asking for any other id gets 401 ``AUTHORIZATION_REQUIRED`` too, with one body for
an id that exists and one that does not (LoopBack's answer to a ``$owner`` rule that does
not hold), so no one learns which ids exist. The guard (CSRF on cookie-authenticated
writes), the error answers and the body reading are :mod:`~flask_registration.jsonface`'s.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from .api import user_json
from .flows import profile
from .jsonface import json_blueprint, logged_in_user, read_body

bp = json_blueprint("registration_profile_api", __name__)


def _owned(id: int) -> Any:
    """The logged-in user, if ``id`` (LoopBack's ``{id}``) is theirs; else the one 401 for every other id."""
    user = logged_in_user()
    profile.check_owner(user, id)
    return user


def _update(user: Any) -> Response:
    """Apply the body: the given fields (``PATCH``), or every profile field (``PUT``)."""
    profile.update_profile(user, read_body(), replace=request.method == "PUT")
    return jsonify(user_json(user))


@bp.get("/<int:id>")
def get_user(id: int) -> Response:
    """``GET /api/users/{id}``: the user object, for its owner only."""
    return jsonify(user_json(_owned(id)))


@bp.route("/<int:id>", methods=["PATCH", "PUT"])
def update_user(id: int) -> Response:
    """``PATCH``/``PUT /api/users/{id}`` with profile fields: 200 with the user object."""
    return _update(_owned(id))


@bp.route("/me", methods=["PATCH", "PUT"])
def update_me() -> Response:
    """``PATCH``/``PUT /api/users/me``: the same, for the logged-in user."""
    return _update(logged_in_user())
