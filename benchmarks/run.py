"""The cost of a signup, a confirm and a login: flask_registration against a hand-written
floor and Flask-Security-Too, on one machine, in one run.

Usage (from the repository root)::

    python3 benchmarks/run.py            # full run, in-process test clients
    python3 benchmarks/run.py --http     # the demo and the floor under gunicorn, over HTTP
    python3 benchmarks/run.py --quick    # a few requests, in the current Python (the test suite)
    python3 benchmarks/run.py --profile signup   # where flask_registration's time goes
    python3 benchmarks/run.py --load     # locust against gunicorn gthread on PostgreSQL (load.py)
    python3 benchmarks/run.py --scale    # 10k, 100k and 1M users in PostgreSQL (scale.py)

Without ``--quick`` the script makes ``benchmarks/.venv`` (once), installs the package
(editable) with Flask-Security-Too, gunicorn and pyinstrument there, and runs itself again
in it: none of these become dependencies of the package. ``--quick`` and ``--no-venv`` run
in the current Python; when Flask-Security-Too is not installed there, only
flask_registration and the floor are compared, and the output says so.

Each app runs in its own process (``worker.py``), so imports and memory do not mix. The
orchestrator asks them in turn for a batch of each operation (A B C A B C ...), so that
drift of the machine touches all three alike.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from common import p90

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
VENV_REQUIREMENTS = ["flask-security-too>=5.4", "gunicorn>=22", "pyinstrument>=4.6"]
#: What the ``bench`` extra brings (``--load`` and ``--scale``), and the ``mfa`` extra
#: the demo's second factors need, as imported.
BENCH_MODULES = "locust, matplotlib, psycopg, aiosmtpd, pyotp, segno, webauthn"

NAMES = {
    "ours": "flask_registration",
    "floor": "floor",
    "fst": "Flask-Security-Too",
    "patched": "patched",
    "floor_rows": "floor + session rows",
}
OPS = ("signup", "confirm", "login")
PARAMS_LABEL = {
    "defaults": "argon2 defaults (t=3, m=64 MiB, p=4)",
    "cheap": "cheap argon2 (t=1, m=8 KiB, p=1)",
}


@dataclass
class Plan:
    """How many requests: ``rounds`` rounds of one batch per app and operation; a batch
    is ``n`` requests or ``budget`` seconds, whichever ends first; ``warmup`` requests
    of each operation are made first and not counted."""

    rounds: int
    n: int
    budget: float
    warmup: int


FULL = {"defaults": Plan(rounds=8, n=5, budget=2.0, warmup=2), "cheap": Plan(rounds=8, n=60, budget=1.5, warmup=20)}
QUICK = {"defaults": Plan(rounds=2, n=2, budget=1.0, warmup=1), "cheap": Plan(rounds=3, n=15, budget=0.5, warmup=5)}


# -- the benchmark's own virtualenv ----------------------------------------------------


def in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def ensure_venv_and_reexec(argv: list[str]) -> None:
    """Make ``benchmarks/.venv`` with what the full run needs (again when the package's
    dependencies changed), then run this script in it."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"== making {VENV.relative_to(REPO)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = [str(python), "-c", "import flask_registration, flask_security, gunicorn, pyinstrument, " + BENCH_MODULES]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        print(
            "== pip install -e .[bench,mfa] " + " ".join(VENV_REQUIREMENTS) + f" (into {VENV.relative_to(REPO)})",
            flush=True,
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-e",
                f"{REPO}[bench,mfa]",
                *VENV_REQUIREMENTS,
            ],
            check=True,
        )
        failed = subprocess.run(probe, capture_output=True, text=True)
        if failed.returncode != 0:
            raise SystemExit(f"{VENV.relative_to(REPO)} cannot import what the benchmark needs:\n{failed.stderr}")
    if not in_bench_venv():
        os.execv(str(python), [str(python), str(Path(__file__).resolve()), *argv])


# -- workers -----------------------------------------------------------------------------


class WorkerProcess:
    """One app in its own process, driven over a pipe."""

    def __init__(self, app: str, params: str, directory: str, package_root: str | None = None) -> None:
        self.app = app
        self.params = params
        env = dict(os.environ)
        if app == "patched" and package_root:
            env["BENCH_PACKAGE_ROOT"] = package_root
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "worker.py"), app, params, directory],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(HERE),
            env=env,
        )
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"{NAMES[self.app]} ({self.params}): the worker died (see its error above)")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            self.close()
            raise SystemExit(f"{NAMES[self.app]} ({self.params}): {reply.get('error')}")
        return reply

    def call(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout,):
            if stream is not None:
                stream.close()


@dataclass
class Series:
    """Every measured request of one app, operation and parameter set."""

    times: list[float] = field(default_factory=list)
    sql: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)  # requests per second, one per batch
    round_medians: list[float | None] = field(default_factory=list)  # None: no request that round
    #: Per round, the process's CPU time per request (its threads too; no wait for a disk
    #: or for a core another process holds): steadier than latency on a busy machine.
    round_cpu: list[float | None] = field(default_factory=list)


def run_params(
    params: str, apps: list[str], plan: Plan, directory: str, against: str | None = None
) -> tuple[dict[str, dict[str, Series]], dict]:
    """All rounds for one parameter set; returns the series and each worker's report."""
    workers = [WorkerProcess(app, params, directory, against) for app in apps]
    try:
        for w in workers:  # warm up: first requests compile templates, fill caches
            for op in OPS:
                w.call(cmd="batch", op=op, n=plan.warmup, budget=30.0)
        series = {w.app: {op: Series() for op in OPS} for w in workers}
        for _ in range(plan.rounds):
            for op in OPS:
                for w in workers:  # A B C, each round, each operation
                    reply = w.call(cmd="batch", op=op, n=plan.n, budget=plan.budget)
                    s = series[w.app][op]
                    if not reply["times"]:
                        s.round_medians.append(None)
                        s.round_cpu.append(None)
                        continue
                    s.times += reply["times"]
                    s.sql += reply["sql"]
                    s.rates.append(len(reply["times"]) / reply["wall"])
                    s.round_medians.append(statistics.median(reply["times"]))
                    s.round_cpu.append(reply["cpu"] / len(reply["times"]))
        reports = {w.app: {**w.call(cmd="report"), "package": w.hello.get("package")} for w in workers}
        return series, reports
    finally:
        for w in workers:
            w.close()


# -- statistics and the report -------------------------------------------------------------


def ratios(a: Series, b: Series, cpu: bool = False) -> list[float]:
    """Per round, ``a``'s median latency (or CPU time per request) over ``b``'s (the
    rounds were interleaved)."""
    pairs = zip(a.round_cpu, b.round_cpu, strict=True) if cpu else zip(a.round_medians, b.round_medians, strict=True)
    return [x / y for x, y in pairs if x is not None and y]


def fmt_range(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average {load_average()}"
    )


def load_average() -> str:
    """The 1-minute load average: other work on the machine shows here."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def wait_until_quiet(seconds: float, threshold: float = 0.5) -> None:
    """Wait (at most ``seconds``) until the 1-minute load average is under ``threshold``."""
    deadline = time.monotonic() + seconds
    while os.getloadavg()[0] >= threshold:
        if time.monotonic() >= deadline:
            print(f"(the machine did not get quiet within {seconds:g} s: load average {load_average()})")
            return
        time.sleep(5)


def package_description(root: Path) -> str:
    """Where the package under test is, and at which commit (with local changes or not)."""
    where = str(root / "flask_registration")
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "flask_registration", "examples"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return where
    return f"{where} (commit {head}{', with uncommitted changes' if dirty else ''})"


def versions(apps: list[str]) -> str:
    names = [
        "flask-registration",
        "Flask",
        "Werkzeug",
        "Flask-SQLAlchemy",
        "SQLAlchemy",
        "argon2-cffi",
        "itsdangerous",
        "email-validator",
    ]
    if "fst" in apps:
        names += ["Flask-Security-Too", "libpass"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    import sqlite3

    found.append(f"SQLite {sqlite3.sqlite_version}")
    return ", ".join(found)


def print_block(params: str, plan: Plan, apps: list[str], series: dict[str, dict[str, Series]], reports: dict) -> None:
    print(
        f"\n== {PARAMS_LABEL[params]}: {plan.rounds} rounds, batches of up to {plan.n} requests "
        f"or {plan.budget:g} s, {' '.join(NAMES[a] for a in apps)} interleaved"
    )
    print(
        f"{'op':8} {'app':19} {'n':>4}  {'req/s median (min..max)':>25}  {'latency ms median':>17} {'p90':>7}"
        f"  {'SQL/req':>7}"
    )
    for op in OPS:
        for app in apps:
            s = series[app][op]
            if not s.times:
                continue
            sql = f"{min(s.sql)}" if min(s.sql) == max(s.sql) else f"{min(s.sql)}..{max(s.sql)}"
            print(
                f"{op:8} {NAMES[app]:19} {len(s.times):>4}  {fmt_range(s.rates):>25}  "
                f"{statistics.median(s.times) * 1000:>17.2f} {p90(s.times) * 1000:>7.2f}  {sql:>7}"
            )
    rss = ", ".join(f"{NAMES[a]} {reports[a]['peak_rss_mib']:.0f} MiB" for a in apps)
    print(f"peak RSS per process: {rss}")


@dataclass
class Target:
    label: str
    value: float | None
    limit: float
    at_most: bool = True
    unit: str = "x"

    def verdict(self) -> str:
        if self.value is None:
            return "not measured"
        ok = self.value <= self.limit if self.at_most else self.value >= self.limit
        return "met" if ok else "MISSED"


def print_ratios(results: dict[str, dict[str, dict[str, Series]]], apps: list[str]) -> None:
    subjects = [a for a in ("ours", "patched") if a in apps]
    pairs = [(a, b) for a in subjects for b in ("floor", "fst", "ours") if b in apps and b != a]
    for cpu in (False, True):
        what = "CPU time of the process per request" if cpu else "median latency"
        print(f"\n== ratios of {what}, per round (interleaved): median (min..max)")
        print(f"{'':20}" + "".join(f"{NAMES[a] + ' / ' + NAMES[b]:>40}" for a, b in pairs))
        for params, series in results.items():
            for op in OPS:
                row = f"{op + ', ' + params:20}"
                for a, b in pairs:
                    values = ratios(series[a][op], series[b][op], cpu)
                    digits = 2 if not values or statistics.median(values) >= 0.1 else 4
                    row += f"{fmt_range(values, digits):>40}"
                print(row)
    for subject in subjects:
        print(f"\n== targets ({NAMES[subject]})")
        for t in targets(results, subject):
            value = "-" if t.value is None else (f"{t.value:.3f}x" if t.unit == "x" else f"{t.value:g}")
            print(f"  {t.label:56} {value:>9}  {t.verdict()}")


def targets(results: dict[str, dict[str, dict[str, Series]]], subject: str) -> list[Target]:
    """The issue's targets for ``subject``, from the per-round ratios of one run."""

    def median_ratio(params: str, op: str, other: str, inverse: bool = False) -> float | None:
        series = results.get(params)
        if series is None or other not in series:
            return None
        a, b = (series[other][op], series[subject][op]) if inverse else (series[subject][op], series[other][op])
        values = ratios(a, b)
        return statistics.median(values) if values else None

    def worst_sql(op: str) -> float | None:
        counts = [c for series in results.values() for c in series[subject][op].sql]
        return max(counts) if counts else None

    # Confirm does no hashing: it is measured under both parameter sets, and the worse counts.
    confirm = [r for r in (median_ratio(p, "confirm", "floor") for p in results) if r is not None]
    fst_confirm = [r for r in (median_ratio(p, "confirm", "fst", inverse=True) for p in results) if r is not None]
    return [
        Target("signup, argon2 defaults: at most 1.10x the floor", median_ratio("defaults", "signup", "floor"), 1.10),
        Target("signup, cheap argon2: at most 2x the floor", median_ratio("cheap", "signup", "floor"), 2.0),
        Target("confirm: at most 1.3x the floor", max(confirm) if confirm else None, 1.3),
        Target(
            "confirm: at least 50x faster than Flask-Security-Too",
            min(fst_confirm) if fst_confirm else None,
            50.0,
            at_most=False,
        ),
        Target("SQL statements per signup: at most 3", worst_sql("signup"), 3, unit=""),
        Target("SQL statements per confirm: at most 2", worst_sql("confirm"), 2, unit=""),
    ]


def print_sql_samples(reports_by_params: dict[str, dict], apps: list[str]) -> None:
    print("\n== the SQL of one request (the last one measured, cheap argon2)")
    reports = reports_by_params.get("cheap") or next(iter(reports_by_params.values()))
    for op in OPS:
        for app in apps:
            statements = reports[app]["sample_sql"].get(op, [])
            print(f"{op} / {NAMES[app]}: {len(statements)}")
            for s in statements:
                print(f"    {s[:110]}{'...' if len(s) > 110 else ''}")


def in_process(args: argparse.Namespace) -> int:
    apps = ["ours", "floor"]
    if find_spec("flask_security") is not None and not args.without_fst:
        apps.append("fst")
    if args.against:
        apps.insert(1, "patched")
    plans = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    print(f"flask_registration benchmark ({mode}, in-process test clients, SQLite files)")
    print(f"machine: {machine()}")
    print(f"versions: {versions(apps)}")
    print(f"package: {package_description(REPO)}")
    if args.against:
        print(f"patched: {package_description(Path(args.against).resolve())} (the same demo)")
    if "fst" not in apps:
        print(
            "Flask-Security-Too is not installed in this Python: comparing flask_registration and the floor "
            "only (run without --quick for all three)."
        )
    started = time.monotonic()
    results: dict[str, dict[str, dict[str, Series]]] = {}
    reports: dict[str, dict] = {}
    if args.tmpfs:
        print("SQLite files in /dev/shm (tmpfs): a commit waits for no disk")
    with tempfile.TemporaryDirectory(prefix="bench-", dir="/dev/shm" if args.tmpfs else None) as directory:
        for params in args.params:
            results[params], reports[params] = run_params(params, apps, plans[params], directory, args.against)
            print_block(params, plans[params], apps, results[params], reports[params])
    print_ratios(results, apps)
    print_sql_samples(reports, apps)
    print(f"\n(ran in {time.monotonic() - started:.0f} s; load average at the end {load_average()})")
    return 0


def profile(args: argparse.Namespace) -> int:
    """Profile ``args.profile`` requests of flask_registration (cheap argon2 by default)."""
    params = args.params[0] if len(args.params) == 1 else "cheap"
    op, n = args.profile, args.count
    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        worker = WorkerProcess(args.app, params, directory)
        try:
            warm = OPS.index(op)
            for earlier in OPS[: warm + 1]:
                worker.call(cmd="batch", op=earlier, n=20, budget=30.0)
            for earlier in OPS[:warm]:  # the users the profiled requests need
                worker.call(cmd="batch", op=earlier, n=n + 20, budget=600.0)
            print(f"== profile of {n} {op} requests, {NAMES[args.app]}, {PARAMS_LABEL[params]}")
            print(worker.call(cmd="profile", op=op, n=n)["text"])
        finally:
            worker.close()
    return 0


def measure_at_scale(args: argparse.Namespace) -> int:
    """``--load`` or ``--scale``: the header, then the mode's own module."""
    out: Path = args.out or (Path(tempfile.mkdtemp(prefix="bench-out-")) if args.quick else REPO / "docs/_static/bench")
    out.mkdir(parents=True, exist_ok=True)
    extra = []
    for name in ("locust", "gunicorn", "psycopg", "matplotlib"):
        try:
            extra.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    mode = "load" if args.load else "scale"
    header = [
        f"flask_registration benchmark ({mode}{', quick' if args.quick else ''})",
        f"machine: {machine()}",
        f"versions: {versions(['ours'])}, {', '.join(extra)}",
        f"package: {package_description(REPO)}",
        f"output: {out}",
    ]
    if args.load:
        from load import run_load

        return run_load(args, header, out)
    from scale import run_scale

    return run_scale(args, header, out)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few requests in the current Python (for the tests)")
    parser.add_argument("--http", action="store_true", help="the demo and the floor under gunicorn, over HTTP")
    parser.add_argument("--profile", choices=OPS, help="profile one operation of one app")
    parser.add_argument("--app", choices=list(NAMES), default="ours", help="the app to profile (default ours)")
    parser.add_argument("--count", type=int, default=300, help="requests to profile (default 300)")
    parser.add_argument(
        "--params",
        choices=list(PARAMS_LABEL),
        nargs="+",
        default=list(PARAMS_LABEL),
        help="argon2 parameter sets (default both)",
    )
    parser.add_argument(
        "--against",
        metavar="TREE",
        help="also run the demo with the package of another checkout (a patched copy), interleaved",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait, at most this long, for a 1-minute load average under 0.5",
    )
    parser.add_argument("--without-fst", action="store_true", help="leave Flask-Security-Too out")
    parser.add_argument(
        "--tmpfs", action="store_true", help="keep the SQLite files in /dev/shm: commits wait for no disk"
    )
    parser.add_argument("--no-venv", action="store_true", help="run in the current Python, as it is")
    parser.add_argument("--load", action="store_true", help="locust against gunicorn gthread workers on PostgreSQL")
    parser.add_argument("--scale", action="store_true", help="the flows' cost with 10k, 100k and 1M users")
    parser.add_argument(
        "--out",
        type=Path,
        help="where --load and --scale write their JSON and PNG files (default: docs/_static/bench, "
        "or a temporary folder with --quick)",
    )
    args = parser.parse_args(argv)
    # --load and --scale need the bench extra (locust, matplotlib...), even with --quick.
    if not args.no_venv and (args.load or args.scale or not args.quick):
        ensure_venv_and_reexec(argv)
    if args.wait_quiet:
        wait_until_quiet(args.wait_quiet)
    if args.load or args.scale:
        return measure_at_scale(args)
    if args.http:
        from http_load import run_http

        return run_http(args)
    if args.profile:
        return profile(args)
    return in_process(args)


if __name__ == "__main__":
    sys.exit(main())
