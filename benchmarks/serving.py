"""What ``--load`` and ``--scale`` share: gunicorn ``gthread`` workers on 127.0.0.1, a
sampler of their memory, and locust runs parsed from its CSV files."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import free_port

HERE = Path(__file__).resolve().parent


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _status_mib(pid: int, field_name: str) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Gunicorn:
    """``gunicorn -k gthread`` serving ``load_wsgi:app`` (see that module for ``env``)."""

    def __init__(self, env: dict[str, str], *, workers: int, threads: int, seeded: int) -> None:
        self.env = {**os.environ, **env}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.threads = threads
        self.seeded = seeded
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        # Tables and the seeded accounts, before the workers start.
        subprocess.run([sys.executable, "load_wsgi.py", "seed", str(self.seeded)], env=self.env, check=True, cwd=HERE)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                "gthread",
                "-w",
                str(self.workers),
                "--threads",
                str(self.threads),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "--timeout",
                "120",
                "--graceful-timeout",
                "10",
                # Longer than any simulated user's pause: with gunicorn's 2 s a user's
                # next request could meet the server closing its idle connection, which
                # locust counts as an error of status 0 (seen on both apps).
                "--keep-alive",
                "75",
                "load_wsgi:app",
            ],
            env=self.env,
            cwd=HERE,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/nothing-here", timeout=5)
            except urllib.error.HTTPError:
                if len(self.pids()) == self.workers:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.__exit__()
                raise SystemExit(f"gunicorn ({self.env.get('BENCH_APP')}) did not start")
            time.sleep(0.2)
        return self

    def pids(self) -> list[int]:
        return _children(self.process.pid) if self.process is not None else []

    def rss(self) -> dict[int, float]:
        """Each worker's resident memory now, MiB."""
        return {pid: v for pid in self.pids() if (v := _status_mib(pid, "VmRSS")) is not None}

    def peak_rss(self) -> dict[int, float]:
        """Each worker's peak resident memory since it started, MiB (``VmHWM``)."""
        return {pid: v for pid in self.pids() if (v := _status_mib(pid, "VmHWM")) is not None}

    def __exit__(self, *exc: Any) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: wait for it to exit
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Sampler:
    """Samples each worker's RSS every ``every`` seconds while the block runs."""

    def __init__(self, server: Gunicorn, every: float = 0.25) -> None:
        self.server = server
        self.every = every
        self.samples: list[tuple[float, int, float]] = []  # (seconds since start, pid, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.start = time.monotonic()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic() - self.start
            for pid, mib in self.server.rss().items():
                self.samples.append((now, pid, mib))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self.start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)

    def peak_between(self, begin: float, end: float) -> dict[int, float]:
        peaks: dict[int, float] = {}
        for t, pid, mib in self.samples:
            if begin <= t <= end:
                peaks[pid] = max(peaks.get(pid, 0.0), mib)
        return peaks


@dataclass
class Endpoint:
    """One endpoint's figures in one locust run (milliseconds; percentiles over every
    answer, refused ones included)."""

    count: int
    failures: int
    p50: float
    p95: float
    p99: float
    ok_per_s: float
    errors: dict[str, int] = field(default_factory=dict)


def run_locust(
    host: str, users: int, seconds: int, classes: list[str], env: dict[str, str], prefix: Path
) -> dict[str, Endpoint]:
    """One headless locust run, bounded in time and users; its figures by endpoint
    (``Aggregated`` for all of them)."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--only-summary",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--stop-timeout",
        "10",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--loglevel",
        "ERROR",
        *classes,
    ]
    with open(f"{prefix}.log", "wb") as log:
        # Locust exits 1 when any request failed: the CSV files say which.
        subprocess.run(command, env={**os.environ, **env}, cwd=HERE, stdout=log, stderr=log, timeout=seconds + 120)
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        raise SystemExit(f"locust wrote no statistics: see {prefix}.log")
    found: dict[str, Endpoint] = {}
    with open(stats_file, newline="") as f:
        for row in csv.DictReader(f):
            count, failures = int(row["Request Count"]), int(row["Failure Count"])
            found[row["Name"]] = Endpoint(
                count=count,
                failures=failures,
                p50=float(row["50%"] or 0),
                p95=float(row["95%"] or 0),
                p99=float(row["99%"] or 0),
                ok_per_s=(count - failures) / seconds,
            )
    with open(f"{prefix}_failures.csv", newline="") as f:
        for row in csv.DictReader(f):
            error = row["Error"].removeprefix("CatchResponseError(").strip("()'\"")
            for name in (row["Name"], "Aggregated"):
                if name in found:
                    errors = found[name].errors
                    errors[error] = errors.get(error, 0) + int(row["Occurrences"])
    return found
