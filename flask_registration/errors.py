"""The one error family of flask_registration.

Every refusal the library makes is a :class:`RegistrationError`: it carries the HTTP
status, a stable machine ``code`` and per-field messages. The JSON face renders it in
LoopBack's error shape; the HTML face re-renders the form with the messages.
"""

from __future__ import annotations

from typing import Any

from .i18n import N_, gettext, ngettext


class RegistrationError(Exception):
    """Base class of every error the library raises on purpose.

    :param message: a sentence for the person or developer reading it.
    :param code: a stable machine code, e.g. ``"INVALID_TOKEN"``.
    :param status: the HTTP status the faces answer with.
    :param field: the form/payload field the error is about, if any.
    :param field_code: the per-field code (LoopBack's ``details.codes``).
    """

    status: int = 400
    code: str = "BAD_REQUEST"
    name: str = "Error"
    default_message: str = N_("The request could not be processed.")

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        field: str | None = None,
        field_code: str | None = None,
    ) -> None:
        # Translated now, in the request's language; a message given is used as it is
        # (a lazy one is made a string: the faces render plain strings).
        self.message = str(message) if message else gettext(self.default_message)
        super().__init__(self.message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields: dict[str, list[tuple[str, str]]] = {}
        if field is not None:
            self.add(field, field_code or "invalid", self.message)

    def add(self, field: str, field_code: str, message: str) -> None:
        """Attach one more field error (field, LoopBack code, message)."""
        self.fields.setdefault(field, []).append((field_code, message))

    def headers(self) -> dict[str, str]:
        """HTTP headers that both faces add to the answer (e.g. ``Retry-After``)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The error in LoopBack's shape: ``{"error": {...}}``."""
        body: dict[str, Any] = {
            "statusCode": self.status,
            "name": self.name,
            "message": self.message,
            "code": self.code,
        }
        if self.fields:
            body["details"] = {
                "context": "user",
                "codes": {f: [c for c, _ in errs] for f, errs in self.fields.items()},
                "messages": {f: [m for _, m in errs] for f, errs in self.fields.items()},
            }
        return {"error": body}


class ValidationError(RegistrationError):
    """Submitted data is not acceptable (422, LoopBack's ``ValidationError``).

    Raise it from a ``before_*`` hook to veto, naming the field, with a full sentence
    that a person can read next to the field::

        raise ValidationError("This username is already taken.", field="username",
                              field_code="uniqueness")

    With field errors, :attr:`message` (the answer's top-level ``message``) is always
    LoopBack's summary of all of them, however the error was built: "The `user` instance
    is not valid. Details: `username` This username is already taken."
    """

    status = 422
    code = "VALIDATION_ERROR"
    name = "ValidationError"
    default_message = N_("The submitted data is not valid.")

    def add(self, field: str, field_code: str, message: str) -> None:
        """Attach one more field error; the top-level message is then LoopBack's summary
        of every field error: "The `user` instance is not valid. Details: `field` message"."""
        super().add(field, field_code, message)
        parts = "; ".join(f"`{f}` {m.rstrip('.。')}" for f, errs in self.fields.items() for _, m in errs)
        self.message = gettext("The `user` instance is not valid. Details: %(details)s.", details=parts)
        self.args = (self.message,)

    @classmethod
    def from_fields(cls, fields: dict[str, list[tuple[str, str]]]) -> ValidationError:
        """Build one error out of several field errors."""
        err = cls()
        for f, errs in fields.items():
            for c, m in errs:
                err.add(f, c, m)
        return err


class MalformedRequest(RegistrationError):
    """The request body could not be read as a JSON object (400)."""

    code = "MALFORMED_REQUEST"
    default_message = N_("The request body must be a JSON object.")


class PayloadTooLarge(RegistrationError):
    """The request body is over ``REGISTRATION_MAX_BODY_SIZE`` (413)."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = N_("The request body is too large.")


class InvalidToken(RegistrationError):
    """A link's token is malformed, tampered with, or for someone else (400)."""

    code = "INVALID_TOKEN"
    default_message = N_("This link is not valid.")


class TokenExpired(InvalidToken):
    """A link's token was genuine but is too old (400).

    ``user_id`` and ``bound_digest`` are set when the token could still be read, so a
    page can offer to resend a fresh link (only while the bound state is unchanged).
    """

    code = "TOKEN_EXPIRED"
    default_message = N_("This link has expired.")

    def __init__(self, message: str | None = None, *, user_id: Any = None, bound_digest: Any = None) -> None:
        super().__init__(message)
        self.user_id = user_id
        self.bound_digest = bound_digest


class UserNotFound(RegistrationError):
    """The user a valid token names no longer exists (404)."""

    status = 404
    code = "USER_NOT_FOUND"
    default_message = N_("This account no longer exists.")


class LoginFailed(RegistrationError):
    """Wrong email or password (401); the same whether the user exists or not (and, with
    enumeration prevention on, for an address not confirmed yet)."""

    status = 401
    code = "LOGIN_FAILED"
    default_message = N_(
        "Login failed: the email address or the password is wrong, or the address is not confirmed "
        "yet (if so, we have just emailed you a new link)."
    )


class EmailNotVerified(LoginFailed):
    """Right password, but the address is not verified yet (401). With ``user_id``, the
    answer carries LoopBack's ``details.userId`` (only with enumeration prevention off)."""

    code = "LOGIN_FAILED_EMAIL_NOT_VERIFIED"
    default_message = N_("Login failed: the email address has not been confirmed yet.")

    def __init__(self, message: str | None = None, *, user_id: Any = None) -> None:
        super().__init__(message)
        self.user_id = user_id

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        if self.user_id is not None:
            body["error"].setdefault("details", {})["userId"] = self.user_id
        return body


class InvalidPassword(RegistrationError):
    """The current password given to confirm a change is wrong (400)."""

    status = 400
    code = "INVALID_PASSWORD"
    default_message = N_("The current password is not right.")


class AuthorizationRequired(RegistrationError):
    """The route needs a logged-in user (401)."""

    status = 401
    code = "AUTHORIZATION_REQUIRED"
    default_message = N_("Authorization required: log in first.")


class ReauthenticationRequired(RegistrationError):
    """The action needs a recent re-authentication in this browser (401): the password
    typed again, or a re-authentication link emailed to the address, within
    ``REGISTRATION_REAUTH_WITHIN``. A session cookie or an access token alone is not
    enough."""

    status = 401
    code = "REAUTHENTICATION_REQUIRED"
    default_message = N_("Please confirm it is you: enter your password again, or ask for a link by email.")


class ProofRequired(RegistrationError):
    """Confirming the address of an account that already has a way to log in needs
    proof that the person confirming set it (403): the account's password, or the
    browser that signed up; or a new password, which removes every earlier one.

    ``code`` is ``CONFIRM_PASSWORD_REQUIRED`` (give the password, or a new one) or
    ``CONFIRM_NEW_PASSWORD_REQUIRED`` (the account has no password: set one).
    """

    status = 403
    code = "CONFIRM_PASSWORD_REQUIRED"
    default_message = N_(
        "Enter the password of this account to confirm the address, or set a new password "
        "(which removes any earlier one)."
    )


class UntrustedHost(RegistrationError):
    """A request that would email a link came for a host and port this site does not
    build links for (400): its ``Host`` names a port that is neither the one the server
    listens on nor listed in ``TRUSTED_HOSTS`` (see :mod:`flask_registration.links`)."""

    code = "UNTRUSTED_HOST"
    default_message = N_(
        "This request was made to a host or port this site does not send links for, so no email "
        "was sent. Please open the site at its usual address and try again."
    )


class CSRFError(RegistrationError):
    """A cookie-authenticated request that changes state carried no valid CSRF token."""

    status = 403
    code = "CSRF_FAILED"
    default_message = N_("The CSRF token is missing or invalid.")


class OAuthError(RegistrationError):
    """Logging in or linking through a provider was refused or failed; ``code`` says
    why (``OAUTH_STATE_MISMATCH``, ``OAUTH_ACCESS_DENIED``, ``OAUTH_PROVIDER_ERROR``,
    ``OAUTH_ACCOUNT_NOT_VERIFIED``, ``OAUTH_IDENTITY_TAKEN``...; see docs/oauth.rst)."""

    status = 400
    code = "OAUTH_FAILED"
    default_message = N_("Logging in with the provider did not work.")


class RateLimited(RegistrationError):
    """Too many attempts from this client or at this address (429, ``Retry-After``).

    :param retry_after: whole seconds until the next attempt can be counted.
    """

    status = 429
    code = "TOO_MANY_REQUESTS"
    default_message = N_("Too many attempts. Please wait before trying again.")

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        unit, num = _wait(self.retry_after)
        if unit == "second":
            message = ngettext(
                "Too many attempts. Try again in %(num)d second.",
                "Too many attempts. Try again in %(num)d seconds.",
                num,
            )
        elif unit == "minute":
            message = ngettext(
                "Too many attempts. Try again in %(num)d minute.",
                "Too many attempts. Try again in %(num)d minutes.",
                num,
            )
        else:
            message = ngettext(
                "Too many attempts. Try again in %(num)d hour.", "Too many attempts. Try again in %(num)d hours.", num
            )
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ServerBusy(RegistrationError):
    """Every password-hashing slot of this process stayed taken for
    ``REGISTRATION_HASH_WAIT`` (503, ``Retry-After``): too many signups, logins or
    password changes at once (see :data:`REGISTRATION_MAX_CONCURRENT_HASHES`). Nothing
    was written; the same request can simply be sent again.

    :param retry_after: whole seconds after which a slot is likely free.
    """

    status = 503
    code = "SERVER_BUSY"
    default_message = N_("The server is busy. Please try again in a moment.")

    def __init__(self, retry_after: int = 1) -> None:
        self.retry_after = max(1, int(retry_after))
        unit, num = _wait(self.retry_after)
        if unit == "second":
            message = ngettext(
                "The server is busy right now. Please try again in %(num)d second.",
                "The server is busy right now. Please try again in %(num)d seconds.",
                num,
            )
        elif unit == "minute":
            message = ngettext(
                "The server is busy right now. Please try again in %(num)d minute.",
                "The server is busy right now. Please try again in %(num)d minutes.",
                num,
            )
        else:
            message = ngettext(
                "The server is busy right now. Please try again in %(num)d hour.",
                "The server is busy right now. Please try again in %(num)d hours.",
                num,
            )
        super().__init__(message)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _wait(seconds: int) -> tuple[str, int]:
    """A wait as a unit and a whole number of it, rounded up: seconds under two minutes,
    minutes under two hours, then hours."""
    if seconds < 120:
        return "second", seconds
    minutes = -(-seconds // 60)
    return ("minute", minutes) if minutes < 120 else ("hour", -(-minutes // 60))
