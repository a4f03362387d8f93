"""One app in one process: build it, then serve the orchestrator's commands.

``python worker.py APP PARAMS DIR`` builds ``APP`` (``ours``, ``floor`` or ``fst``) on a
SQLite file in ``DIR`` with argon2 parameters ``PARAMS`` (``defaults`` or ``cheap``), then
reads one JSON command per line on stdin and answers one JSON line on stdout. Requests go
through the app's test client, in this process; every statement the app sends to SQLite is
counted with a SQLAlchemy ``before_cursor_execute`` listener.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

#: argon2-cffi's defaults (what all three use in production) and the test suite's cheap ones.
ARGON2 = {
    "defaults": {"time_cost": 3, "memory_cost": 65536, "parallelism": 4},
    "cheap": {"time_cost": 1, "memory_cost": 8, "parallelism": 1},
}
PASSWORD = "correct horse battery"
#: A link in an email, by its path (the host is the test client's or gunicorn's).
LINK_RE = re.compile(r"https?://[^/\s\"'<>]+(/[^\s\"'<>]+)")


@dataclass
class Target:
    """How to drive one app: its paths and the answers that mean success."""

    module: str
    signup_path: str
    signup_status: int
    signup_body: Callable[[str], dict[str, Any]]
    confirm_path: Callable[[str], str]  # the emailed link's path -> the path to request
    confirm_status: int
    login_path: str
    options: dict[str, Any] = field(default_factory=dict)  # more arguments of create_app


def _ours_confirm(link: str) -> str:
    # The benchmark app sets REGISTRATION_LOOPBACK_CONFIRM_LINKS: the emailed link is
    # LoopBack's GET /api/users/confirm, which answers 204 like the floor.
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


TARGETS: dict[str, Target] = {
    "ours": Target(
        module="demo_app",
        signup_path="/api/users",
        signup_status=202,
        signup_body=lambda email: {"email": email, "password": PASSWORD},
        confirm_path=_ours_confirm,
        confirm_status=204,
        login_path="/api/users/login",
    ),
    "floor": Target(
        module="floor_app",
        signup_path="/api/signup",
        signup_status=202,
        signup_body=lambda email: {"email": email, "password": PASSWORD},
        confirm_path=lambda link: link,
        confirm_status=204,
        login_path="/api/login",
    ),
    "fst": Target(
        module="fst_app",
        signup_path="/register",
        signup_status=200,
        signup_body=lambda email: {"email": email, "password": PASSWORD, "password_confirm": PASSWORD},
        confirm_path=lambda link: link,
        confirm_status=302,
        login_path="/login",
    ),
}


#: ``run.py --against PATH``: the same demo, with the package (and demo) of another tree.
TARGETS["patched"] = TARGETS["ours"]
#: The floor with a row per login, as flask_registration keeps with a session model
#: (``profile_overhead.py``).
TARGETS["floor_rows"] = replace(TARGETS["floor"], options={"session_rows": True})


class BenchmarkError(Exception):
    pass


class Worker:
    def __init__(self, name: str, params: str, directory: str) -> None:
        import importlib

        from sqlalchemy import event

        self.name = name
        self.target = TARGETS[name]
        self.outbox: list[dict[str, Any]] = []
        module = importlib.import_module(self.target.module)
        package = sys.modules.get("flask_registration")  # only the demo imports it
        self.package = os.path.dirname(package.__file__ or "") if package else None
        uri = f"sqlite:///{os.path.join(directory, f'{name}-{params}.sqlite')}"
        self.app = module.create_app(uri, ARGON2[params], self.outbox, **self.target.options)
        self.client = self.app.test_client(use_cookies=False)
        with self.app.app_context():
            engine = self.app.extensions["sqlalchemy"].engine
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._count)
        self.serial = 0
        self.pending: list[tuple[str, str]] = []  # (address, emailed link path), not yet followed
        self.confirmed: list[str] = []  # addresses that can log in
        self.logins = 0
        self.requests = 0
        self.sample: dict[str, list[str]] = {}

    def _count(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)  # inside the timed request: keep it cheap

    def _request(self, op: str, method: str, path: str, status: int, **kwargs: Any) -> tuple[float, int, Any]:
        # Every request comes from its own loopback address, as from many clients, so
        # that per-address rate limits (flask_registration counts them) never refuse one.
        self.requests += 1
        n = self.requests
        environ = {"REMOTE_ADDR": f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"}
        self.statements = []
        start = time.perf_counter()
        response = self.client.open(path, method=method, environ_base=environ, **kwargs)
        elapsed = time.perf_counter() - start
        if response.status_code != status:
            raise BenchmarkError(
                f"{self.name} {op}: {method} {path} answered {response.status_code}, expected {status}: "
                f"{response.get_data(as_text=True)[:500]}"
            )
        self.sample[op] = self.statements
        return elapsed, len(self.statements), response

    # The operations: each returns (seconds, statements) per request.

    def signup(self) -> tuple[float, int]:
        self.serial += 1
        email = f"user{self.serial}-{os.getpid()}@example.com"
        before = len(self.outbox)
        t = self.target
        elapsed, count, _ = self._request("signup", "POST", t.signup_path, t.signup_status, json=t.signup_body(email))
        mails = self.outbox[before:]
        links = [m for mail in mails for m in LINK_RE.findall(mail["text"] or "") if "confirm" in m]
        if len(mails) != 1 or not links:
            raise BenchmarkError(f"{self.name} signup: expected one email with a confirm link, got {mails!r}")
        self.pending.append((email, links[0]))
        self.outbox.clear()
        return elapsed, count

    def confirm(self) -> tuple[float, int]:
        if not self.pending:
            raise BenchmarkError(f"{self.name} confirm: no emailed link left to follow")
        email, link = self.pending.pop(0)
        t = self.target
        elapsed, count, response = self._request("confirm", "GET", t.confirm_path(link), t.confirm_status)
        if t.confirm_status == 302 and "confirm" in response.headers.get("Location", ""):
            raise BenchmarkError(f"{self.name} confirm: redirected to {response.headers['Location']}")
        self.confirmed.append(email)
        return elapsed, count

    def login(self) -> tuple[float, int]:
        if not self.confirmed:
            raise BenchmarkError(f"{self.name} login: no confirmed user")
        email = self.confirmed[self.logins % len(self.confirmed)]
        self.logins += 1
        elapsed, count, _ = self._request(
            "login", "POST", self.target.login_path, 200, json={"email": email, "password": PASSWORD}
        )
        return elapsed, count

    def batch(self, op: str, n: int, budget: float) -> dict[str, Any]:
        """Up to ``n`` requests of ``op``, stopping early once ``budget`` seconds have
        passed (at least one request)."""
        run = getattr(self, op)
        if op == "confirm":
            n = min(n, len(self.pending))
        times, counts = [], []
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            elapsed, count = run()
            times.append(elapsed)
            counts.append(count)
            if time.perf_counter() - start > budget:
                break
        # CPU time of the whole process (its threads too): waits for the disk or for
        # another process's turn on a core are not in it.
        cpu = time.process_time() - cpu
        return {"times": times, "sql": counts, "wall": time.perf_counter() - start, "cpu": cpu}

    def profile(self, op: str, n: int) -> str:
        """A profile of ``n`` requests of ``op`` (pyinstrument if installed, else cProfile)."""
        run = getattr(self, op)
        try:
            from pyinstrument import Profiler
        except ImportError:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                run()
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
            return out.getvalue()
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(n):
            run()
        profiler.stop()
        return str(profiler.output_text(unicode=False, color=False, show_all=False))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    root = os.environ.get("BENCH_PACKAGE_ROOT")
    if root:  # the package under test comes from that tree, ahead of the installed one
        sys.path.insert(0, root)
    # The protocol owns stdout; anything an app prints goes to stderr.
    with os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1) as protocol:
        sys.stdout = sys.stderr
        serve(protocol, *sys.argv[1:4])


def serve(protocol: Any, name: str, params: str, directory: str) -> None:
    try:
        worker = Worker(name, params, directory)
        reply: dict[str, Any] = {"ok": True, "rss_after_build": peak_rss_mib(), "package": worker.package}
    except Exception as exc:  # report it to the orchestrator, which stops the run
        traceback.print_exc()
        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    protocol.write(json.dumps(reply) + "\n")
    if not reply["ok"]:
        return
    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["cmd"] == "quit":
                break
            if command["cmd"] == "batch":
                reply = {"ok": True, **worker.batch(command["op"], command["n"], command["budget"])}
            elif command["cmd"] == "profile":
                reply = {"ok": True, "text": worker.profile(command["op"], command["n"])}
            elif command["cmd"] == "layers":  # profile_overhead.py: counts and time per layer
                from overhead_layers import measure

                reply = {"ok": True, **measure(worker, command["op"], command["n"])}
            elif command["cmd"] == "report":
                sample = {op: [" ".join(s.split()) for s in statements] for op, statements in worker.sample.items()}
                reply = {"ok": True, "peak_rss_mib": peak_rss_mib(), "sample_sql": sample}
            else:
                reply = {"ok": False, "error": f"unknown command {command['cmd']!r}"}
        except BenchmarkError as exc:
            reply = {"ok": False, "error": str(exc)}
        protocol.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
