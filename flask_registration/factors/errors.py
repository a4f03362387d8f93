"""The refusals of the second-factor flows: :class:`FactorError`, a
:class:`~flask_registration.RegistrationError` with codes of its own (see
:doc:`factors`)."""

from __future__ import annotations

from typing import Any

from ..errors import RegistrationError
from ..flows.login import LoginStepRequired
from ..i18n import N_


class FactorError(RegistrationError):
    """A second factor was refused, or cannot be added or removed (400 unless said).

    Codes: ``PASSKEY_NO_CHALLENGE``, ``PASSKEY_CHALLENGE_EXPIRED``, ``PASSKEY_INVALID``,
    ``PASSKEY_WRONG_ORIGIN``, ``PASSKEY_WRONG_RP_ID``, ``PASSKEY_REPLAYED``,
    ``PASSKEY_UNKNOWN``, ``PASSKEY_TAKEN`` (409), ``FACTOR_NOT_FOUND`` (404),
    ``TOTP_ALREADY_ENABLED`` (409), ``TOTP_NOT_STARTED``, ``SECOND_FACTOR_INVALID`` (401),
    ``SECOND_FACTOR_REUSED`` (401), ``NO_SECOND_FACTOR`` (409), ``LAST_LOGIN_METHOD``
    (409), ``LOGIN_NOT_WAITING`` (401).
    """

    code = "FACTOR_FAILED"
    default_message = N_("The second factor was refused.")


class SecondFactorRequired(LoginStepRequired):
    """The right password (or a provider) of an account with a second factor: the login
    waits for it (401 ``SECOND_FACTOR_REQUIRED``). ``methods`` are what the account can
    give (``"passkey"``, ``"totp"``, ``"recovery_code"``), answered as ``details.methods``;
    ``location`` is the page that asks for one."""

    code = "SECOND_FACTOR_REQUIRED"
    default_message = N_("This account has a second factor: give it to finish logging in.")

    def __init__(self, methods: list[str], *, location: str = "") -> None:
        super().__init__()
        self.methods = list(methods)
        self.location = location

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["error"]["details"] = {"methods": self.methods}
        return body
