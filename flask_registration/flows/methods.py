"""The ways to log in to an account (its login methods): a password, linked providers,
passkeys.

The other flows ask here what an account has, to list it to the owner (the "password
changed" email) and to take away what someone set before the owner proved the address
(see :func:`remove_unproven`). Providers are known only when third-party login is set
up (``Registration(oauth_model=...)``, ``get_state().oauth``), and passkeys when second
factors are (``get_state().factors``); the core never imports either package.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for

from ..i18n import gettext
from ..mail import send_mail
from ..state import get_state


def provider_titles(user: Any) -> list[str]:
    """The titles of the providers linked to ``user`` ("GitHub"...), by name."""
    oauth = get_state().oauth
    if oauth is None:
        return []
    titles = []
    for row in oauth.identities.of_user(user):
        provider = oauth.providers.get(row.provider)
        titles.append(provider.title if provider is not None else row.provider)
    return titles


def passkey_titles(user: Any) -> list[str]:
    """``user``'s passkeys, for a person to read: ``["a passkey named “Laptop”"]`` (a
    passkey logs in by itself, see :doc:`factors`)."""
    factors = get_state().factors
    if factors is None:
        return []
    return [gettext("a passkey named “%(name)s”", name=row.name) for row in factors.passkeys_of(user)]


def login_methods(user: Any) -> list[str]:
    """Every way to log in to ``user``'s account, for a person to read:
    ``["a password", "GitHub", "a passkey named “Laptop”"]``."""
    methods = [gettext("a password")] if user.password_hash else []
    return methods + provider_titles(user) + passkey_titles(user)


def has_login_method(user: Any) -> bool:
    """Whether anything (a password, a provider, a passkey) can log in to ``user``'s account."""
    return bool(user.password_hash) or bool(provider_titles(user)) or bool(passkey_titles(user))


def remove_unproven(user: Any) -> list[str]:
    """Unlink every provider from ``user``'s account and delete its second factors
    (passkeys above all), in the current transaction, and return their titles.

    Called when the owner proves the address of an account that was not verified: any
    provider linked, or passkey made, before then may have been by whoever signed the
    address up, so it goes (the caller replaces the password and ends every session and
    token).
    """
    state = get_state()
    titles = provider_titles(user) + passkey_titles(user)
    if state.oauth is not None:
        state.oauth.identities.delete_all(user)
    if state.factors is not None:
        state.factors.store.delete_all(user, commit=False)
    return titles


def tell_added(user: Any, method: str) -> bool:
    """Email the owner that ``method`` ("GitHub") can now log in to the account, with a
    link to the page that removes it; True if the mail server took it."""
    link = url_for("registration_connections.connections", _external=True)
    return _send(
        "login_method_added",
        user,
        current_app.config["REGISTRATION_LOGIN_METHOD_ADDED_SUBJECT"],
        method=method,
        link=link,
        methods=login_methods(user),
    )


def tell_removed(user: Any, removed: list[str]) -> bool:
    """Email the owner, who just proved the address, which earlier ways to log in were
    removed; True if the mail server took it."""
    return _send(
        "login_methods_removed",
        user,
        current_app.config["REGISTRATION_LOGIN_METHODS_REMOVED_SUBJECT"],
        removed=removed,
        methods=login_methods(user),
    )


def _send(template: str, user: Any, subject: str, **context: Any) -> bool:
    return send_mail(template, recipient=user.email, subject=subject, user=user, **context)


def provider_title(name: str) -> str:
    """The title of the provider called ``name`` ("GitHub" for ``"github"``)."""
    oauth = get_state().oauth
    provider = oauth.providers.get(name) if oauth is not None else None
    return provider.title if provider is not None else name
