"""The floor: signup, confirm and login written by hand, as a Flask user would.

Flask + Flask-SQLAlchemy + argon2-cffi + itsdangerous, and email-validator (which both
libraries also use) for the address. It does what flask_registration's JSON API does on
the measured paths: validate the body, normalise the address, hash, insert under a unique
index, sign a link bound to the address, render a text and an HTML email and hand them to
an in-process outbox; confirm checks the signature, its age and the address, and sets
``verified_at`` once; login checks the password (against a dummy hash for an unknown
address), refuses an unverified address and starts a session; ``/api/me`` answers the
logged-in user. Nothing more: no hooks,
signals, forms, configuration checks or error vocabulary.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from email_validator import EmailNotValidError, validate_email
from flask import Flask, jsonify, render_template, request, session, url_for
from flask_sqlalchemy import SQLAlchemy
from itsdangerous import BadData, URLSafeTimedSerializer
from jinja2 import DictLoader
from sqlalchemy import DateTime, ForeignKey, Integer, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginSession(db.Model):  # type: ignore[name-defined,misc]
    """A row per login (only with ``session_rows``): logout can end it on the server."""

    __tablename__ = "login_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the session id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


TEMPLATES = {
    "verify.txt": "Hello,\n\nPlease confirm your email address by opening this link:\n\n{{ link }}\n\n"
    "The link works for 48 hours. If you did not sign up, you can ignore this message.\n",
    "verify.html": '<!doctype html>\n<html lang="en"><body>\n<p>Hello,</p>\n'
    '<p>Please confirm your email address:</p>\n<p><a href="{{ link }}">Confirm my email address</a></p>\n'
    "<p>Or copy this link into your browser:<br>{{ link }}</p>\n"
    "<p>The link works for 48 hours. If you did not sign up, you can ignore this message.</p>\n</body></html>\n",
}

VERIFY_MAX_AGE = 2 * 24 * 3600
SESSION_LIFETIME = timedelta(days=31)  # Flask's PERMANENT_SESSION_LIFETIME


def _digest(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def _session_digest(session_id: str) -> str:
    return hashlib.sha256(f"session:{session_id}".encode()).hexdigest()


def create_app(
    database_uri: str, argon2: dict[str, int], outbox: list[dict[str, Any]], *, session_rows: bool = False
) -> Flask:
    """The floor app; every email is appended to ``outbox`` instead of being sent. With
    ``session_rows``, a login also writes a row of its own (its expired ones deleted),
    as flask_registration does with a session model, and ``/api/me`` needs it."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="benchmark secret key", SQLALCHEMY_DATABASE_URI=database_uri)
    app.jinja_loader = DictLoader(TEMPLATES)
    db.init_app(app)
    hasher = PasswordHasher(**argon2)
    dummy_hash = hasher.hash("dummy password")
    signer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="verify")

    def error(message: str, status: int = 422) -> tuple[Any, int]:
        return jsonify({"error": message}), status

    @app.post("/api/signup")
    def signup() -> tuple[Any, int]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error("send a JSON object", 400)
        email, password = data.get("email"), data.get("password")
        if not isinstance(email, str) or not isinstance(password, str):
            return error("email and password are required")
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return error("invalid email")
        if not 8 <= len(password) <= 1024:
            return error("password must be 8 to 1024 characters")
        user = User(email=email, password_hash=hasher.hash(password))
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:  # taken: answer the same, so nobody learns which addresses exist
            db.session.rollback()
            return jsonify({"email": email}), 202
        token = signer.dumps([str(user.id), _digest(email)])
        link = url_for("confirm", uid=user.id, token=token, _external=True)
        outbox.append(
            {
                "to": email,
                "subject": "Confirm your email address",
                "text": render_template("verify.txt", link=link),
                "html": render_template("verify.html", link=link),
            }
        )
        return jsonify({"email": email}), 202

    @app.get("/api/confirm")
    def confirm() -> tuple[Any, int]:
        try:
            uid, digest = signer.loads(request.args.get("token", ""), max_age=VERIFY_MAX_AGE)
        except (BadData, ValueError):
            return error("invalid or expired link", 400)
        if uid != request.args.get("uid"):
            return error("invalid link", 400)
        user = db.session.get(User, int(uid))
        if user is None or not hmac.compare_digest(digest, _digest(user.email)):
            return error("invalid link", 400)
        if user.verified_at is None:
            user.verified_at = datetime.now(UTC)
            db.session.commit()
        return "", 204

    @app.post("/api/login")
    def login() -> Any:
        data = request.get_json(silent=True) or {}
        email, password = str(data.get("email", "")).lower(), str(data.get("password", ""))
        user = db.session.scalars(select(User).where(User.email == email)).first()
        try:
            ok = hasher.verify(user.password_hash if user else dummy_hash, password) and user is not None
        except VerificationError:
            ok = False
        if not ok or user is None:
            return error("login failed", 401)
        if user.verified_at is None:
            return error("email not verified", 401)
        session["uid"] = user.id
        answer = {"id": user.id, "email": user.email}  # read before a commit expires the user
        if session_rows:
            now, sid = datetime.now(UTC), secrets.token_urlsafe(32)
            expired = delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.expires_at <= now)
            db.session.execute(expired)
            db.session.add(LoginSession(id=_session_digest(sid), user_id=user.id, expires_at=now + SESSION_LIFETIME))
            db.session.commit()
            session["sid"] = sid
        return jsonify(answer)

    @app.get("/api/me")
    def me() -> Any:
        user = db.session.get(User, session["uid"]) if isinstance(session.get("uid"), int) else None
        if session_rows and user is not None:
            row = db.session.get(LoginSession, _session_digest(str(session.get("sid"))))
            user = user if row is not None and row.user_id == user.id else None
        if user is None:
            return error("log in first", 401)
        return jsonify({"id": user.id, "email": user.email})

    with app.app_context():
        db.create_all()
    return app
