"""The flows: plain functions that know neither HTML nor JSON.

The HTML views and the JSON API are thin shells over these, so a rule lives in one
place and the two faces cannot disagree.
"""

from . import methods, reauth
from .access import check_ttl, current_access_token, issue_access_token, revoke_access_token
from .email_change import cancel_email_change, confirm_email_change, request_email_change
from .login import LoginResult, authenticate, login, logout
from .password import change_password, request_password_reset, reset_password
from .sessions import log_out_everywhere, start_session
from .signup import SignupResult, signup
from .verify import ConfirmResult, confirm, resend, send_verification, verification_link

__all__ = [
    "methods",
    "reauth",
    "ConfirmResult",
    "LoginResult",
    "SignupResult",
    "authenticate",
    "cancel_email_change",
    "change_password",
    "check_ttl",
    "confirm",
    "confirm_email_change",
    "current_access_token",
    "issue_access_token",
    "log_out_everywhere",
    "login",
    "logout",
    "request_email_change",
    "request_password_reset",
    "resend",
    "reset_password",
    "revoke_access_token",
    "send_verification",
    "signup",
    "start_session",
    "verification_link",
]
