"""Passkeys (WebAuthn) with py_webauthn: the relying party's identity, the ceremonies'
challenges, and the checks of what a browser's authenticator answers.

The relying party is ``REGISTRATION_WEBAUTHN_RP_ID`` and the origins
``REGISTRATION_WEBAUTHN_ORIGINS``; by default both come from ``SERVER_NAME`` when it is
set, else from the request's host, which Flask checks against ``TRUSTED_HOSTS`` and
:func:`~flask_registration.links.check_request_host` against the ports this site serves
on: an attacker's ``Host`` header can never become the origin a passkey is checked for.

A challenge is 32 random bytes kept in the cookie session with its purpose, the time it
was made (nanoseconds) and a digest of the account it is for: it works once (it is taken
out of the session when an answer comes) and for ``REGISTRATION_WEBAUTHN_CHALLENGE_WITHIN``.
A cookie session can be copied, and an old copy still holds its challenge; so a passkey
also keeps the time of the challenge it last answered, and an answer to a challenge made
earlier than that is refused (:func:`verify_assertion`), whatever the authenticator's
sign counter says (many passkeys keep it at zero).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, request, session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    options_to_json_dict,
    parse_attestation_object,
    parse_authenticator_data,
    parse_client_data_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from ..i18n import gettext
from ..links import check_request_host
from ..tokens import digest
from .errors import FactorError

#: Where a ceremony's challenge lives in the session.
CEREMONY_KEY = "registration_webauthn"
#: The largest ``clientDataJSON`` read (a browser's is a few hundred bytes).
CLIENT_DATA_MAX = 4096
#: The largest credential id accepted (WebAuthn: at most 1,023 bytes).
CREDENTIAL_ID_MAX = 1023
#: The longest a ceremony may take in the browser, in milliseconds (a hint to it).
TIMEOUT_MS = 120_000
#: What py_webauthn and the decoders under it raise for a malformed or forged answer.
BAD_ANSWER = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)


def rp_id() -> str:
    """The relying party id: ``REGISTRATION_WEBAUTHN_RP_ID``, else the host name of
    ``SERVER_NAME``, else that of the request (checked, see the module's notes)."""
    configured = current_app.config["REGISTRATION_WEBAUTHN_RP_ID"]
    if configured:
        return str(configured)
    return urlsplit(origins()[0]).hostname or ""


def rp_name() -> str:
    """The name an authenticator shows for this site: ``REGISTRATION_WEBAUTHN_RP_NAME``,
    else the relying party id."""
    return str(current_app.config["REGISTRATION_WEBAUTHN_RP_NAME"] or rp_id())


def origins() -> list[str]:
    """The origins an answer may come from: ``REGISTRATION_WEBAUTHN_ORIGINS``, else the
    site's own (``SERVER_NAME`` and ``PREFERRED_URL_SCHEME``, or the checked request host
    and its scheme)."""
    config = current_app.config
    configured = config["REGISTRATION_WEBAUTHN_ORIGINS"]
    if configured:
        return [str(origin) for origin in configured]
    server_name = config.get("SERVER_NAME")
    if server_name:
        scheme = request.scheme if request else config.get("PREFERRED_URL_SCHEME", "http")
        return [f"{scheme}://{server_name}"]
    check_request_host()  # UntrustedHost for a port this site does not serve on
    return [f"{request.scheme}://{request.host}"]


def credential_digest(raw_id: bytes) -> str:
    """How a passkey's credential id is indexed: its SHA-256, in hex."""
    return hashlib.sha256(raw_id).hexdigest()


# Challenges.


def _who(user: Any) -> str:
    return digest(f"factors:{user.id}:{user.auth_stamp}")


def begin(purpose: str, user: Any = None) -> bytes:
    """Make a challenge for ``purpose`` (``"register"``, ``"signup"``, ``"authenticate"``),
    for ``user`` (or for whoever answers: a discoverable login, a new account), and keep
    it in the session (replacing any earlier one)."""
    challenge = secrets.token_bytes(32)
    session[CEREMONY_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "at": time.time_ns(),
        "who": _who(user) if user is not None else None,
    }
    return challenge


def take(purpose: str, user: Any = None) -> tuple[bytes, int]:
    """Take the challenge of ``purpose`` out of the session: ``(challenge, made at)``.

    :raises FactorError: ``PASSKEY_NO_CHALLENGE`` (none, already used, another purpose,
        or for another account) or ``PASSKEY_CHALLENGE_EXPIRED``.
    """
    state = session.pop(CEREMONY_KEY, None)
    if (
        not isinstance(state, dict)
        or state.get("purpose") != purpose
        or not isinstance(state.get("challenge"), str)
        or not isinstance(state.get("at"), int)
        or state.get("who") != (_who(user) if user is not None else None)
    ):
        raise FactorError(
            gettext("There is no passkey request waiting here, or it was already answered. Please start again."),
            code="PASSKEY_NO_CHALLENGE",
        )
    within = current_app.config["REGISTRATION_WEBAUTHN_CHALLENGE_WITHIN"].total_seconds()
    if not 0 <= time.time_ns() - state["at"] <= within * 1e9:
        raise FactorError(
            gettext("The passkey request has expired. Please start again."), code="PASSKEY_CHALLENGE_EXPIRED"
        )
    return base64url_to_bytes(state["challenge"]), state["at"]


def bound_ceremony() -> bool:
    """Whether the challenge waiting in the session is for a known account (a second
    factor, a re-authentication) rather than for whoever answers (a discoverable login)."""
    state = session.get(CEREMONY_KEY)
    return isinstance(state, dict) and state.get("who") is not None


# Registration.


def registration_options(
    user: Any, user_handle: bytes, existing: list[dict[str, Any]], *, name: str | None = None
) -> dict[str, Any]:
    """The options of ``navigator.credentials.create()`` for a new passkey of ``user``
    (a fresh challenge is kept), in WebAuthn's JSON shape; ``existing`` (the data of the
    user's passkeys) are excluded, so one authenticator is not registered twice.

    ``user`` None: the first passkey of an account not made yet (a passkey signup), for
    the address ``name``. It must be discoverable (a login gives no address) and verify
    the user (it is the only factor), and its challenge is a signup's."""
    signup = user is None
    required, preferred = ResidentKeyRequirement.REQUIRED, ResidentKeyRequirement.PREFERRED
    verified = UserVerificationRequirement.REQUIRED if signup else UserVerificationRequirement.PREFERRED
    label = str(name if signup else user.email)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=rp_name(),
        user_name=label,
        user_id=user_handle,
        user_display_name=label,
        challenge=begin("signup") if signup else begin("register", user),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=required if signup else preferred, user_verification=verified
        ),
        exclude_credentials=[_descriptor(data) for data in existing],
    )
    return options_to_json_dict(options)


def _descriptor(data: dict[str, Any]) -> PublicKeyCredentialDescriptor:
    transports = []
    for name in data.get("transports") or ():
        try:
            transports.append(AuthenticatorTransport(name))
        except ValueError:
            continue  # a transport newer than this py_webauthn
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(data["credential_id"]), transports=transports or None)


def verify_registration(credential: Any, user: Any) -> tuple[str, dict[str, Any]]:
    """Check a browser's answer to :func:`registration_options` (for the same ``user``,
    or None for a signup's: user verification then required); return the new passkey's
    ``(credential digest, data)``.

    :raises FactorError: no challenge or an expired one, a wrong origin
        (``PASSKEY_WRONG_ORIGIN``) or relying party (``PASSKEY_WRONG_RP_ID``), or any
        other flaw (``PASSKEY_INVALID``).
    """
    challenge, _at = take("register", user) if user is not None else take("signup")
    response = _response(credential, ("clientDataJSON", "attestationObject"))
    _check_client_data(response["clientDataJSON"], "webauthn.create")
    try:
        rp_hash = parse_attestation_object(base64url_to_bytes(response["attestationObject"])).auth_data.rp_id_hash
    except BAD_ANSWER:
        raise FactorError(gettext("The passkey's attestation cannot be read."), code="PASSKEY_INVALID") from None
    _check_rp(rp_hash)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origins(),
            require_user_verification=user is None,
        )
    except BAD_ANSWER as exc:
        raise _invalid(exc) from None
    if len(verified.credential_id) > CREDENTIAL_ID_MAX:
        raise FactorError(gettext("The passkey's credential id is too long."), code="PASSKEY_INVALID")
    transports = credential.get("response", {}).get("transports")
    data = {
        "credential_id": bytes_to_base64url(verified.credential_id),
        "public_key": bytes_to_base64url(verified.credential_public_key),
        "sign_count": verified.sign_count,
        "aaguid": verified.aaguid,
        "backup_eligible": verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        "backed_up": bool(verified.credential_backed_up),
        "transports": [t for t in transports if isinstance(t, str)][:8] if isinstance(transports, list) else [],
        "challenge_at": 0,
    }
    return credential_digest(verified.credential_id), data


# Authentication.


def authentication_options(
    user: Any = None, existing: list[dict[str, Any]] | None = None, *, require_uv: bool = False
) -> dict[str, Any]:
    """The options of ``navigator.credentials.get()`` (a fresh challenge is kept): for
    ``user``'s passkeys (``existing``, their data), or, without a user, for any passkey
    the authenticator holds for this site (a discoverable login). User verification is
    required without a user, or with ``require_uv`` (a re-authentication), else preferred."""
    strict = user is None or require_uv
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=begin("authenticate", user),
        timeout=TIMEOUT_MS,
        allow_credentials=[_descriptor(data) for data in existing or ()],
        user_verification=(UserVerificationRequirement.REQUIRED if strict else UserVerificationRequirement.PREFERRED),
    )
    return options_to_json_dict(options)


def credential_of(answer: Any) -> tuple[bytes, bytes | None]:
    """The raw credential id and user handle an answer names (before it is checked).

    :raises FactorError: ``PASSKEY_INVALID``: not an answer's shape.
    """
    raw = answer.get("rawId", answer.get("id")) if isinstance(answer, dict) else None
    if not isinstance(raw, str):
        raise FactorError(gettext("This is not a passkey's answer."), code="PASSKEY_INVALID")
    response = answer.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if len(raw) > 2 * CREDENTIAL_ID_MAX or (handle is not None and (not isinstance(handle, str) or len(handle) > 200)):
        raise FactorError(gettext("This is not a passkey's answer."), code="PASSKEY_INVALID")
    try:
        return base64url_to_bytes(raw), (base64url_to_bytes(handle) if handle else None)
    except BAD_ANSWER:
        raise FactorError(gettext("This is not a passkey's answer."), code="PASSKEY_INVALID") from None


def verify_assertion(
    answer: dict[str, Any], data: dict[str, Any], challenge: bytes, made_at: int, *, require_uv: bool
) -> dict[str, Any]:
    """Check an answer to :func:`authentication_options` against the passkey's stored
    ``data``; return its new data (sign counter, backup state, the challenge's time).

    :raises FactorError: ``PASSKEY_REPLAYED`` (a challenge made before the last one this
        passkey answered), ``PASSKEY_WRONG_ORIGIN``, ``PASSKEY_WRONG_RP_ID`` or
        ``PASSKEY_INVALID`` (a bad signature, a sign counter that went back...).
    """
    if made_at <= int(data.get("challenge_at") or 0):
        raise FactorError(gettext("This passkey answer was already used."), code="PASSKEY_REPLAYED")
    response = _response(answer, ("clientDataJSON", "authenticatorData", "signature"))
    _check_client_data(response["clientDataJSON"], "webauthn.get", response["authenticatorData"])
    try:
        verified = verify_authentication_response(
            credential=answer,
            expected_challenge=challenge,
            expected_rp_id=rp_id(),
            expected_origin=origins(),
            credential_public_key=base64url_to_bytes(data["public_key"]),
            credential_current_sign_count=int(data.get("sign_count") or 0),
            require_user_verification=require_uv,
        )
    except BAD_ANSWER as exc:
        raise _invalid(exc) from None
    return {
        **data,
        "sign_count": verified.new_sign_count,
        "backed_up": bool(verified.credential_backed_up),
        "challenge_at": made_at,
    }


# Shared checks.


def _response(answer: Any, fields: tuple[str, ...]) -> dict[str, str]:
    response = answer.get("response") if isinstance(answer, dict) else None
    if not isinstance(response, dict) or not all(isinstance(response.get(f), str) for f in fields):
        raise FactorError(gettext("This is not a passkey's answer."), code="PASSKEY_INVALID")
    if len(response["clientDataJSON"]) > CLIENT_DATA_MAX * 4 // 3 + 4:
        raise FactorError(gettext("The passkey's client data is too large."), code="PASSKEY_INVALID")
    return response


def _check_client_data(encoded: str, kind: str, authenticator_data: str | None = None) -> None:
    """The checks that deserve a code of their own, made before py_webauthn's: the
    origin, and (for an assertion) the relying party the authenticator signed for."""
    try:
        client_data = parse_client_data_json(base64url_to_bytes(encoded))
        raw = json.loads(base64url_to_bytes(encoded))
    except BAD_ANSWER:
        raise FactorError(gettext("The passkey's client data cannot be read."), code="PASSKEY_INVALID") from None
    if not isinstance(raw, dict) or raw.get("type") != kind:
        raise FactorError(gettext("The passkey answered another kind of request."), code="PASSKEY_INVALID")
    if client_data.origin not in origins():
        raise FactorError(gettext("The passkey answered a request from another site."), code="PASSKEY_WRONG_ORIGIN")
    if authenticator_data is not None:
        try:
            rp_hash = parse_authenticator_data(base64url_to_bytes(authenticator_data)).rp_id_hash
        except BAD_ANSWER:
            raise FactorError(
                gettext("The passkey's authenticator data cannot be read."), code="PASSKEY_INVALID"
            ) from None
        _check_rp(rp_hash)


def _check_rp(rp_hash: bytes) -> None:
    if rp_hash != hashlib.sha256(rp_id().encode()).digest():
        raise FactorError(gettext("The passkey belongs to another site."), code="PASSKEY_WRONG_RP_ID")


def _invalid(_exc: Exception) -> FactorError:
    # py_webauthn's message names what failed; it may quote the answer, so it stays out
    # of the answer and the logs.
    return FactorError(gettext("The passkey's answer could not be verified."), code="PASSKEY_INVALID")
