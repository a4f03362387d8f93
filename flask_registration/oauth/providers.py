"""The providers: GitHub, Google, Facebook and any OAuth2 provider, from configuration.

``REGISTRATION_OAUTH_PROVIDERS`` maps a provider's name to its settings::

    REGISTRATION_OAUTH_PROVIDERS = {
        "github": {"client_id": "...", "client_secret": "..."},
        "corp": {
            "client_id": "...", "client_secret": "...",
            "authorization_url": "https://id.example.com/authorize",
            "token_url": "https://id.example.com/token",
            "userinfo_url": "https://id.example.com/userinfo",
            "scope": ["openid", "email"],
        },
    }

This module reads the settings and, after a dance, asks the provider who the person is
(:meth:`Provider.identity`), an :class:`Identity` the flows take. It does not import
flask-dance: :mod:`.dance` does.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask

from ..errors import OAuthError
from ..i18n import gettext
from ..state import get_state


@dataclass(frozen=True)
class Identity:
    """Who a provider says the person is.

    ``email_verified`` is True only when the provider asserts that it verified
    ``email``; ``profile`` is what it answered (the ``before_signup`` hooks see it).
    """

    provider: str
    provider_user_id: str
    email: str | None = None
    email_verified: bool = False
    profile: Mapping[str, Any] = field(default_factory=dict)


#: Seconds to wait for a provider's token or profile endpoint.
TIMEOUT = 10

#: Every setting a provider takes.
SETTINGS = frozenset(
    {
        "client_id",
        "client_secret",
        "title",
        "scope",
        "authorization_url",
        "token_url",
        "userinfo_url",
        "id_key",
        "email_key",
        "email_verified_key",
        "profile",
    }
)

#: Get a JSON document from the provider with the person's token (see ``profile``).
Getter = Callable[[str], Any]


def _github_profile(get: Getter) -> dict[str, Any]:
    """GitHub's ``/user`` has the public address, whose verification it does not tell;
    ``/user/emails`` (scope ``user:email``) tells which address is primary and verified."""
    profile = dict(get("https://api.github.com/user"))
    profile["email_verified"] = False
    try:
        emails = get("https://api.github.com/user/emails")
    except OAuthError:
        return profile  # a token without user:email: the public address, unverified
    primary = (
        next((e for e in emails if isinstance(e, dict) and e.get("primary")), None)
        if isinstance(emails, list)
        else None
    )
    if primary is not None:
        profile["email"] = primary.get("email")
        profile["email_verified"] = primary.get("verified") is True
    return profile


#: Defaults of the providers whose blueprints flask-dance's ``contrib`` makes.
BUILT_IN: dict[str, dict[str, Any]] = {
    # One scope: GitHub answers a list of scopes comma-separated, which oauthlib would
    # read as "the scope changed" and refuse.
    "github": {"title": "GitHub", "scope": ("user:email",), "id_key": "id", "profile": _github_profile},
    "google": {
        "title": "Google",
        # Google answers with the full names: asking with them keeps oauthlib's scope check quiet.
        "scope": (
            "openid",
            "https://www.googleapis.com/auth/userinfo.email",
            "https://www.googleapis.com/auth/userinfo.profile",
        ),
        "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
        "id_key": "sub",
    },
    "facebook": {
        "title": "Facebook",
        "scope": ("email",),
        "userinfo_url": "https://graph.facebook.com/me?fields=id,name,email",
        "id_key": "id",
        # Facebook does not say whether it verified the address: treat it as unverified.
        "email_verified_key": None,
    },
}

_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,49}")


def _true(value: Any) -> bool:
    # Some providers send the flag as the string "true".
    return value is True or (isinstance(value, str) and value.lower() == "true")


@dataclass(frozen=True)
class Provider:
    """One provider, its settings checked. ``authorization_url`` and ``token_url`` are
    None for the built-in providers (flask-dance's ``contrib`` knows them)."""

    name: str
    title: str
    client_id: str
    client_secret: str
    scope: tuple[str, ...] = ()
    authorization_url: str | None = None
    token_url: str | None = None
    userinfo_url: str | None = None
    id_key: str = "sub"
    email_key: str | None = "email"
    email_verified_key: str | None = "email_verified"
    profile: Callable[[Getter], Mapping[str, Any]] | None = field(default=None, compare=False)

    @property
    def built_in(self) -> bool:
        return self.name in BUILT_IN

    def _failed(self, why: str) -> OAuthError:
        return OAuthError(
            gettext(
                "%(provider)s did not tell us who you are (%(why)s). Please try again later.",
                provider=self.title,
                why=why,
            ),
            code="OAUTH_PROVIDER_ERROR",
            status=502,
        )

    def identity(self, token: Mapping[str, Any]) -> Identity:
        """Ask the provider who the person with ``token`` is.

        :raises OAuthError: ``OAUTH_PROVIDER_ERROR`` (502) when the provider cannot be
            reached or answers without a usable user id.
        """
        access_token = token.get("access_token") if isinstance(token, Mapping) else None
        if not isinstance(access_token, str) or not access_token:
            raise self._failed(gettext("no access token"))
        with requests.Session() as http:
            http.headers.update({"Authorization": f"Bearer {access_token}", "Accept": "application/json"})

            def get(url: str) -> Any:
                try:
                    response = http.get(url, timeout=TIMEOUT)
                except requests.RequestException:
                    raise self._failed(gettext("it could not be reached")) from None
                if response.status_code != 200:
                    raise self._failed(gettext("its answer was HTTP %(status)s", status=response.status_code))
                try:
                    return response.json()
                except ValueError:
                    raise self._failed(gettext("its answer was not JSON")) from None

            if self.profile is not None:
                profile = self.profile(get)
            elif self.userinfo_url:
                profile = get(self.userinfo_url)
            else:  # checked at init_app
                raise self._failed(gettext("no userinfo_url"))
        if not isinstance(profile, Mapping):
            raise self._failed(gettext("its answer was not an object"))
        user_id = profile.get(self.id_key)
        if isinstance(user_id, bool) or not isinstance(user_id, str | int) or not 0 < len(str(user_id)) <= 255:
            raise self._failed(gettext("no %(key)s in its answer", key=repr(self.id_key)))
        email = profile.get(self.email_key) if self.email_key else None
        if not isinstance(email, str) or not email:
            email = None
        verified = (
            email is not None and self.email_verified_key is not None and _true(profile.get(self.email_verified_key))
        )
        return Identity(self.name, str(user_id), email, verified, dict(profile))


def providers_from_config(config: Mapping[str, Any]) -> dict[str, Provider]:
    """Check ``REGISTRATION_OAUTH_PROVIDERS`` and make its providers.

    A built-in provider's client id and secret may also come from flask-dance's own
    keys (``GITHUB_OAUTH_CLIENT_ID``, ``GITHUB_OAUTH_CLIENT_SECRET``...).

    :raises RuntimeError: naming the provider and the setting that is wrong.
    """
    providers = {}
    for name, settings in config["REGISTRATION_OAUTH_PROVIDERS"].items():
        where = f"REGISTRATION_OAUTH_PROVIDERS[{name!r}]"
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name.startswith("registration"):
            raise RuntimeError(
                f"{where}: a provider's name is lower-case letters, digits and '_', at most 50, "
                "and does not start with 'registration'."
            )
        if not isinstance(settings, Mapping):
            raise RuntimeError(f"{where} must be a dict of settings, not {type(settings).__name__}.")
        for key in settings:
            if key not in SETTINGS:
                close = difflib.get_close_matches(str(key), SETTINGS, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise RuntimeError(f"{where} has no setting {key!r}.{hint}")
        values = {**BUILT_IN.get(name, {}), **settings}
        if name in BUILT_IN:
            for key in ("authorization_url", "token_url"):
                if key in settings:
                    raise RuntimeError(f"{where}: {name} is built in; its {key} cannot be set.")
        else:
            values.setdefault("title", name.replace("_", " ").title())
            for key in ("authorization_url", "token_url"):
                if not isinstance(values.get(key), str) or not values[key]:
                    raise RuntimeError(f"{where} needs {key!r}.")
            if not values.get("userinfo_url") and values.get("profile") is None:
                raise RuntimeError(f"{where} needs 'userinfo_url' (or a 'profile' function).")
        for key in ("client_id", "client_secret"):
            values.setdefault(key, config.get(f"{name.upper()}_OAUTH_{key.upper()}"))
            if not isinstance(values[key], str) or not values[key]:
                raise RuntimeError(f"{where} needs {key!r} (or {name.upper()}_OAUTH_{key.upper()}).")
        scope = values.get("scope", ())
        scope = tuple(scope.split()) if isinstance(scope, str) else scope
        if not isinstance(scope, tuple | list) or not all(isinstance(s, str) and s for s in scope):
            raise RuntimeError(f"{where}['scope'] must be a list of scope names.")
        values["scope"] = tuple(scope)
        if values.get("profile") is not None and not callable(values["profile"]):
            raise RuntimeError(f"{where}['profile'] must be a function.")
        for key in ("title", "userinfo_url", "id_key", "email_key", "email_verified_key"):
            value = values.get(key)
            if (value is not None or key == "id_key" and key in values) and not isinstance(value, str):
                raise RuntimeError(f"{where}[{key!r}] must be a string.")
        providers[name] = Provider(name=name, **values)
    return providers


def get_providers(app: Flask | None = None) -> dict[str, Provider]:
    """The configured providers of ``app`` (default: the current app), by name (empty
    without OAuth)."""
    oauth = get_state(app).oauth
    return oauth.providers if oauth is not None else {}


def titles_by_name(app: Flask | None = None) -> dict[str, str]:
    """The configured providers' titles ("GitHub"...), by name."""
    return {name: provider.title for name, provider in get_providers(app).items()}
