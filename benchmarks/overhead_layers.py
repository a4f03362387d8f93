"""The instruments of ``profile_overhead.py``, used inside an app's worker process:
the layers a request goes through, a tracer that counts the calls, SQL statements,
commits and threads of each, and a timer around each layer's entry points."""

from __future__ import annotations

import functools
import gc
import importlib
import sys
import threading
import time
import types
from collections import Counter
from collections.abc import Callable
from typing import Any

#: The layers, by their entry points (``module:Qualified.name``). A call is charged to the
#: outermost layer on the stack; the same names serve both apps (the floor calls the
#: libraries directly, flask_registration through its own functions).
LAYERS: dict[str, tuple[str, ...]] = {
    "library request hooks (API guard, body limit, frame headers)": (
        "flask_registration.jsonface:guard",
        "flask_registration.extension:_limit_body",
        "flask_registration.headers:add_frame_headers",
        "flask_registration._compat:exempt_from_csrf_protect",
    ),
    "rate limits (Flask-Limiter, memory)": (
        "flask_registration.limits:_take",
        "flask_registration.limits:Attempt.give_back",
    ),
    "Flask-Limiter's request hooks (every request)": (
        "flask_limiter._extension:Limiter._check_request_limit",
        "flask_limiter._extension:Limiter._Limiter__inject_headers",
        "flask_limiter._extension:Limiter._Limiter__release_context",
    ),
    "JSON body and field checks": (
        "flask_registration.jsonface:read_body",
        "flask_registration.validation:check_payload",
        "flask_registration.validation:check_password",
        "flask_registration.flows.signup:check_column_values",
        "flask_registration.usernames:normalize_username_field",
        "flask_registration.flows.access:check_ttl",
        "flask_registration.links:check_request_host",
        "werkzeug.wrappers.request:Request.get_json",
    ),
    "address check (email-validator)": (
        "flask_registration.validation:normalize_email",
        "email_validator:validate_email",
    ),
    "password hash (cheap argon2)": (
        "flask_registration.passwords:Passwords.hash",
        "flask_registration.passwords:Passwords.verify",
        "flask_registration.passwords:Passwords.needs_rehash",
        "argon2:PasswordHasher.hash",
        "argon2:PasswordHasher.verify",
    ),
    "SQL: look-up, insert, commit, re-reads": (
        "sqlalchemy.orm.session:Session.execute",
        "sqlalchemy.orm.session:Session.scalars",
        "sqlalchemy.orm.session:Session.get",
        "sqlalchemy.orm.session:Session.commit",
        "sqlalchemy.orm.session:Session.flush",
        "sqlalchemy.orm.state:InstanceState._load_expired",
    ),
    "second factor: does the account have one?": ("flask_registration.flows.login:second_step",),
    "login session row (insert, commit)": ("flask_registration.session_store:SessionStore.create",),
    "login: new cookie session, Flask-Login, re-auth mark": (
        "flask_registration.flows.sessions:_regenerate",
        "flask_login.utils:login_user",
        "flask_login.login_manager:LoginManager._update_remember_cookie",
        "flask_registration.reauth:mark",
    ),
    "signals (blinker; Flask's too)": ("blinker.base:Signal.send",),
    "hooks (before_*, after_*)": ("flask_registration.hooks:HookRegistry.run",),
    "verification email (token, link, 2 templates)": (
        "flask_registration.flows.verify:send_verification",
        "flask.templating:render_template",
        "flask.helpers:url_for",
        "itsdangerous.serializer:Serializer.dumps",
    ),
    "cookie session (open, save)": (
        "flask.sessions:SecureCookieSessionInterface.open_session",
        "flask.sessions:SecureCookieSessionInterface.save_session",
    ),
    "JSON answer (user_json, jsonify)": ("flask_registration.api:user_json", "flask.json:jsonify"),
}
REST = "Flask, Werkzeug, the test client, the view"


def resolve(target: str) -> tuple[Any, str, Callable[..., Any]]:
    """``(owner, attribute, function)`` of ``module:Qual.name``: the class or module that
    holds it, and the plain function (methods too)."""
    module_name, _, qualname = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    function = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    return owner, name, function


def entry_points() -> list[tuple[str, Any, str, Callable[..., Any]]]:
    """Every layer's entry points that this process has (the floor lacks the library's)."""
    found = []
    for layer, targets in LAYERS.items():
        for target in targets:
            try:
                owner, name, function = resolve(target)
            except (ImportError, AttributeError, KeyError):
                continue
            found.append((layer, owner, name, function))
    return found


# -- counts: a tracer --------------------------------------------------------------------


class CallCounter:
    """Counts calls, SQL statements and commits per outermost layer, and thread starts."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.codes = {function.__code__: layer for layer, _, _, function in entry_points()}
        self.thread_start = threading.Thread.start.__code__
        self.calls: Counter[str] = Counter()
        self.sql: Counter[str] = Counter()
        self.commits: Counter[str] = Counter()
        self.threads = 0
        self.layer = REST
        self.frame: Any = None

    def _trace(self, frame: Any, event: str, _arg: Any) -> None:
        if event == "call":
            if self.frame is None and frame.f_code in self.codes:
                self.frame, self.layer = frame, self.codes[frame.f_code]
            elif frame.f_code is self.thread_start:
                self.threads += 1
            self.calls[self.layer] += 1
        elif event == "c_call":
            self.calls[self.layer] += 1
        elif event == "return" and frame is self.frame:
            self.frame, self.layer = None, REST

    def _statement(self, *_args: Any) -> None:
        self.sql[self.layer] += 1

    def _commit(self, *_args: Any) -> None:
        self.commits[self.layer] += 1

    def run(self, request: Callable[[], Any], n: int) -> None:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        sys.setprofile(self._trace)
        try:
            for _ in range(n):
                request()
        finally:
            sys.setprofile(None)
            event.remove(self.engine, "before_cursor_execute", self._statement)
            event.remove(self.engine, "commit", self._commit)


# -- time: a timer around each entry point ------------------------------------------------


class LayerTimer:
    """Wall time per outermost layer: each entry point is replaced, wherever the process
    holds it (module and class attributes, the app's lists of request functions), by a
    wrapper that times it when no other layer is running."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.active: str | None = None
        self.undo: list[Callable[[], None]] = []

    def _wrap(self, layer: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.active is not None:
                return function(*args, **kwargs)
            self.active = layer
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[layer] += time.perf_counter() - start
                self.active = None

        return timed

    def _replace_in(self, holder: Any, old: Any, new: Any) -> None:
        if isinstance(holder, list):
            for i, item in enumerate(holder):
                if item is old:
                    holder[i] = new
                    self.undo.append(functools.partial(holder.__setitem__, i, old))
        elif isinstance(holder, dict) and not ("__module__" in holder and "__qualname__" in holder):
            for key, value in list(holder.items()):  # a module's namespace, a registry
                if value is old:
                    holder[key] = new
                    self.undo.append(functools.partial(holder.__setitem__, key, old))

    def install(self) -> None:
        for layer, owner, name, function in entry_points():
            wrapper = self._wrap(layer, function)
            if isinstance(owner, type):  # a method: the class, and bound copies kept in lists
                setattr(owner, name, wrapper)
                self.undo.append(functools.partial(setattr, owner, name, function))
                for bound in gc.get_referrers(function):
                    if isinstance(bound, types.MethodType):
                        rebound: Any = types.MethodType(wrapper, bound.__self__)
                    elif isinstance(bound, functools.partial) and bound.func is function:
                        rebound = functools.partial(wrapper, *bound.args, **bound.keywords)
                    else:
                        continue
                    for holder in gc.get_referrers(bound):
                        self._replace_in(holder, bound, rebound)
            else:  # a function: every namespace and list that holds it
                for holder in gc.get_referrers(function):
                    self._replace_in(holder, function, wrapper)

    def uninstall(self) -> None:
        while self.undo:
            self.undo.pop()()


# -- in the worker process ----------------------------------------------------------------


def measure(worker: Any, op: str, n: int) -> dict[str, Any]:
    """Counts, then time per layer, of ``n`` requests of ``op`` each (``worker.py``'s
    ``layers`` command)."""
    request = getattr(worker, op)
    with worker.app.app_context():
        engine = worker.app.extensions["sqlalchemy"].engine
    counter = CallCounter(engine)
    counter.run(request, n)
    timer = LayerTimer()
    timer.install()
    try:
        start = time.perf_counter()
        for _ in range(n):
            request()
        wall = time.perf_counter() - start
    finally:
        timer.uninstall()
    return {
        "calls": dict(counter.calls),
        "sql": dict(counter.sql),
        "commits": dict(counter.commits),
        "threads": counter.threads,
        "seconds": {**timer.seconds, REST: wall - sum(timer.seconds.values())},
        "wall": wall,
        "n": n,
    }
