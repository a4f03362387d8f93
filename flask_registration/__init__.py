"""flask_registration: user registration for Flask apps.

Signup pages and a LoopBack-compatible JSON API, email verification links, login that
waits for verification, and hooks for the app's own rules.
"""

from .errors import (
    AuthorizationRequired,
    CSRFError,
    EmailNotVerified,
    InvalidPassword,
    InvalidToken,
    LoginFailed,
    MalformedRequest,
    OAuthError,
    PayloadTooLarge,
    ProofRequired,
    RateLimited,
    ReauthenticationRequired,
    RegistrationError,
    TokenExpired,
    UntrustedHost,
    UserNotFound,
    ValidationError,
)
from .extension import Registration
from .flows.access import user_from_access_token
from .models import AccessTokenMixin, OAuthMixin, SessionMixin, UserMixin
from .redirects import safe_redirect
from .state import get_state

__version__ = "0.1.0"

__all__ = [
    "AccessTokenMixin",
    "AuthorizationRequired",
    "CSRFError",
    "EmailNotVerified",
    "InvalidPassword",
    "InvalidToken",
    "LoginFailed",
    "MalformedRequest",
    "OAuthError",
    "OAuthMixin",
    "PayloadTooLarge",
    "ProofRequired",
    "RateLimited",
    "ReauthenticationRequired",
    "Registration",
    "RegistrationError",
    "SessionMixin",
    "TokenExpired",
    "UntrustedHost",
    "UserMixin",
    "UserNotFound",
    "ValidationError",
    "get_state",
    "safe_redirect",
    "user_from_access_token",
]
