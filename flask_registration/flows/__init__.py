"""The flows: plain functions that know neither HTML nor JSON.

The HTML views and the JSON API are thin shells over these, so a rule lives in one
place and the two faces cannot disagree.
"""

from .login import authenticate, login, logout
from .signup import SignupResult, signup
from .verify import ConfirmResult, confirm, resend, send_verification, verification_link

__all__ = [
    "ConfirmResult",
    "SignupResult",
    "authenticate",
    "confirm",
    "login",
    "logout",
    "resend",
    "send_verification",
    "signup",
    "verification_link",
]
