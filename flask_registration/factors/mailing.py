"""The emails of second factors, through the library's one mail path
(:func:`flask_registration.mail.send_mail`): a factor added, factors removed, a
recovery code used. Each links to the security page, when this request's host is one
the site sends links for (:func:`~flask_registration.links.external_url`); otherwise the
email goes without the link rather than with one to a host the site does not trust.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..errors import UntrustedHost
from ..links import external_url
from ..mail import send_mail


def security_link() -> str | None:
    """The absolute address of the security page, or None for an untrusted host (or
    outside a request without ``SERVER_NAME``: an operator's command)."""
    try:
        return external_url("registration_factors.security")
    except (UntrustedHost, RuntimeError):
        return None


def tell_added(user: Any, described: str) -> bool:
    """Email the owner that ``described`` ("A passkey named “Laptop”") now guards the
    account; True if the mail server took it."""
    return send_mail(
        "factor_added",
        recipient=user.email,
        subject=current_app.config["REGISTRATION_FACTOR_ADDED_SUBJECT"],
        user=user,
        described=described,
        link=security_link(),
    )


def tell_removed(user: Any, removed: list[str]) -> bool:
    """Email the owner which factors were removed; True if the mail server took it."""
    return send_mail(
        "factor_removed",
        recipient=user.email,
        subject=current_app.config["REGISTRATION_FACTOR_REMOVED_SUBJECT"],
        user=user,
        removed=removed,
        link=security_link(),
    )


def tell_recovery_code_used(user: Any, left: int) -> bool:
    """Email the owner that a recovery code was used, and how many are left (with a
    warning when few are: ``REGISTRATION_RECOVERY_CODES_LOW``)."""
    return send_mail(
        "recovery_code_used",
        recipient=user.email,
        subject=current_app.config["REGISTRATION_RECOVERY_CODE_USED_SUBJECT"],
        user=user,
        left=left,
        low=left <= current_app.config["REGISTRATION_RECOVERY_CODES_LOW"],
        link=security_link(),
    )
