"""What one signup and one login cost, counted (never timed): SQL statements, commits,
and threads started. ``benchmarks/profile_overhead.py`` breaks the same requests down
layer by layer against the hand-written floor; these tests keep the counts from growing
back (``docs/performance.rst``, "Where the overhead goes")."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from flask import Flask
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy import event

from flask_registration import Registration, get_state, signals
from flask_registration._compat import MEMORY_EXPIRY_METHOD, throttle_memory_expiry
from tests.helpers import PASSWORD, add_user, limited_app
from tests.models import LoginSession, User, db, make_app
from tests.smtp import Mailbox


@contextmanager
def counted(app: Flask) -> Iterator[dict[str, list[str]]]:
    """Every SQL statement and every commit the app's engine sees in the block."""
    seen: dict[str, list[str]] = {"statements": [], "commits": []}

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen["statements"].append(" ".join(sql.split()))

    def commit(conn: Any) -> None:
        seen["commits"].append("COMMIT")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


@contextmanager
def threads_started() -> Iterator[list[threading.Thread]]:
    """The threads this thread starts in the block."""
    start = threading.Thread.start.__code__
    started: list[threading.Thread] = []

    def trace(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is start:
            started.append(frame.f_locals["self"])

    sys.setprofile(trace)
    try:
        yield started
    finally:
        sys.setprofile(None)


@pytest.fixture
def demo_shaped(database_url: str, mailbox: Mailbox) -> Iterator[Flask]:
    """The benchmark's shape: a session model (a row per login), no token model."""
    registration = Registration(db=db, user_model=User, session_model=LoginSession)
    app = make_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "MAIL_SERVER": mailbox.host, "MAIL_PORT": mailbox.port},
        registration=registration,
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_a_signup_inserts_and_reads_the_new_row_once(demo_shaped: Flask, mailbox: Mailbox) -> None:
    client = demo_shaped.test_client()
    with counted(demo_shaped) as seen:
        r = client.post("/api/users", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 202
    # No look-up before the INSERT (the unique index decides); one read of the new row
    # for what the commit expired (the floor app does the same two).
    assert len(seen["statements"]) == 2, seen["statements"]
    assert seen["statements"][0].startswith("INSERT INTO users ")
    assert seen["statements"][1].startswith("SELECT users.")
    assert seen["commits"] == ["COMMIT"]
    assert len(mailbox.wait_for(1)) == 1


def test_a_login_looks_the_user_up_once_and_writes_its_session_row(demo_shaped: Flask) -> None:
    user_id = add_user(demo_shaped)
    read_by_receiver: list[tuple[str, str]] = []

    def receiver(sender: Any, user: Any, **extra: Any) -> None:
        read_by_receiver.append((user.email, user.auth_stamp))  # the user as loaded: no SELECT

    client = demo_shaped.test_client()
    signals.user_logged_in.connect(receiver)
    try:
        with counted(demo_shaped) as seen:
            r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    finally:
        signals.user_logged_in.disconnect(receiver)
    assert r.status_code == 200
    statements = seen["statements"]
    # The look-up, then the session row (the user's expired rows deleted, the new one
    # inserted) in one commit; the user is not read again after it.
    assert len(statements) == 3, statements
    assert statements[0].startswith("SELECT users.") and "WHERE users.email = " in statements[0]
    assert statements[1].startswith("DELETE FROM login_sessions ")
    assert statements[2].startswith("INSERT INTO login_sessions ")
    assert seen["commits"] == ["COMMIT"]
    with demo_shaped.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        stamp = user.auth_stamp
    assert read_by_receiver == [("ada@example.com", stamp)]
    assert r.get_json()["user"]["email"] == "ada@example.com"
    # The session the login started holds (its stamp is the user's, its row exists).
    me = client.get("/api/users/me")
    assert me.status_code == 200
    assert me.get_json()["email"] == "ada@example.com"


def test_a_failed_login_writes_nothing(demo_shaped: Flask) -> None:
    add_user(demo_shaped)
    client = demo_shaped.test_client()
    with counted(demo_shaped) as seen:
        r = client.post("/api/users/login", json={"email": "ada@example.com", "password": "wrong password"})
    assert r.status_code == 401
    assert len(seen["statements"]) == 1, seen["statements"]
    assert seen["commits"] == []


def test_memory_storage_cleans_up_at_most_once_per_interval() -> None:
    limit = parse("1000 per hour")
    with threads_started() as started:
        storage = MemoryStorage()  # starts a clean-up thread of its own
        assert throttle_memory_expiry(storage, 3600.0) is True
        strategy = MovingWindowRateLimiter(storage)
        for n in range(50):
            for thread in started:  # every clean-up over before the next attempt
                thread.join()
            assert strategy.hit(limit, "flask-registration", "login", "per_ip", f"198.51.100.{n}")
    # limits itself starts a clean-up thread (which walks every bucket) at every attempt
    # that finds the last one over: 50 here. Throttled, the first asks for one, no other.
    assert len(started) <= 2
    # The answers do not change: a bucket refuses once it is full.
    small = parse("3 per hour")
    assert [strategy.hit(small, "x", "client") for _ in range(4)] == [True, True, True, False]


def test_only_limits_memory_storage_is_throttled() -> None:
    assert throttle_memory_expiry(object(), 1.0) is False


def test_an_app_counting_in_memory_throttles_its_storage(database_url: str, mailbox: Mailbox) -> None:
    app = limited_app(database_url, mailbox, "memory://", REGISTRATION_RATE_LIMITS={"login_per_ip": "2 per hour"})
    try:
        limits = get_state(app).rate_limits
        assert limits is not None
        assert MEMORY_EXPIRY_METHOD in vars(limits.limiter.storage)
        add_user(app)
        client = app.test_client()
        login = {"email": "ada@example.com", "password": PASSWORD}
        assert [client.post("/api/users/login", json=login).status_code for _ in range(3)] == [200, 200, 429]
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.mark.slow
def test_the_overhead_profile_counts_the_statements_of_each_app(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "profile_overhead.py"
    arguments = ["--count", "5", "--rounds", "1", "--batch", "3", "--warmup", "3", "--tmpfs"]
    result = subprocess.run(
        [sys.executable, str(script), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONWARNINGS": "error"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    signup, login = result.stdout.split("== signup")[1].split("== login")
    # Per request: flask_registration (the demo, whatever it sets up), the floor (and, for
    # a login, the floor with a row per login). Counts, so the same on every machine.
    assert re.search(r"^  SQL statements\s+\d+\.0\s+2\.0$", signup, re.M), signup
    assert re.search(r"^  commits\s+1\.0\s+1\.0$", signup, re.M), signup
    assert re.search(r"^  SQL statements\s+\d+\.0\s+1\.0\s+3\.0$", login, re.M), login
    assert re.search(r"^  commits\s+1\.0\s+0\.0\s+1\.0$", login, re.M), login
    assert re.search(r"^  function calls(\s+\d+\.\d){3}$", login, re.M), login
    assert re.search(r"^  login session row \(insert, commit\)\s", login, re.M), login
