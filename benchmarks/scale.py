"""``run.py --scale``: what signup, confirm, login, reset and ``purge-unverified`` cost as
the users table grows (10k, 100k, 1M rows), on PostgreSQL.

Each size has a database of its own, seeded with ``INSERT ... SELECT FROM
generate_series``, then vacuumed and analysed; the sizes take turns in rounds, so that a
drift of the machine touches them alike. The rows mix what a real table holds: 80%
verified argon2 accounts, 10% imported from LoopBack (bcrypt, verified), 10% unverified
(created over the last 60 days), and one in twenty verified accounts with a change of
address pending. Addresses look like people's, on a few domains.

Each operation runs through the demo app's JSON API in this process (Flask's test
client, so that only the app and the database are measured), with cheap argon2 so that
the hash does not hide what the table size costs. ``purge-unverified --older-than 30d``
runs as the operator's command, in batches, after the other operations at each size.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import pg
from worker import ARGON2, LINK_RE, PASSWORD

FULL_SIZES = [10_000, 100_000, 1_000_000]
QUICK_SIZES = [1_000, 3_000]
OPS = ["signup", "confirm", "login", "reset"]
#: ``correct horse battery`` hashed by LoopBack's bcryptjs (10 rounds).
BCRYPT = "$2a$10$fr5FxKK625jZXI.4q/LXq.5gC3fXZSDU/rN5Q8pZ82bR0qFKMa4Ji"

SEED = """
INSERT INTO users (email, password_hash, email_verified_at, created_at, pending_email, auth_stamp)
SELECT
    (ARRAY['ada', 'grace', 'alan', 'edsger', 'barbara', 'donald', 'frances', 'ken'])[1 + i %% 8]
        || '.' || i || '@' || (ARRAY['example.com', 'mail.example.org', 'example.net'])[1 + i %% 3],
    CASE WHEN i %% 10 = 8 THEN %(bcrypt)s ELSE %(argon2)s END,
    CASE WHEN i %% 10 = 9 THEN NULL ELSE now() - interval '90 days' END,
    now() - (i %% 60) * interval '1 day' - interval '1 hour',
    CASE WHEN i %% 20 = 3 THEN 'new.' || i || '@example.org' ELSE NULL END,
    md5(i::text)
FROM generate_series(%(start)s, %(stop)s - 1) AS i
"""


def verified_argon2(size: int, rng: random.Random) -> str:
    """A seeded verified argon2 account (``i % 10`` in 0..7)."""
    while True:
        i = rng.randrange(size)
        if i % 10 < 8:
            names = ["ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "ken"]
            domains = ["example.com", "mail.example.org", "example.net"]
            return f"{names[i % 8]}.{i}@{domains[i % 3]}"


class Measured:
    def __init__(self, app: Any, outbox: list[dict[str, Any]]) -> None:
        self.app = app
        self.client = app.test_client()
        self.outbox = outbox

    def timed(self, method: str, path: str, status: int, **kwargs: Any) -> float:
        start = time.perf_counter()
        r = self.client.open(path, method=method, **kwargs)
        elapsed = time.perf_counter() - start
        if r.status_code != status:
            raise SystemExit(f"{method} {path}: {r.status_code} (expected {status}): {r.get_data(as_text=True)[:200]}")
        self.client.delete_cookie("session")
        return elapsed * 1000

    def run(self, size: int, n: int, rng: random.Random) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {op: [] for op in OPS}
        tag = f"{size}-{rng.randrange(10**9)}"
        before = len(self.outbox)
        for k in range(n):
            body = {"email": f"scale-{tag}-{k}@example.com", "password": PASSWORD}
            times["signup"].append(self.timed("POST", "/api/users", 202, json=body))
        links = [LINK_RE.findall(m["text"])[0] for m in self.outbox[before:]]
        for link in links:
            times["confirm"].append(self.timed("GET", link, 204))
        for _ in range(n):
            body = {"email": verified_argon2(size, rng), "password": PASSWORD}
            times["login"].append(self.timed("POST", "/api/users/login", 200, json=body))
        for _ in range(n):
            body = {"email": verified_argon2(size, rng)}
            times["reset"].append(self.timed("POST", "/api/users/reset", 204, json=body))
        return times

    def purge(self) -> tuple[float, int, str]:
        with self.app.app_context():
            from flask_registration.state import get_state

            store = get_state(self.app).store
            before = store.db.session.execute(store.db.text("SELECT count(*) FROM users")).scalar_one()
            store.db.session.remove()
        start = time.perf_counter()
        result = self.app.test_cli_runner().invoke(
            args=["registration", "purge-unverified", "--older-than", "30d", "--quiet"]
        )
        elapsed = time.perf_counter() - start
        if result.exit_code != 0:
            raise SystemExit(f"purge-unverified failed: {result.output}")
        with self.app.app_context():
            after = store.db.session.execute(store.db.text("SELECT count(*) FROM users")).scalar_one()
            store.db.session.remove()
        return elapsed * 1000, int(before - after), result.output.strip().splitlines()[-1]


def seed(db_url: str, start: int, stop: int, argon2_hash: str) -> float:
    began = time.perf_counter()
    with pg.connect(db_url, autocommit=True) as conn:
        conn.execute(SEED, {"start": start, "stop": stop, "argon2": argon2_hash, "bcrypt": BCRYPT})
        # What a long-lived table looks like: vacuumed (hint bits set, visibility map
        # made, so that the first reads of the new rows do not write their pages) and
        # written out. Without this, autovacuum and a checkpoint start on the million new
        # rows while the flows are measured, and the figures measure them instead.
        conn.execute("VACUUM (FREEZE, ANALYZE) users")
        conn.execute("CHECKPOINT")
    return time.perf_counter() - began


def run_scale(args: Any, header: list[str], out: Path) -> int:
    from contextlib import ExitStack

    from argon2 import PasswordHasher
    from demo_app import create_app

    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    n = 20 if args.quick else 200
    rounds = 2 if args.quick else 5
    started = time.monotonic()
    rng = random.Random(17)
    rows: list[dict[str, Any]] = []
    with pg.server() as server_url, ExitStack() as stack:
        header.append(f"database: {pg.version(server_url)} on 127.0.0.1 (the test suite's cluster: fsync off)")
        header.append(
            f"per size: {n} signups, their {n} confirms, {n} logins, {n} resets (JSON API, test client, "
            f"cheap argon2) in {rounds} rounds that take the sizes in turn, then purge-unverified --older-than 30d"
        )
        for line in header:
            print(line, flush=True)
        extra = {"REGISTRATION_RATE_LIMITS_ENABLED": False}
        argon2_hash = PasswordHasher(**ARGON2["cheap"]).hash(PASSWORD)
        # One database per size, each with an app of its own in this process, so that
        # the sizes can take turns: a drift of the machine (another process, the CPU's
        # clock, caches warming) then touches every size alike, as in run.py.
        apps: dict[int, Measured] = {}
        seeded: dict[int, float] = {}
        for size in sizes:
            db_url = stack.enter_context(pg.database(server_url, f"scale{size}"))
            outbox: list[dict[str, Any]] = []
            apps[size] = Measured(create_app(db_url, ARGON2["cheap"], outbox, extra=extra), outbox)  # makes the tables
            seeded[size] = seed(db_url, 0, size, argon2_hash)
            print(f"  {size:>9,} users seeded in {seeded[size]:.1f} s", flush=True)
        times: dict[int, dict[str, list[float]]] = {size: {op: [] for op in OPS} for size in sizes}
        for size in sizes:  # warm: caches, the pool, the planner; not counted
            apps[size].run(size, max(3, n // 4), rng)
        for _ in range(rounds):
            for size in sizes:
                for op, values in apps[size].run(size, n // rounds, rng).items():
                    times[size][op].extend(values)
        for size in sizes:
            purge_ms, purged, purge_line = apps[size].purge()
            rows.append(
                {
                    "size": size,
                    "seed_seconds": seeded[size],
                    "ops": {
                        op: {"median_ms": statistics.median(v), "p90_ms": sorted(v)[int(0.9 * (len(v) - 1))]}
                        for op, v in times[size].items()
                    },
                    "purge": {"ms": purge_ms, "deleted": purged, "output": purge_line},
                }
            )
            print(f"  {size:>9,} users: purged {purged} in {purge_ms:.0f} ms", flush=True)
    report = {"header": header, "sizes": rows, "ops": OPS, "n": n, "seconds": time.monotonic() - started}
    print_scale(report)
    from load_report import write_json
    from plots import plot_scale

    write_json(report, out / "scale.json")
    for path in plot_scale(report, out):
        print(f"plot: {path}")
    print(f"\n(ran in {time.monotonic() - started:.0f} s)")
    return 0


def print_scale(report: dict[str, Any]) -> None:
    print(f"\n{'users':>10} " + " ".join(f"{op + ' ms p50/p90':>22}" for op in report["ops"]) + "   purge-unverified")
    for row in report["sizes"]:
        cells = " ".join(
            f"{row['ops'][op]['median_ms']:>12.2f} /{row['ops'][op]['p90_ms']:>7.2f}" for op in report["ops"]
        )
        purge = row["purge"]
        print(f"{row['size']:>10,} {cells}   {purge['deleted']} rows in {purge['ms']:.0f} ms")
    first, last = report["sizes"][0], report["sizes"][-1]
    print(f"\n== targets: median from {first['size']:,} to {last['size']:,} users changes by less than 20%")
    for op in ("signup", "confirm", "login"):
        change = last["ops"][op]["median_ms"] / first["ops"][op]["median_ms"] - 1
        print(f"  {op:8} {change * 100:+7.1f}%  {'met' if abs(change) < 0.2 else 'MISSED'}")
