"""``run.py --load``: flask_registration and the floor under locust, on PostgreSQL.

Each app runs under ``gunicorn -k gthread`` (two workers, several threads each, so
hashes overlap in one process) on 127.0.0.1, on a PostgreSQL database of its own, sending
its emails to a real SMTP server (aiosmtpd) whose links the load confirms. Two phases:

- **ramp**: the mix of ``locustfile.Person`` at rising arrival rates, each step bounded
  in time, until the app saturates (it serves under 85% of what is offered, or more than
  5% of the answers are errors) or the rates run out; the same for the floor;
- **flood**: signups at twice the rate where flask_registration saturated, on top of
  the mix at the first step's rate, against flask_registration with admission control
  (the default slots), without it (as many slots as threads), and the floor (which has
  none); each worker's RSS is sampled over time.

Every run is bounded: ``users`` simulated users, each starting at most one request per
second, for ``seconds``: at most users x seconds requests.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pg
from serving import Endpoint, Gunicorn, Sampler, run_locust
from smtp_sink import sink
from worker import ARGON2

NAMES = {"ours": "flask_registration", "floor": "floor"}
ENDPOINTS = ("signup", "confirm", "login", "login (wrong password)", "me", "signup (flood)")


@dataclass
class Plan:
    rates: list[int]  # offered requests per second, rising
    step_seconds: int
    flood_seconds: int
    seeded: int
    flood_delay: float
    workers: int = 2
    threads: int = 16


FULL = Plan(rates=[4, 8, 12, 16, 24, 32, 48], step_seconds=30, flood_seconds=45, seeded=200, flood_delay=5)
QUICK = Plan(rates=[2, 4], step_seconds=5, flood_seconds=6, seeded=20, flood_delay=1)


def saturated(offered: int, figures: dict[str, Endpoint]) -> bool:
    total = figures["Aggregated"]
    return total.ok_per_s < 0.85 * offered or total.failures > 0.05 * max(1, total.count)


class Run:
    """One app served by gunicorn with its database, SMTP sink and RSS sampler."""

    def __init__(self, app: str, server_url: str, plan: Plan, folder: Path, *, slots: int | None = None) -> None:
        self.app, self.server_url, self.plan, self.folder, self.slots = app, server_url, plan, folder, slots

    def __enter__(self) -> Run:
        label = f"{self.app}{'' if self.slots is None else f'_{self.slots}'}"
        self._db = pg.database(self.server_url, label)
        self.db_url = self._db.__enter__()
        self.spool = self.folder / f"{label}-{time.monotonic_ns()}.spool"
        self._sink = sink(self.spool)
        smtp_port, self.mail = self._sink.__enter__()
        env = {
            "BENCH_APP": self.app,
            "BENCH_DB": self.db_url,
            "BENCH_SMTP_PORT": str(smtp_port),
            "BENCH_PARAMS": "defaults",
            "BENCH_SLOTS": "" if self.slots is None else str(self.slots),
        }
        self.server = Gunicorn(env, workers=self.plan.workers, threads=self.plan.threads, seeded=self.plan.seeded)
        self.server.__enter__()
        self.start_rss = self.server.rss()
        self.sampler = Sampler(self.server).__enter__()
        return self

    def locust(
        self, name: str, users: int, seconds: int, classes: list[str], flooders: int = 0, delay: float = 0
    ) -> dict[str, Any]:
        begin = time.monotonic() - self.sampler.start
        env = {
            "BENCH_APP": self.app,
            "BENCH_SPOOL": str(self.spool),
            "BENCH_SEEDED": str(self.plan.seeded),
            "BENCH_FLOODERS": str(flooders),
            "BENCH_FLOOD_DELAY": str(delay),
        }
        figures = run_locust(self.server.url, users, seconds, classes, env, self.folder / name)
        end = time.monotonic() - self.sampler.start
        peaks = self.sampler.peak_between(begin, end)
        return {"figures": figures, "rss": sorted(peaks.values()), "window": (begin, end)}

    def accounts(self) -> tuple[int, int]:
        """Rows in the users table, and those among them without a password hash."""
        with pg.connect(self.db_url) as conn:
            row = conn.execute("SELECT count(*), count(*) FILTER (WHERE password_hash IS NULL) FROM users").fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

    def __exit__(self, *exc: Any) -> None:
        self.peak_rss = sorted(self.server.peak_rss().values())
        self.sampler.__exit__()
        self.server.__exit__()
        self._sink.__exit__(None, None, None)
        self._db.__exit__(None, None, None)


def ramp(app: str, server_url: str, plan: Plan, folder: Path) -> dict[str, Any]:
    steps = []
    with Run(app, server_url, plan, folder) as run:
        for rate in plan.rates:
            step = run.locust(f"ramp-{app}-{rate}", rate, plan.step_seconds, ["Person"])
            steps.append({"rate": rate, **step})
            print(f"  {NAMES[app]:19} offered {rate:>3}/s: {summary(step['figures'])}", flush=True)
            if saturated(rate, step["figures"]):
                break
    return {"steps": steps, "peak_rss": run.peak_rss, "start_rss": sorted(run.start_rss.values())}


def flood(
    app: str, server_url: str, plan: Plan, folder: Path, flooders: int, slots: int | None, label: str
) -> dict[str, Any]:
    idle = plan.rates[0]
    with Run(app, server_url, plan, folder, slots=slots) as run:
        before, _ = run.accounts()
        # The people of the mix log in first (their /me sessions), then the flood starts.
        classes = ["Person", "Flooder"]
        step = run.locust(f"flood-{label}", idle + flooders, plan.flood_seconds, classes, flooders, plan.flood_delay)
        time.sleep(2)  # a signup answered as locust stopped may still be sending its email
        rows, without_hash = run.accounts()
        emails = run.mail.received
        samples = run.sampler.samples
        start_rss = sorted(run.start_rss.values())
    figures = step["figures"]
    ok_signups = sum(figures[n].count - figures[n].failures for n in ("signup", "signup (flood)") if n in figures)
    return {
        "label": label,
        "app": app,
        "slots": slots,
        "figures": figures,
        "start_rss": start_rss,
        "peak_rss": run.peak_rss,
        "samples": samples,
        "window": step["window"],
        "accounts": {
            "before": before,
            "after": rows,
            "emails": emails,
            "answered_202": ok_signups,
            "without_hash": without_hash,
        },
    }


def summary(figures: dict[str, Endpoint]) -> str:
    total = figures["Aggregated"]
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(total.errors.items())) or "none"
    return f"served {total.ok_per_s:.1f}/s, p99 {total.p99:.0f} ms, errors: {errors}"


def run_load(args: Any, header: list[str], out: Path) -> int:
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    memory_mib = ARGON2["defaults"]["memory_cost"] / 1024
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, pg.server() as server_url:
        folder = Path(tmp)
        header.append(f"database: {pg.version(server_url)} on 127.0.0.1 (the test suite's cluster: fsync off)")
        header.append(
            f"serving: gunicorn -k gthread -w {plan.workers} --threads {plan.threads}, argon2 defaults; "
            f"load: locust, each user at most 1 request/s; ramp steps of {plan.step_seconds} s at "
            f"{', '.join(map(str, plan.rates))} req/s until saturation; flood {plan.flood_seconds} s"
        )
        for line in header:
            print(line)
        print("\n== ramp", flush=True)
        ramps = {app: ramp(app, server_url, plan, folder) for app in ("ours", "floor")}
        ours_steps = ramps["ours"]["steps"]
        saturation = max(s["figures"]["Aggregated"].ok_per_s for s in ours_steps)
        flooders = max(2, round(2 * saturation))
        from flask_registration.admission import default_slots

        slots = default_slots(ARGON2["defaults"]["parallelism"])
        print(
            f"\n== flood: {flooders} signups/s (2 x {saturation:.1f}/s) over the mix at {plan.rates[0]}/s", flush=True
        )
        floods = [
            flood("ours", server_url, plan, folder, flooders, None, "flask_registration, admission control"),
            flood("ours", server_url, plan, folder, flooders, plan.threads, "flask_registration, no admission control"),
            flood("floor", server_url, plan, folder, flooders, None, "floor (no admission control)"),
        ]
    report = {
        "header": header,
        "plan": asdict(plan),
        "ramps": ramps,
        "saturation": saturation,
        "floods": floods,
        "slots": slots,
        "memory_mib": memory_mib,
        "seconds": time.monotonic() - started,
    }
    from load_report import print_report, write_json

    print_report(report)
    write_json(report, out / "load.json")
    from plots import plot_load

    for path in plot_load(report, out):
        print(f"plot: {path}")
    print(f"\n(ran in {time.monotonic() - started:.0f} s)")
    return 0
