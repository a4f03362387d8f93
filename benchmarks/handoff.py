"""What handing a hash to a low-priority thread costs (``REGISTRATION_HASH_NICENESS``).

A check with cheap argon2 (t=1, m=8 KiB, p=1) in the caller's thread, against the same
check run on :class:`~flask_registration.admission.LowPriorityThreads`; the two take
turns, round after round, and the ratio is taken per round. The library sends a hash
to the threads only when its recent median is over ``passwords.RUN_INLINE_BELOW``
(5 ms), so this difference is what such a hash pays on top of argon2.

Usage (from the repository root, in the project's virtualenv)::

    .venv/bin/python benchmarks/handoff.py            # 7 rounds of 2,000 checks
    .venv/bin/python benchmarks/handoff.py --rounds 3 --count 200
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_registration.admission import LowPriorityThreads  # noqa: E402
from flask_registration.passwords import Passwords  # noqa: E402

PASSWORD = "correct horse battery"


def per_call(passwords: Passwords, threads: LowPriorityThreads | None, hashed: str, count: int) -> float:
    """Microseconds per check, over ``count`` checks."""
    check = passwords._check_argon2
    start = time.perf_counter()
    for _ in range(count):
        if threads is None:
            check(hashed, PASSWORD)
        else:
            threads.run(check, hashed, PASSWORD)
    return (time.perf_counter() - start) / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--niceness", type=int, default=10)
    args = parser.parse_args(argv)
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1)
    threads = LowPriorityThreads(1, args.niceness)
    if not threads.active:
        print("the low-priority threads are off here (not Linux, or threads are greenlets): nothing to measure")
        return 0
    hashed = passwords.hash(PASSWORD)
    per_call(passwords, None, hashed, args.count // 10)  # warm
    per_call(passwords, threads, hashed, args.count // 10)
    inline: list[float] = []
    handed: list[float] = []
    for _ in range(args.rounds):
        inline.append(per_call(passwords, None, hashed, args.count))
        handed.append(per_call(passwords, threads, hashed, args.count))
    ratios = [h / i for h, i in zip(handed, inline, strict=True)]
    print(f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(f"{args.rounds} rounds of {args.count} checks, cheap argon2, niceness {args.niceness}")
    print(f"  in the caller's thread     {statistics.median(inline):8.1f} us per check (median of the rounds)")
    print(f"  on a low-priority thread   {statistics.median(handed):8.1f} us per check")
    print(f"  hand-over                  {statistics.median(handed) - statistics.median(inline):8.1f} us per check")
    print(f"  ratio, per round           {statistics.median(ratios):8.2f} ({min(ratios):.2f}..{max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
