"""How long a wrong password takes, by the kind of hash the account has.

Usage (from the repository root)::

    python3 benchmarks/login_timing.py               # 25 rounds, argon2 defaults
    python3 benchmarks/login_timing.py --rounds 60
    python3 benchmarks/login_timing.py --quick       # a few rounds (the test suite)
    python3 benchmarks/login_timing.py --package TREE   # the package (and demo) of another checkout

The demo app of ``examples/basic`` (its own ``create_app``, SQLite in a temporary folder,
argon2-cffi's default parameters, the real ``Passwords`` class; rate limits off, or the
wrong passwords would soon be refused before any hash is checked) gets four kinds of
login, each with a wrong password, through ``POST /api/users/login`` in its test client:

- ``unknown address``: no account, so a dummy hash with the current parameters is checked;
- ``current argon2id``: an account hashed with the current parameters;
- ``older argon2``: an account hashed with older, cheaper parameters (t=2, m=19 MiB, p=1,
  OWASP's minimum);
- ``bcrypt (LoopBack)``: an account imported from LoopBack (bcrypt, 10 rounds, bcryptjs's
  default), through ``import_loopback_users``.

Each round makes one login of each kind, in a rotating order, so that drift of the
machine touches all four alike. The report gives each kind's median and p90 latency and
its ratio to the unknown address measured in the same round (median, min..max): a login
whose time depends on the account's hash shows a ratio away from 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from common import p90

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: argon2-cffi's defaults, what an app runs with unless it sets the REGISTRATION_ARGON2_* keys.
DEFAULTS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
#: Older, cheaper parameters an account may still carry (OWASP's minimum for argon2id).
OLDER = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}
#: bcryptjs's default cost, what LoopBack 3 hashed with.
BCRYPT_ROUNDS = 10
PASSWORD = "the right password"
WRONG = "a wrong password"
KINDS = {
    "unknown": "unknown address",
    "current": "current argon2id",
    "older": "older argon2",
    "bcrypt": "bcrypt (LoopBack)",
}


def load_demo(root: Path) -> Any:
    """The demo module of the tree ``root`` (it is not a package)."""
    name = "flask_registration_demo"
    spec = importlib.util.spec_from_file_location(name, root / "examples" / "basic" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # SQLAlchemy resolves the model's annotations there
    spec.loader.exec_module(module)
    return module


def build(root: Path, directory: str) -> tuple[Any, dict[str, str]]:
    """The demo app with one account of each kind; returns it and each kind's address."""
    import bcrypt
    from argon2 import PasswordHasher, Type

    from flask_registration.flows.imports import import_loopback_users
    from flask_registration.state import get_state

    demo = load_demo(root)
    app = demo.create_app(
        {
            "SECRET_KEY": "login timing benchmark secret key",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{directory}/timing.sqlite",
            "REGISTRATION_ARGON2_TIME_COST": DEFAULTS["time_cost"],
            "REGISTRATION_ARGON2_MEMORY_COST": DEFAULTS["memory_cost"],
            "REGISTRATION_ARGON2_PARALLELISM": DEFAULTS["parallelism"],
            "REGISTRATION_RATE_LIMITS_ENABLED": False,
        }
    )
    emails = {kind: f"{kind}@example.com" for kind in KINDS}
    older = PasswordHasher(type=Type.ID, **OLDER).hash(PASSWORD)
    # bcryptjs writes $2a$; the bcrypt package writes $2b$ for the same hash.
    loopback = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode().replace("$2b$", "$2a$", 1)
    with app.app_context():
        state = get_state(app)
        records = [
            {"email": emails["current"], "password": state.passwords.hash(PASSWORD), "emailVerified": True},
            {"email": emails["older"], "password": older, "emailVerified": True},
            {"email": emails["bcrypt"], "password": loopback, "emailVerified": True},
        ]
        report = import_loopback_users(records)
        assert len(report.created) == 3, report
    return app, emails


def login_once(client: Any, email: str) -> float:
    """One wrong-password login; its latency in seconds."""
    start = time.perf_counter()
    response = client.post("/api/users/login", json={"email": email, "password": WRONG})
    elapsed = time.perf_counter() - start
    if response.status_code != 401:
        raise SystemExit(f"expected 401 for {email}, got {response.status_code}: {response.get_data(as_text=True)}")
    return elapsed


def measure(app: Any, emails: dict[str, str], rounds: int, warmup: int) -> dict[str, list[float]]:
    """``rounds`` rounds of one login per kind, the order rotating each round."""
    client = app.test_client()
    kinds = list(KINDS)
    for _ in range(warmup):
        for kind in kinds:
            login_once(client, emails[kind])
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for n in range(rounds):
        order = kinds[n % len(kinds) :] + kinds[: n % len(kinds)]
        for kind in order:
            times[kind].append(login_once(client, emails[kind]))
    return times


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = f"{os.getloadavg()[0]:.2f}"
    except OSError:
        load = "unknown"
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average {load}"
    )


def versions() -> str:
    found = []
    for name in ("flask-registration", "Flask", "argon2-cffi", "bcrypt"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def report(times: dict[str, list[float]]) -> None:
    base = times["unknown"]
    print(f"{'kind':20} {'n':>4}  {'median ms':>9} {'p90 ms':>8}  {'ratio to unknown address, per round':>36}")
    for kind, label in KINDS.items():
        values = times[kind]
        ratios = [x / y for x, y in zip(values, base, strict=True)]
        spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}..{max(ratios):.2f})"
        print(
            f"{label:20} {len(values):>4}  {statistics.median(values) * 1000:>9.1f} {p90(values) * 1000:>8.1f}"
            f"  {spread:>36}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=25, help="rounds of one login per kind (default 25)")
    parser.add_argument("--quick", action="store_true", help="3 rounds after 1 warm-up round (for the tests)")
    parser.add_argument("--package", metavar="TREE", help="take flask_registration and the demo from another checkout")
    args = parser.parse_args(argv)
    root = Path(args.package).resolve() if args.package else REPO
    sys.path.insert(0, str(root))
    import flask_registration

    rounds, warmup = (3, 1) if args.quick else (args.rounds, 2)
    params = ", ".join(f"{k}={v}" for k, v in DEFAULTS.items())
    older = ", ".join(f"{k}={v}" for k, v in OLDER.items())
    print("flask_registration wrong-password login timing (in-process test client, SQLite file)")
    print(f"machine: {machine()}")
    print(f"versions: {versions()}")
    print(f"package: {Path(flask_registration.__file__).parent}")
    print(f"current argon2id: {params}; older argon2: {older}; bcrypt: {BCRYPT_ROUNDS} rounds")
    print(f"rounds: {rounds} (after {warmup} warm-up), one login of each kind per round, order rotating\n")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="login-timing-") as directory:
        app, emails = build(root, directory)
        times = measure(app, emails, rounds, warmup)
    report(times)
    print(f"\n(ran in {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
