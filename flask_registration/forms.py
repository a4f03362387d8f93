"""Flask-WTF forms for the HTML pages (CSRF on, as Flask-WTF does by default).

The forms only check what a browser needs told at once (a field left empty, two
passwords that differ); the flows check everything else, the same way for HTML and JSON.
An app that needs more fields subclasses :class:`SignupForm` and passes it as
``Registration(signup_form=...)``; every extra field's data goes to the signup flow.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, InputRequired
from wtforms.widgets import TextInput

from .i18n import lazy_gettext

#: What an empty required field says (full sentences, as the flows' messages are).
ENTER_EMAIL = lazy_gettext("Enter your email address.")
ENTER_NEW_EMAIL = lazy_gettext("Enter the new email address.")
ENTER_PASSWORD = lazy_gettext("Enter your password.")
CHOOSE_PASSWORD = lazy_gettext("Choose a password.")
ENTER_CURRENT_PASSWORD = lazy_gettext("Enter your current password.")
ENTER_NEW_PASSWORD = lazy_gettext("Enter a new password.")
ENTER_AGAIN = lazy_gettext("Enter the password again.")

#: Form fields that are not part of the data handed to a flow.
NOT_DATA = frozenset({"csrf_token", "submit", "password_confirm", "next"})

#: Payload field names (LoopBack's) to form field names, for showing a flow's errors.
FIELD_NAMES = {"newPassword": "password", "oldPassword": "old_password", "newEmail": "new_email"}


class SignupForm(FlaskForm):
    """Email, password and the password again."""

    email = EmailField(
        lazy_gettext("Email"), validators=[DataRequired(ENTER_EMAIL)], render_kw={"autocomplete": "email"}
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[InputRequired(CHOOSE_PASSWORD)],
        render_kw={"autocomplete": "new-password"},
    )
    password_confirm = PasswordField(
        lazy_gettext("Password (again)"),
        validators=[
            InputRequired(ENTER_AGAIN),
            EqualTo("password", message=lazy_gettext("The passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(lazy_gettext("Sign up"))

    def flow_data(self) -> dict[str, Any]:
        """The submitted data, as the signup flow takes it."""
        return {name: field.data for name, field in self._fields.items() if name not in NOT_DATA}


class LoginForm(FlaskForm):
    """Email and password; ``next`` is checked before it is followed."""

    email = EmailField(
        lazy_gettext("Email"), validators=[DataRequired(ENTER_EMAIL)], render_kw={"autocomplete": "email"}
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[InputRequired(ENTER_PASSWORD)],
        render_kw={"autocomplete": "current-password"},
    )
    remember = BooleanField(lazy_gettext("Keep me logged in on this device"))
    next = HiddenField()
    submit = SubmitField(lazy_gettext("Log in"))


#: The login field's name and message when it also takes a username.
EMAIL_OR_USERNAME = lazy_gettext("Email or username")
ENTER_EMAIL_OR_USERNAME = lazy_gettext("Enter your email address or username.")


def take_username(form: Any) -> None:
    """Make a login form's ``email`` field the one "Email or username" field: a text
    input (a username is not an address, so not ``type="email"``), its label, its
    message when empty, and ``autocomplete="username"`` (what password managers fill)."""
    field = form.email
    field.label.text = EMAIL_OR_USERNAME
    field.widget = TextInput()
    field.render_kw = {**(field.render_kw or {}), "autocomplete": "username"}
    field.validators = [DataRequired(ENTER_EMAIL_OR_USERNAME)]


def offer_passkeys(form: Any) -> None:
    """Let the browser offer this site's passkeys in a login form's address field
    (WebAuthn's conditional UI, see :doc:`factors`): ``autocomplete="username webauthn"``."""
    field = form.email
    field.render_kw = {**(field.render_kw or {}), "autocomplete": "username webauthn"}


class ResendForm(FlaskForm):
    """Ask for a new verification link."""

    email = EmailField(
        lazy_gettext("Email"), validators=[DataRequired(ENTER_EMAIL)], render_kw={"autocomplete": "email"}
    )
    submit = SubmitField(lazy_gettext("Send a new link"))


class LogoutForm(FlaskForm):
    """A form with nothing but its CSRF token: logging out changes state."""

    submit = SubmitField(lazy_gettext("Log out"))


class ForgotPasswordForm(FlaskForm):
    """Ask for a password-reset link."""

    email = EmailField(
        lazy_gettext("Email"), validators=[DataRequired(ENTER_EMAIL)], render_kw={"autocomplete": "email"}
    )
    submit = SubmitField(lazy_gettext("Send me a reset link"))


def new_password_field() -> Any:
    """The "New password" field of the forms that set one (a field made per form, so
    each form keeps its fields in the order they are declared)."""
    return PasswordField(
        lazy_gettext("New password"),
        validators=[InputRequired(ENTER_NEW_PASSWORD)],
        render_kw={"autocomplete": "new-password"},
    )


def new_password_again_field() -> Any:
    """The new password typed again; it must equal ``password``."""
    return PasswordField(
        lazy_gettext("New password (again)"),
        validators=[
            InputRequired(ENTER_AGAIN),
            EqualTo("password", message=lazy_gettext("The passwords do not match.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ResetPasswordForm(FlaskForm):
    """A new password, at the emailed link (the token rides along, hidden)."""

    token = HiddenField()
    password = new_password_field()
    password_confirm = new_password_again_field()
    submit = SubmitField(lazy_gettext("Set the new password"))


class ChangePasswordForm(FlaskForm):
    """The current password, and the new one twice."""

    old_password = PasswordField(
        lazy_gettext("Current password"),
        validators=[InputRequired(ENTER_CURRENT_PASSWORD)],
        render_kw={"autocomplete": "current-password"},
    )
    password = new_password_field()
    password_confirm = new_password_again_field()
    submit = SubmitField(lazy_gettext("Change the password"))


class ChangeEmailForm(FlaskForm):
    """The new address, and the password to confirm it is you."""

    new_email = EmailField(
        lazy_gettext("New email"), validators=[DataRequired(ENTER_NEW_EMAIL)], render_kw={"autocomplete": "email"}
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[InputRequired(ENTER_PASSWORD)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(lazy_gettext("Change the email address"))


class CancelEmailChangeForm(FlaskForm):
    """Nothing but the CSRF token: cancelling changes state."""

    submit = SubmitField(lazy_gettext("Cancel the change"))


class ConfirmEmailChangeForm(FlaskForm):
    """The emailed link's uid and token; a button, so that a mail scanner opening the
    link changes nothing."""

    uid = HiddenField()
    token = HiddenField()
    submit = SubmitField(lazy_gettext("Use this address"))


class ConfirmForm(FlaskForm):
    """The emailed verification link's uid and token, and (from another browser than
    the one that signed up) the account's password: a button, so that a mail scanner
    opening the link changes nothing."""

    uid = HiddenField()
    token = HiddenField()
    password = PasswordField(lazy_gettext("Your password"), render_kw={"autocomplete": "current-password"})
    submit = SubmitField(lazy_gettext("Confirm my email address"))


class ConfirmNewPasswordForm(FlaskForm):
    """Confirm the address by setting a new password, which removes every earlier way
    to log in (for an owner who did not sign up, or forgot the password)."""

    uid = HiddenField()
    token = HiddenField()
    password = new_password_field()
    password_confirm = new_password_again_field()
    submit = SubmitField(lazy_gettext("Set the password and confirm"))


class ReauthForm(FlaskForm):
    """The password again, to confirm it is the owner before a sensitive change."""

    password = PasswordField(
        lazy_gettext("Password"),
        validators=[InputRequired(ENTER_PASSWORD)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    submit = SubmitField(lazy_gettext("Confirm it is me"))


class ReauthEmailForm(FlaskForm):
    """Ask for a re-authentication link by email (for an account without a password)."""

    next = HiddenField()
    submit = SubmitField(lazy_gettext("Email me a link"))


class ReauthLinkForm(FlaskForm):
    """The emailed re-authentication link's uid and token, behind a button."""

    uid = HiddenField()
    token = HiddenField()
    next = HiddenField()
    submit = SubmitField(lazy_gettext("Confirm it is me"))
