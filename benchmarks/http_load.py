"""``run.py --http``: the demo and the floor under gunicorn, with a bounded load client.

Each run starts ``gunicorn -w 2`` on a free port of 127.0.0.1 (nothing listens elsewhere),
sends a bounded number of signups over HTTP from a few client threads, stopping at a count
or a deadline, whichever comes first, then follows the emailed links (read from the spool
file the app writes, see ``wsgi.py``) the same way, and stops gunicorn (TERM, then wait).
Each request leaves from its own loopback source address (127.x.y.z), as from many
clients, so that per-address rate limits never refuse one. The client shares the machine's
two cores with the two workers: the figures are what this machine serves end to end, not
what a server with its own cores would.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import free_port, p90
from worker import TARGETS

HERE = Path(__file__).resolve().parent
NAMES = {"ours": "flask_registration", "floor": "floor"}
LABELS = {"defaults": "argon2 defaults", "cheap": "cheap argon2"}


@dataclass
class Load:
    """Bounds of one phase: at most ``count`` requests, for at most ``seconds``."""

    count: int
    seconds: float


#: Per parameter set: (signups, confirms). Each phase stops at its count or its deadline.
LOADS = {
    "defaults": (Load(count=100, seconds=12.0), Load(count=100, seconds=8.0)),
    "cheap": (Load(count=3000, seconds=8.0), Load(count=3000, seconds=8.0)),
}
CLIENT_THREADS = 4


@dataclass
class Phase:
    times: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0


class Client:
    """A bounded load loop: ``threads`` threads share a request counter and a deadline."""

    def __init__(self, port: int, threads: int = CLIENT_THREADS) -> None:
        self.port = port
        self.threads = threads
        self.source = 0
        self.lock = threading.Lock()

    def _source_address(self) -> tuple[str, int]:
        with self.lock:
            self.source += 1
            n = self.source
        return (f"127.{1 + ((n >> 16) & 127)}.{(n >> 8) & 255}.{n & 255}", 0)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=self._source_address())
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def run(self, load: Load, make: Any, expected: int) -> Phase:
        """Call ``make(i)`` -> (method, path, body) for i = 0, 1, ... until ``load.count``
        requests were made or ``load.seconds`` passed."""
        phase = Phase()
        counter = iter(range(load.count))
        start = time.monotonic()
        deadline = start + load.seconds

        def loop() -> None:
            while time.monotonic() < deadline:
                with self.lock:
                    i = next(counter, None)
                if i is None:
                    return
                method, path, body = make(i)
                t0 = time.perf_counter()
                try:
                    status, _ = self.request(method, path, body)
                    outcome = "ok" if status == expected else str(status)
                except OSError as exc:
                    outcome = type(exc).__name__
                elapsed = time.perf_counter() - t0
                with self.lock:
                    if outcome == "ok":
                        phase.times.append(elapsed)
                    else:
                        phase.errors[outcome] = phase.errors.get(outcome, 0) + 1

        workers = [threading.Thread(target=loop) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        phase.wall = time.monotonic() - start
        return phase


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def serve_and_load(app: str, params: str, directory: str) -> dict[str, Any]:
    """One gunicorn run: start, signups, confirms, stop."""
    db = Path(directory) / f"http-{app}-{params}-{time.monotonic_ns()}.sqlite"
    spool = db.with_suffix(".spool")
    env = {
        **os.environ,
        "BENCH_APP": app,
        "BENCH_PARAMS": params,
        "BENCH_DB": f"sqlite:///{db}",
        "BENCH_SPOOL": str(spool),
    }
    subprocess.run([sys.executable, str(HERE / "wsgi.py")], env=env, check=True, cwd=str(HERE))
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "60",
            "--graceful-timeout",
            "10",
            "wsgi:app",
        ],
        env=env,
        cwd=str(HERE),
    )
    try:
        client = Client(port)
        ready = time.monotonic() + 30
        while True:
            try:
                client.request("GET", "/nothing-here")
                break
            except OSError:
                if time.monotonic() > ready or server.poll() is not None:
                    raise SystemExit(f"gunicorn ({app}, {params}) did not start") from None
                time.sleep(0.2)
        target = TARGETS[app]
        run_id = time.monotonic_ns()
        signup_load, confirm_load = LOADS[params]
        signups = client.run(
            signup_load,
            lambda i: ("POST", target.signup_path, target.signup_body(f"http{i}-{run_id}@example.com")),
            target.signup_status,
        )
        links: list[str] = []
        wait = time.monotonic() + 5
        while time.monotonic() < wait:
            links = [line.split("\t")[1] for line in spool.read_text().splitlines() if line.split("\t")[1:2] != [""]]
            if len(links) >= len(signups.times):
                break
            time.sleep(0.1)
        confirms = client.run(
            Load(count=min(confirm_load.count, len(links)), seconds=confirm_load.seconds),
            lambda i: ("GET", target.confirm_path(links[i]), None),
            target.confirm_status,
        )
        rss = [r for r in (_peak_rss_mib(p) for p in _children(server.pid)) if r is not None]
        return {"signup": signups, "confirm": confirms, "rss": rss}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _line(op: str, app: str, params: str, phase: Phase) -> str:
    ok = len(phase.times)
    rate = ok / phase.wall if phase.wall else 0.0
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(phase.errors.items())) or "none"
    if not ok:
        return f"{op:8} {NAMES[app]:19} {LABELS[params]:16} {0:>6} {'-':>8}  {'-':>8} {'-':>8}  errors: {errors}"
    return (
        f"{op:8} {NAMES[app]:19} {LABELS[params]:16} {ok:>6} {rate:>8.1f}  "
        f"{statistics.median(phase.times) * 1000:>8.1f} {p90(phase.times) * 1000:>8.1f}"
        f"  errors: {errors}"
    )


def run_http(args: Any) -> int:
    from run import REPO, load_average, machine, package_description, versions

    rounds = 2
    apps = ["ours", "floor"]
    print("flask_registration benchmark (HTTP: gunicorn -w 2 on 127.0.0.1, sync workers, SQLite file)")
    print(f"machine: {machine()}")
    print(f"versions: {versions(apps)}, gunicorn {__import__('gunicorn').__version__}")
    print(f"package: {package_description(REPO)}")
    print(
        f"load: {CLIENT_THREADS} client threads, one connection per request; per run, signups then the "
        "emailed links, each phase bounded in count and time; "
        + "; ".join(
            f"{LABELS[p]}: up to {s.count} signups in {s.seconds:g} s, {c.count} confirms in {c.seconds:g} s"
            for p, (s, c) in LOADS.items()
        )
    )
    started = time.monotonic()
    results: list[tuple[str, str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as directory:
        for params in args.params:
            for _ in range(rounds):
                for app in apps:  # interleaved: ours, floor, ours, floor
                    results.append((app, params, serve_and_load(app, params, directory)))
    print(f"\n{'op':8} {'app':19} {'argon2':16} {'ok':>6} {'req/s':>8}  {'ms p50':>8} {'ms p90':>8}")
    for op in ("signup", "confirm"):
        for params in args.params:
            for app in apps:
                for a, p, result in results:
                    if a == app and p == params:
                        print(_line(op, app, params, result[op]))
    print("\npeak RSS of the two gunicorn workers, per run (MiB):")
    for app, params, result in results:
        print(f"  {NAMES[app]:19} {LABELS[params]:16} " + ", ".join(f"{r:.0f}" for r in result["rss"]))
    print(f"\n(ran in {time.monotonic() - started:.0f} s; load average at the end {load_average()})")
    return 0
