"""Signing up with a passkey: an account with no password and one passkey. Plain
functions that know neither HTML nor JSON.

1. :func:`signup_options` checks the address (and the declared extra fields) as a
   signup does, runs the ``before_signup`` hooks, and keeps the checked data and a new
   WebAuthn user handle in the browser's session with a challenge; the authenticator
   makes a discoverable passkey that verifies the user.
2. :func:`finish_signup` checks the authenticator's answer and ends as every signup
   does (:func:`~flask_registration.flows.signup.open_account`): the account, its
   passkey, the verification email, ``user_registered`` and ``after_signup``. An address
   that has an account gets the same answer, its owner the email a password signup
   sends, and the passkey is kept nowhere.

The address is verified by email before the passkey logs in, as for a password. The
passkey was made before the address was proven, so it is treated as a password set
then is (see :ref:`pre-hijacking`): the verification link, pressed in the browser that
signed up, confirms the address; pressed in any other browser it asks for a new
password, which removes the passkey (the person there may be the address's owner, and
the passkey a stranger's).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from flask import current_app, session
from webauthn.helpers import bytes_to_base64url

from .. import limits
from ..flows.signup import SignupResult, checked_new_user_data, open_account
from ..i18n import N_, gettext
from ..links import check_request_host
from ..state import get_state
from ..validation import check_payload, normalize_email
from . import passkeys
from .errors import FactorError
from .flows import get_factors
from .models import PASSKEY
from .store import FactorExists

#: Where a passkey signup waits for the authenticator's answer, in the session.
SIGNUP_KEY = "registration_passkey_signup"
#: The name of the passkey an account is made with (its owner can rename it), in the
#: language of the signup: "Passkey 1".
FIRST_PASSKEY_NAME = N_("Passkey %(num)d")


def signup_options(data: Any) -> dict[str, Any]:
    """Start a passkey signup with ``data`` (``email`` and the declared extra fields):
    the options of ``navigator.credentials.create()``.

    :raises ValidationError: bad data, or a ``before_signup`` hook's veto.
    :raises UntrustedHost: a verification email would go out, and the request's host and
        port are not ones links are built for.
    """
    if current_app.config["REGISTRATION_SEND_VERIFICATION_ON_SIGNUP"]:
        check_request_host()
    extras = current_app.config["REGISTRATION_SIGNUP_FIELDS"]
    checked = check_payload(data, required=("email",), optional=extras)
    checked["email"] = normalize_email(checked["email"])  # as a signup checks it (DNS, if asked)
    checked = checked_new_user_data(checked, with_password=False)
    handle = secrets.token_bytes(32)
    options = passkeys.registration_options(None, handle, [], name=checked["email"])
    session[SIGNUP_KEY] = {"data": checked, "handle": bytes_to_base64url(handle), "at": int(time.time())}
    return options


def finish_signup(answer: Any) -> SignupResult:
    """Finish a passkey signup with the authenticator's answer to :func:`signup_options`.

    :raises FactorError: no signup waiting here (``PASSKEY_NO_CHALLENGE``), the answer
        refused (see :mod:`.passkeys`: user verification is required), or the passkey is
        registered already (``PASSKEY_TAKEN``, 409).
    :raises RateLimited: too many signups from this client or for this address.
    :raises ValidationError: (enumeration prevention off) the address has an account.
    """
    pending = session.pop(SIGNUP_KEY, None)
    if not isinstance(pending, dict) or not isinstance(pending.get("data"), dict) or not pending.get("handle"):
        raise FactorError(
            gettext("There is no passkey signup waiting here, or it was already answered. Please start again."),
            code="PASSKEY_NO_CHALLENGE",
        )
    digest, passkey = passkeys.verify_registration(answer, None)
    data = dict(pending["data"])
    limits.hit("signup", email=data["email"])  # it emails the address
    store = get_factors()
    if store.by_credential(digest) is not None:
        raise FactorError(gettext("This passkey is registered already."), code="PASSKEY_TAKEN", status=409)
    passkey["user_handle"] = pending["handle"]

    def attach(user: Any) -> None:
        try:
            store.add(user, PASSKEY, passkey, name=gettext(FIRST_PASSKEY_NAME, num=1), credential_digest=digest)
        except FactorExists:  # registered meanwhile by another signup: this account goes
            get_state().store.delete_user(user)
            raise FactorError(
                gettext("This passkey is registered already."), code="PASSKEY_TAKEN", status=409
            ) from None

    return open_account(data, password_hash=None, then=attach)
