"""The test app: a model of the app's own, with an extra ``username`` column."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_registration import AccessTokenMixin, Registration, SessionMixin, UserMixin
from flask_registration.factors import FactorMixin


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(db.Model, UserMixin):  # type: ignore[name-defined]
    __tablename__ = "users"
    username: Mapped[str | None] = mapped_column(String(40), unique=True, nullable=True)


class AccessToken(db.Model, AccessTokenMixin):  # type: ignore[name-defined]
    __tablename__ = "access_tokens"
    __user_tablename__ = "users"


class LoginSession(db.Model, SessionMixin):  # type: ignore[name-defined]
    __tablename__ = "login_sessions"
    __user_tablename__ = "users"


#: Cheap argon2 parameters: tests measure behaviour, not hashing cost.
CHEAP_ARGON2 = {
    "REGISTRATION_ARGON2_TIME_COST": 1,
    "REGISTRATION_ARGON2_MEMORY_COST": 8,
    "REGISTRATION_ARGON2_PARALLELISM": 1,
}


class MemoryBytecodeCache(BytecodeCache):
    """Compiled templates kept for the whole test run.

    Every test makes a new app, and each app's Jinja environment would compile the
    library's templates again: about a tenth of a fast test's time. Jinja checks the
    source's checksum before it uses a cached entry, so a changed template is compiled.
    """

    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.entries:
            bucket.bytecode_from_string(self.entries[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.entries[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = MemoryBytecodeCache()


def cache_url_builders() -> None:
    """Compile each URL rule's builder once per test run, not once per test app.

    Every test makes a new app, and Werkzeug compiles two builder functions per route
    from an AST when a rule is bound: about 40 routes, a quarter of a fast test's
    time. The builder is a plain function of the rule's text and trace (the rule and
    its converters come in as ``self`` when it is called), so one compiled for an equal
    rule in an earlier app is the same function. This touches Werkzeug's private
    ``Rule._compile_builder``; if that name goes away the cache is simply not installed,
    and the tests run as before, only slower. Tests only: the library does not do this.
    """
    from werkzeug.routing.rules import Rule

    original = getattr(Rule, "_compile_builder", None)
    if original is None or getattr(original, "cached_by_tests", False):
        return
    builders: dict[tuple[Any, ...], Any] = {}

    def compile_builder(self: Rule, append_unknown: bool = True) -> Any:
        try:
            key = (
                self.rule,
                self.map.host_matching if self.map is not None else None,
                self.subdomain,
                self.host,
                tuple(sorted((str(k), repr(v)) for k, v in (self.defaults or {}).items())),
                tuple(self._trace),
                tuple((name, type(conv)) for name, conv in self._converters.items()),
                append_unknown,
            )
            hash(key)
        except Exception:  # pragma: no cover - an unhashable default: compile as usual
            return original(self, append_unknown)
        if key not in builders:
            builders[key] = original(self, append_unknown)
        return builders[key]

    compile_builder.cached_by_tests = True  # type: ignore[attr-defined]
    Rule._compile_builder = compile_builder  # type: ignore[method-assign]


cache_url_builders()


def make_app(config: dict[str, Any] | None = None, *, registration: Registration | None = None) -> Flask:
    """A fresh app with a fresh Registration (or the one given)."""
    app = Flask(__name__)
    app.jinja_options = {**app.jinja_options, "bytecode_cache": TEMPLATE_CACHE}
    app.config.update(
        TESTING=True,
        # At least 16 characters: some tests serve the app with TESTING off.
        SECRET_KEY="test secret key of the suite",
        SERVER_NAME="localhost",
        MAIL_SUPPRESS_SEND=False,
        MAIL_DEFAULT_SENDER="Tests <tests@example.com>",
        SQLALCHEMY_DATABASE_URI="sqlite://",
        REGISTRATION_SIGNUP_FIELDS=["username"],
        # Many tests sign up and log in again and again from one address: the limits are
        # off here, and tests/test_rate_limits.py turns them on.
        REGISTRATION_RATE_LIMITS_ENABLED=False,
        **CHEAP_ARGON2,
    )
    app.config.update(config or {})
    db.init_app(app)
    ext = registration or Registration(db=db, user_model=User, token_model=AccessToken, session_model=LoginSession)
    ext.init_app(app)

    @app.get("/")
    def home() -> str:
        return "home"

    return app


class Factor(db.Model, FactorMixin):  # type: ignore[name-defined]
    """Second factors: only the apps of the second-factor tests pass it to Registration."""

    __tablename__ = "factors"
    __user_tablename__ = "users"
