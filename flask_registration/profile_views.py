"""The HTML face of the profile: ``/account/profile``, a form with one input per profile
field (``REGISTRATION_PROFILE_FIELDS``), made from the app's columns, over the same flow
as ``PATCH /api/users/me``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import Boolean, Float, Integer, Numeric
from wtforms import BooleanField, FloatField, IntegerField, StringField, SubmitField
from wtforms.validators import InputRequired, NumberRange, Optional

from .errors import RegistrationError
from .flows import profile
from .i18n import gettext, lazy_gettext
from .state import get_state
from .usernames import USERNAME, username_login
from .validation import blank, field_label
from .views import Page, form_status, show_errors

bp = Blueprint("registration_profile", __name__)


@bp.app_context_processor
def _profile_fields() -> dict[str, Any]:
    # The account page links to the profile page only when there is something to edit.
    return {"registration_profile_fields": profile.declared_fields}


class ProfileForm(FlaskForm):
    """The profile form; :func:`profile_form` adds one field per profile field."""

    submit = SubmitField(lazy_gettext("Save"))

    def flow_data(self) -> dict[str, Any]:
        """The submitted profile fields, as the profile flow takes them."""
        return {name: field.data for name, field in self._fields.items() if name not in ("csrf_token", "submit")}


def _field(column: Any) -> Any:
    """An input that suits the column (the flow checks the value whatever the input)."""
    label = field_label(column.name).capitalize()
    kind = column.type
    if isinstance(kind, Boolean):
        return BooleanField(label)
    check = Optional() if column.nullable else InputRequired(blank(column.name))
    if isinstance(kind, Integer):
        # Out of range, a number is refused here: it never reaches the flow as an int it cannot store.
        return IntegerField(label, validators=[check, NumberRange(-(2**63), 2**63 - 1)])
    if isinstance(kind, Float | Numeric):
        return FloatField(label, validators=[check])
    extra = {"autocomplete": "username", "autocapitalize": "none"} if column.name == USERNAME else {}
    return StringField(label, validators=[check], render_kw=extra)


def profile_form(names: tuple[str, ...]) -> type[ProfileForm]:
    """A :class:`ProfileForm` subclass with one field per name, in order."""
    table = get_state().store.model.__table__
    fields = {name: _field(table.c[name]) for name in names}
    return type("DeclaredProfileForm", (ProfileForm,), fields)


@bp.route("/account/profile", methods=["GET", "POST"])
@login_required
def profile_page() -> Page:
    """The profile page: the profile fields, filled in, and a button that saves them."""
    user = current_user._get_current_object()
    names = profile.declared_fields()
    form = profile_form(names)(obj=user)
    if names and form.validate_on_submit():
        try:
            profile.update_profile(user, form.flow_data())
        except RegistrationError as exc:
            show_errors(form, exc)
        else:
            flash(gettext("Your profile is saved."), "success")
            return redirect(url_for(".profile_page"))
    context = {"username_rules": USERNAME in names and username_login()}
    return render_template("registration/profile.html", form=form, names=names, **context), form_status(form)
