"""Flask-WTF forms for the HTML pages (CSRF on, as Flask-WTF does by default).

The forms only check what a browser needs told at once (a field left empty, two
passwords that differ); the flows check everything else, the same way for HTML and JSON.
An app that needs more fields subclasses :class:`SignupForm` and passes it as
``Registration(signup_form=...)``; every extra field's data goes to the signup flow.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, InputRequired

#: Form fields that are not part of the data handed to a flow.
NOT_DATA = frozenset({"csrf_token", "submit", "password_confirm", "next"})


class SignupForm(FlaskForm):
    """Email, password and the password again."""

    email = EmailField("Email", validators=[DataRequired()], render_kw={"autocomplete": "email"})
    password = PasswordField("Password", validators=[InputRequired()], render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(
        "Password (again)",
        validators=[InputRequired(), EqualTo("password", message="The passwords do not match.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Sign up")

    def flow_data(self) -> dict[str, Any]:
        """The submitted data, as the signup flow takes it."""
        return {name: field.data for name, field in self._fields.items() if name not in NOT_DATA}


class LoginForm(FlaskForm):
    """Email and password; ``next`` is checked before it is followed."""

    email = EmailField("Email", validators=[DataRequired()], render_kw={"autocomplete": "email"})
    password = PasswordField("Password", validators=[InputRequired()], render_kw={"autocomplete": "current-password"})
    next = HiddenField()
    submit = SubmitField("Log in")


class ResendForm(FlaskForm):
    """Ask for a new verification link."""

    email = EmailField("Email", validators=[DataRequired()], render_kw={"autocomplete": "email"})
    submit = SubmitField("Send a new link")


class LogoutForm(FlaskForm):
    """A form with nothing but its CSRF token: logging out changes state."""

    submit = SubmitField("Log out")
