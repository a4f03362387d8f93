"""Where a signup's and a login's time goes: flask_registration against the floor, layer
by layer, with cheap argon2 (the hash almost vanishes, what is left is the overhead).

Usage (from the repository root, in the project's virtualenv)::

    python benchmarks/profile_overhead.py                  # signup and login, 200 each
    python benchmarks/profile_overhead.py --count 500 --rounds 8 --ops login

Each app runs in its own process (``worker.py``), driven over a pipe as ``run.py``
drives it. For each operation:

1. **Time, plain**: batches of requests, the apps taking turns (A B C A B C ...); the
   ratios are flask_registration's median latency, and CPU time of the process per
   request, over the floor's, per round. No instrumentation. A login is also compared
   with the floor that writes a row per login as flask_registration does.
2. **Counts**: ``count`` requests under a ``sys.setprofile`` tracer that counts every
   function call (Python and C), SQL statement and commit, each charged to the
   outermost *layer* it runs in (``overhead_layers.LAYERS``), and every thread started.
   Counts do not depend on the machine's load: they are what to compare between runs.
3. **Time per layer**: ``count`` more requests with a timer around each layer's entry
   points only (a few per request, so the figures stay close to the plain ones); the
   time of nested layers goes to the outermost one, what no layer holds to "Flask,
   Werkzeug, the test client".

On a loaded machine the times wander (the min..max of the ratios shows how much), the
CPU times less; the counts do not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overhead_layers import LAYERS, REST

HERE = Path(__file__).resolve().parent


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
    header = [f"{what} {SHORT[apps[0]]}" if i == 0 else SHORT[a] for what in WHAT for i, a in enumerate(apps)]
    print(
        f"\n  {'layer':52}" + "".join(_columns(header[i : i + len(apps)], "") for i in range(0, len(header), len(apps)))
    )
    for layer in [*LAYERS, REST]:
        ms = [layers[a]["seconds"].get(layer, 0.0) / layers[a]["n"] * 1000 for a in apps]
        counts = {key: [layers[a][key].get(layer, 0) / layers[a]["n"] for a in apps] for key in WHAT[1:]}
        if any(ms) or any(map(any, counts.values())):
            row = _columns(ms, ".2f") + _columns(counts["calls"], ".0f")
            print(f"  {layer[:52]:52}{row}{_columns(counts['sql'], '.1f')}{_columns(counts['commits'], '.1f')}")


WHAT = ("ms", "calls", "sql", "commits")


def _columns(values: list[Any], spec: str) -> str:
    """``values`` right-aligned, the first in 14 characters (with its heading), the others in 6."""
    return "".join(f"{v:>{14 if i == 0 else 6}{spec}}" for i, v in enumerate(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", nargs="+", choices=("signup", "login"), default=["signup", "login"])
    parser.add_argument("--count", type=int, default=200, help="requests per app for the counts and for the layers")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds of the plain timing")
    parser.add_argument("--batch", type=int, default=40, help="requests per app and round of the plain timing")
    parser.add_argument("--warmup", type=int, default=20, help="requests of each operation first, not measured")
    parser.add_argument(
        "--package",
        metavar="TREE",
        help="profile the package and demo of another checkout (a tree before a change) as flask_registration",
    )
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
    tree = Path(args.package).resolve() if args.package else REPO
    print(f"package: {package_description(tree)}")
    if args.package:  # worker.py takes the package (and demo_app.py the demo) from there
        os.environ["BENCH_PACKAGE_ROOT"] = str(tree)
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
