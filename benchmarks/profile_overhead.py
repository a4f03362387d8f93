"""Where a signup's and a login's time goes: flask_registration against the floor, layer
by layer, with cheap argon2 (the hash almost vanishes, what is left is the overhead).

Usage (from the repository root, in the project's virtualenv)::

    python benchmarks/profile_overhead.py                  # signup and login, 200 each
    python benchmarks/profile_overhead.py --count 500 --rounds 8 --ops login

Each app runs in its own process (``worker.py``), driven over a pipe as ``run.py``
drives it. For each operation:

1. **Time, plain**: batches of requests, the two apps taking turns (A B A B ...); the
   ratio is this app's median latency over the floor's, per round. No instrumentation.
2. **Counts**: ``count`` requests under a ``sys.setprofile`` tracer that counts every
   function call (Python and C), SQL statement and commit, each charged to the
   outermost *layer* it runs in (below), and every thread started. Counts do not depend
   on the machine's load: they are what to compare from run to run.
3. **Time per layer**: ``count`` more requests with a timer around each layer's entry
   points only (a few per request, so the figures stay close to the plain ones); the
   time of nested layers goes to the outermost one, what no layer holds to "Flask,
   Werkzeug, the test client".

On a loaded machine the times wander (the min..max of the ratios shows how much); the
counts do not.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import statistics
import sys
import tempfile
import threading
import time
import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

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


# -- the orchestrator ----------------------------------------------------------------------


@dataclass
class Plan:
    count: int
    rounds: int
    batch: int
    warmup: int


#: The apps each operation is measured on: a signup of the floor with session rows is the
#: floor's signup, so that one is left out of it.
APPS = {"signup": ("ours", "floor"), "login": ("ours", "floor", "floor_rows")}
SHORT = {"ours": "ours", "floor": "floor", "floor_rows": "+rows"}


def plain_ratio(workers: dict[str, Any], op: str, plan: Plan) -> dict[str, dict[str, list[float]]]:
    """Per round and app, the median latency of a batch of ``op`` and the process's CPU
    time per request over the batch (the apps taking turns)."""
    rounds: dict[str, dict[str, list[float]]] = {app: {"latency": [], "cpu": []} for app in APPS[op]}
    for _ in range(plan.rounds):
        for app in APPS[op]:
            if op == "login":
                workers[app].call(cmd="batch", op="confirm", n=plan.batch, budget=60.0)  # users to log in
            reply = workers[app].call(cmd="batch", op=op, n=plan.batch, budget=60.0)
            rounds[app]["latency"].append(statistics.median(reply["times"]))
            rounds[app]["cpu"].append(reply["cpu"] / len(reply["times"]))
    return rounds


def print_report(op: str, rounds: dict[str, dict[str, list[float]]], layers: dict[str, dict[str, Any]]) -> None:
    from run import NAMES

    apps = list(layers)
    print(f"\n== {op}, cheap argon2 (t=1, m=8 KiB, p=1)")
    for key, label in (("latency", "median latency"), ("cpu", "CPU time of the process per request")):
        mine = rounds["ours"][key]
        figures = ", ".join(f"{NAMES[app]} {statistics.median(rounds[app][key]) * 1000:.2f} ms" for app in apps)
        print(f"{label}, {len(mine)} interleaved rounds: {figures}")
        for other in apps[1:]:
            ratios = [x / y for x, y in zip(mine, rounds[other][key], strict=True)]
            print(
                f"  flask_registration / {NAMES[other]}: {statistics.median(ratios):.2f} "
                f"(min {min(ratios):.2f}, max {max(ratios):.2f})"
            )
    print("per request" + "".join(f"{NAMES[app]:>22}" for app in apps))
    for label, key in (("function calls", "calls"), ("SQL statements", "sql"), ("commits", "commits")):
        print(f"  {label:17}" + "".join(f"{sum(layers[a][key].values()) / layers[a]['n']:>22.1f}" for a in apps))
    print(f"  {'threads started':17}" + "".join(f"{layers[a]['threads'] / layers[a]['n']:>22.2f}" for a in apps))
    print(f"  {'ms (timed pass)':17}" + "".join(f"{layers[a]['wall'] / layers[a]['n'] * 1000:>22.3f}" for a in apps))
    header = f"\n  {'layer':52}"
    for what in ("ms", "calls", "SQL", "commits"):
        header += "".join(
            f"{what + ' ' + SHORT[a] if i == 0 else SHORT[a]:>{14 if i == 0 else 6}}" for i, a in enumerate(apps)
        )
    print(header)
    for layer in [*LAYERS, REST]:
        ms = [layers[a]["seconds"].get(layer, 0.0) / layers[a]["n"] * 1000 for a in apps]
        counts = {
            key: [layers[a][key].get(layer, 0) / layers[a]["n"] for a in apps] for key in ("calls", "sql", "commits")
        }
        if not any(ms) and not any(map(any, counts.values())):
            continue
        row = f"  {layer[:52]:52}" + "".join(f"{v:>{14 if i == 0 else 6}.2f}" for i, v in enumerate(ms))
        row += "".join(f"{v:>{14 if i == 0 else 6}.0f}" for i, v in enumerate(counts["calls"]))
        for key in ("sql", "commits"):
            row += "".join(f"{v:>{14 if i == 0 else 6}.1f}" for i, v in enumerate(counts[key]))
        print(row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", nargs="+", choices=("signup", "login"), default=["signup", "login"])
    parser.add_argument("--count", type=int, default=200, help="requests per app for the counts and for the layers")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds of the plain timing")
    parser.add_argument("--batch", type=int, default=40, help="requests per app and round of the plain timing")
    parser.add_argument("--warmup", type=int, default=20, help="requests of each operation first, not measured")
    parser.add_argument(
        "--tmpfs",
        action="store_true",
        help="keep the SQLite files in /dev/shm: a commit then waits for no disk (what is left is CPU)",
    )
    args = parser.parse_args(argv)
    plan = Plan(count=args.count, rounds=args.rounds, batch=args.batch, warmup=args.warmup)
    sys.path.insert(0, str(HERE))
    from run import REPO, WorkerProcess, load_average, machine, package_description, versions

    print("flask_registration overhead profile (in-process test clients, SQLite files, cheap argon2)")
    print(f"machine: {machine()}")
    print(f"versions: {versions(['ours'])}")
    print(f"package: {package_description(REPO)}")
    started = time.monotonic()
    where = "/dev/shm" if args.tmpfs else None
    print(f"SQLite files: {'in /dev/shm (tmpfs: no disk sync)' if args.tmpfs else 'in a temporary folder on disk'}")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-", dir=where) as directory:
        names = sorted({app for op in args.ops for app in APPS[op]}, key=list(SHORT).index)
        workers = {app: WorkerProcess(app, "cheap", directory) for app in names}
        try:
            for w in workers.values():  # warm up; then users to log in, as many as logins
                for op in ("signup", "confirm", "login"):
                    w.call(cmd="batch", op=op, n=plan.warmup, budget=60.0)
                w.call(cmd="batch", op="signup", n=plan.count * 2, budget=600.0)
                w.call(cmd="batch", op="confirm", n=plan.count * 2, budget=600.0)
            for op in args.ops:
                rounds = plain_ratio(workers, op, plan)
                layers = {app: workers[app].call(cmd="layers", op=op, n=plan.count) for app in APPS[op]}
                print_report(op, rounds, layers)
        finally:
            for w in workers.values():
                w.close()
    print(f"\n(ran in {time.monotonic() - started:.0f} s; load average at the end {load_average()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
