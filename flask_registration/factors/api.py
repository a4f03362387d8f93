"""The JSON routes of second factors, under the API prefix (LoopBack's error shape, the
guard of every JSON route: see :mod:`flask_registration.jsonface`):

- ``GET /me/factors``: the logged-in user's factors;
- ``POST /me/passkeys/options``, ``POST /me/passkeys``: add a passkey (options, then
  the authenticator's answer); ``GET /me/passkeys``; ``PATCH`` and ``DELETE
  /me/passkeys/<id>``;
- ``POST /me/totp`` (a new secret), ``POST /me/totp/confirm`` (its first code),
  ``DELETE /me/totp``;
- ``POST /me/recovery-codes`` (a new set), ``DELETE /me/recovery-codes``.

Changes need a recent re-authentication of this browser session (``POST
/reauthenticate``); without one they answer 401 ``REAUTHENTICATION_REQUIRED``, and an
access token alone never has one.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from .. import reauth
from ..errors import ValidationError
from ..i18n import gettext
from ..jsonface import iso_time, json_blueprint, logged_in_user, no_content, read_body
from ..validation import check_payload
from . import flows
from .models import RECOVERY_CODES

bp = json_blueprint("registration_factors_api", __name__)


def passkey_json(row: Any) -> dict[str, Any]:
    """A passkey as the API shows it: never its key."""
    return {
        "id": row.id,
        "name": row.name,
        "created": iso_time(row.created_at),
        "lastUsed": iso_time(row.last_used_at),
        "backupEligible": bool(row.data.get("backup_eligible")),
        "backedUp": bool(row.data.get("backed_up")),
    }


def overview_json(user: Any) -> dict[str, Any]:
    """The user's factors, never a secret."""
    overview = flows.overview(user)
    app = overview.totp
    return {
        "passkeys": [passkey_json(row) for row in overview.passkeys],
        "totp": {"id": app.id, "created": iso_time(app.created_at), "lastUsed": iso_time(app.last_used_at)}
        if app is not None
        else None,
        "recoveryCodesLeft": overview.recovery_left,
    }


def _recent(user: Any) -> bool:
    return reauth.is_recent(user)


@bp.get("/me/factors")
def list_factors() -> Response:
    """``GET /api/users/me/factors``."""
    return jsonify(overview_json(logged_in_user()))


@bp.get("/me/passkeys")
def list_passkeys() -> Response:
    """``GET /api/users/me/passkeys``: the logged-in user's passkeys."""
    return jsonify(overview_json(logged_in_user())["passkeys"])


@bp.post("/me/passkeys/options")
def passkey_options() -> Response:
    """``POST /api/users/me/passkeys/options``: WebAuthn's creation options
    (``publicKey`` for ``navigator.credentials.create()``)."""
    user = logged_in_user()
    return jsonify(flows.passkey_options(user, recent=_recent(user)))


@bp.post("/me/passkeys")
def add_passkey() -> tuple[Response, int]:
    """``POST /api/users/me/passkeys`` with ``{"credential", "name"?}``: 201 with the
    passkey, and ``recoveryCodes`` when the account got its first set."""
    user = logged_in_user()
    body = read_body()
    if not isinstance(body, dict):
        check_payload(body, required=())  # 400 INVALID_BODY
    check_payload({k: v for k, v in body.items() if k != "credential"}, required=(), optional=("name",))
    if not isinstance(body.get("credential"), dict):
        message = gettext("Send the authenticator's answer as an object.")
        raise ValidationError.from_fields({"credential": [("type", message)]})
    added = flows.add_passkey(user, body["credential"], body.get("name"), recent=_recent(user))
    return jsonify({**passkey_json(added.factor), "recoveryCodes": added.recovery_codes}), 201


@bp.patch("/me/passkeys/<factor_id>")
def rename_passkey(factor_id: str) -> Response:
    """``PATCH /api/users/me/passkeys/<id>`` with ``{"name"}``: the renamed passkey."""
    user = logged_in_user()
    body = check_payload(read_body(), required=("name",))
    return jsonify(passkey_json(flows.rename_passkey(user, factor_id, body["name"])))


@bp.delete("/me/passkeys/<factor_id>")
def delete_passkey(factor_id: str) -> Response:
    """``DELETE /api/users/me/passkeys/<id>``: 204."""
    user = logged_in_user()
    flows.remove_factor(user, factor_id, recent=_recent(user), kind="passkey")
    return no_content()


@bp.post("/me/totp")
def start_totp() -> Response:
    """``POST /api/users/me/totp``: a new secret for the authenticator app, with its
    ``otpauth://`` URI and QR code (SVG); confirm it with a first code."""
    user = logged_in_user()
    setup = flows.start_totp(user, recent=_recent(user))
    return jsonify({"secret": setup.secret, "uri": setup.uri, "qrSvg": str(setup.qr_svg)})


@bp.post("/me/totp/confirm")
def confirm_totp() -> tuple[Response, int]:
    """``POST /api/users/me/totp/confirm`` with ``{"code"}``: 201; ``recoveryCodes``
    when the account got its first set."""
    user = logged_in_user()
    body = check_payload(read_body(), required=("code",))
    added = flows.confirm_totp(user, body["code"], recent=_recent(user))
    row = added.factor
    return jsonify({"id": row.id, "created": iso_time(row.created_at), "recoveryCodes": added.recovery_codes}), 201


@bp.delete("/me/totp")
def delete_totp() -> Response:
    """``DELETE /api/users/me/totp``: 204."""
    user = logged_in_user()
    flows.remove_totp(user, recent=_recent(user))
    return no_content()


@bp.post("/me/recovery-codes")
def new_recovery_codes() -> tuple[Response, int]:
    """``POST /api/users/me/recovery-codes``: 201 with a new set (the old one stops
    working); shown this once."""
    user = logged_in_user()
    return jsonify({"recoveryCodes": flows.generate_recovery_codes(user, recent=_recent(user))}), 201


@bp.delete("/me/recovery-codes")
def delete_recovery_codes() -> Response:
    """``DELETE /api/users/me/recovery-codes``: 204."""
    user = logged_in_user()
    row = flows.get_factors().one(user, RECOVERY_CODES)
    flows.remove_factor(user, row.id if row is not None else None, recent=_recent(user), kind=RECOVERY_CODES)
    return no_content()


def init_app(app: Flask) -> None:
    """Register the JSON routes on ``app``."""
    app.register_blueprint(bp, url_prefix=app.config["REGISTRATION_API_PREFIX"])
