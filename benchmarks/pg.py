"""PostgreSQL for ``run.py --load`` and ``--scale``: the test suite's throwaway cluster.

``BENCH_DATABASE_URL`` (or ``TEST_DATABASE_URL``, as the test command sets it) names a
server to use; otherwise ``scripts/_postgres.sh``, which the test command sources, starts
one on 127.0.0.1 (installing Debian's package if it is missing) and stops it when we are
done. Each run makes databases of its own there and drops them afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
KEEPER = (
    'as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }; '
    "source scripts/_postgres.sh >&2; "
    'echo "URL $TEST_PG_URL"; read -r _'
)


@contextmanager
def server() -> Iterator[str]:
    """The SQLAlchemy URL of a PostgreSQL server's database, for the length of the block."""
    given = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or ""
    if given.startswith("postgresql"):
        yield given
        return
    # The shell stays up until its standard input closes; its trap then stops the cluster.
    keeper = subprocess.Popen(
        ["bash", "-c", KEEPER], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert keeper.stdout is not None
        line = keeper.stdout.readline()
        if not line.startswith("URL "):
            raise SystemExit("scripts/_postgres.sh did not start PostgreSQL (see its messages above)")
        yield line.split(" ", 1)[1].strip()
    finally:
        assert keeper.stdin is not None
        keeper.stdin.close()
        keeper.wait(timeout=60)


def _plain(url: str) -> str:
    """A SQLAlchemy URL as libpq reads it."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def connect(url: str, **kwargs: Any) -> Any:
    import psycopg

    return psycopg.connect(_plain(url), **kwargs)


def _with_database(url: str, name: str) -> str:
    base, _, _old = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def database(url: str, label: str) -> Iterator[str]:
    """A new, empty database on ``url``'s server; dropped at the end."""
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    with connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(url, name)
    finally:
        with connect(url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def version(url: str) -> str:
    with connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0].split()[0]}" if row else "PostgreSQL"
