"""Third-party login: log in, sign up and link accounts with GitHub, Google, Facebook
or any OAuth2 provider, through flask-dance.

Needs the ``oauth`` extra: ``pip install 'flask-registration[oauth]'``. The core never
imports this package: ``Registration.init_app`` calls :func:`init_app` when an OAuth
model or providers are configured. Inside, from the bottom up:

- :mod:`.providers`: the providers, from ``REGISTRATION_OAUTH_PROVIDERS``, and the
  :class:`Identity` one answers with;
- :mod:`.storage`: the store of linked identities, and flask-dance's token storage;
- :mod:`.flows` and :mod:`.pending`: the rules, knowing neither HTML, JSON nor flask-dance;
- the faces: :mod:`.dance` (flask-dance's blueprints and signals), :mod:`.pages` (HTML)
  and :mod:`.api` (JSON).
"""

from __future__ import annotations

try:
    import flask_dance  # noqa: F401
except ImportError as exc:  # pragma: no cover (the extra is installed in the tests)
    raise ImportError("Third-party login needs flask-dance: pip install 'flask-registration[oauth]'.") from exc

from typing import Any

from flask import Flask

from ..state import OAuthState, get_state
from . import api, dance, pages
from .flows import OAuthResult
from .providers import Identity, Provider, get_providers, providers_from_config
from .storage import IdentityStore, IdentityTaken, TokenStorage, get_identities


def init_app(app: Flask, *, db: Any, model: Any, user_model: Any) -> None:
    """Set third-party login up on ``app`` (``Registration.init_app`` calls this):
    the providers of ``REGISTRATION_OAUTH_PROVIDERS``, the address page and the
    connections pages.

    :raises RuntimeError: a provider's settings are wrong, or providers are configured
        without an OAuth model.
    """
    if model is None:
        raise RuntimeError("REGISTRATION_OAUTH_PROVIDERS needs an OAuth model: Registration(oauth_model=...).")
    providers = providers_from_config(app.config)
    get_state(app).oauth = OAuthState(identities=IdentityStore(db, model, user_model), providers=providers)
    dance.init_app(app, providers=providers, model=model, db=db)
    pages.init_app(app)
    api.init_app(app)


__all__ = [
    "Identity",
    "IdentityStore",
    "IdentityTaken",
    "OAuthResult",
    "Provider",
    "TokenStorage",
    "get_identities",
    "get_providers",
    "init_app",
    "providers_from_config",
]
