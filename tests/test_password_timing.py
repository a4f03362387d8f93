"""A wrong password costs the same whatever the account's hash is (bcrypt from LoopBack,
argon2 with older parameters, the current ones, or no account at all).

The tests count work, never the clock: a virtual clock moves only by the work of the real
argon2 and bcrypt checks (argon2: time cost x memory in KiB; bcrypt: 2**rounds / 2) and by
the waits ``Passwords`` asks for. The checks themselves run for real; the counting
wrappers around them only add their work to the virtual clock.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import argon2
import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from flask import Flask

from flask_registration.flows.imports import import_loopback_users
from flask_registration.passwords import COST_SAMPLES, Passwords
from flask_registration.state import get_state
from tests.helpers import optional

bcrypt = optional("bcrypt")

#: The app's current parameters here, and what one check with them costs (t x m).
CURRENT = {"time_cost": 2, "memory_cost": 32, "parallelism": 1}
CURRENT_WORK = 2 * 32
#: Older, cheaper parameters, and older but costlier ones.
OLDER = {"time_cost": 1, "memory_cost": 16, "parallelism": 1}
COSTLIER = {"time_cost": 3, "memory_cost": 32, "parallelism": 1}
BCRYPT_ROUNDS = 4  # work 8
PASSWORD = "the right password"


class VirtualTime:
    """A clock that moves by the work counted and by the waits asked for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.load = 1.0  # how much slower than usual the machine runs
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def work(self, units: float) -> None:
        self.now += units * self.load


@pytest.fixture
def vt(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """Counting wrappers around the real checks: each adds its work to a virtual clock."""
    clock = VirtualTime()
    real_hash, real_verify, real_checkpw = PasswordHasher.hash, PasswordHasher.verify, bcrypt.checkpw

    def counted_hash(self: PasswordHasher, password: Any, *, salt: bytes | None = None) -> str:
        clock.work(self.time_cost * self.memory_cost)
        return real_hash(self, password, salt=salt)

    def counted_verify(self: PasswordHasher, hashed: Any, password: Any) -> bool:
        try:
            params = extract_parameters(hashed)
        except argon2.exceptions.InvalidHashError:
            pass
        else:
            clock.work(params.time_cost * params.memory_cost)
        return real_verify(self, hashed, password)

    def counted_checkpw(password: bytes, hashed: bytes) -> bool:
        clock.work(2 ** int(hashed.split(b"$")[2]) / 2)
        return real_checkpw(password, hashed)

    monkeypatch.setattr(PasswordHasher, "hash", counted_hash)
    monkeypatch.setattr(PasswordHasher, "verify", counted_verify)
    monkeypatch.setattr(bcrypt, "checkpw", counted_checkpw)
    return clock


def _passwords(vt: VirtualTime) -> Passwords:
    return Passwords(**CURRENT, clock=vt.clock, sleep=vt.sleep)


def _loopback_hash(password: str) -> str:
    # bcryptjs (LoopBack) writes $2a$; the bcrypt package $2b$ for the same hash.
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode().replace("$2b$", "$2a$", 1)


def _cost(vt: VirtualTime, passwords: Passwords, hashed: str | None, password: str) -> tuple[float, bool]:
    start = vt.now
    ok = passwords.verify(hashed, password)
    return vt.now - start, ok


def test_every_kind_of_hash_costs_one_current_check(vt: Any) -> None:
    passwords = _passwords(vt)
    hashes = {
        "no account": None,
        "current argon2id": PasswordHasher(type=Type.ID, **CURRENT).hash(PASSWORD),
        "older argon2": PasswordHasher(type=Type.ID, **OLDER).hash(PASSWORD),
        "argon2i": PasswordHasher(type=Type.I, **CURRENT).hash(PASSWORD),
        "bcrypt (LoopBack)": _loopback_hash(PASSWORD),
        "unreadable": "$argon2id$not a hash",
    }
    for name, hashed in hashes.items():
        assert _cost(vt, passwords, hashed, "a wrong password") == (CURRENT_WORK, False), name
        if hashed and hashed != "$argon2id$not a hash":
            assert _cost(vt, passwords, hashed, PASSWORD) == (CURRENT_WORK, True), name
    # Only the cheaper checks waited, each for the work it did not do.
    assert sorted(set(vt.waits)) == [CURRENT_WORK - 16, CURRENT_WORK - 8, CURRENT_WORK]


def test_a_costlier_old_hash_is_not_shortened(vt: Any) -> None:
    passwords = _passwords(vt)
    costlier = PasswordHasher(type=Type.ID, **COSTLIER).hash(PASSWORD)
    assert _cost(vt, passwords, costlier, "a wrong password") == (3 * 32, False)
    assert vt.waits == []
    assert passwords.needs_rehash(costlier)  # replaced at the next successful login


def test_the_wait_follows_the_recent_current_checks(vt: Any) -> None:
    passwords = _passwords(vt)
    current = passwords.hash(PASSWORD)
    older = PasswordHasher(type=Type.ID, **OLDER).hash(PASSWORD)
    vt.load = 2.0  # the machine slows down: current checks now cost twice the time
    for _ in range(COST_SAMPLES):
        passwords.verify(current, "a wrong password")
    assert passwords.current_cost() == 2 * CURRENT_WORK
    assert _cost(vt, passwords, older, "a wrong password") == (2 * CURRENT_WORK, False)
    assert _cost(vt, passwords, None, "a wrong password") == (2 * CURRENT_WORK, False)


@pytest.mark.app_config(
    REGISTRATION_ARGON2_TIME_COST=CURRENT["time_cost"],
    REGISTRATION_ARGON2_MEMORY_COST=CURRENT["memory_cost"],
    REGISTRATION_ARGON2_PARALLELISM=CURRENT["parallelism"],
)
def test_a_wrong_password_login_costs_the_same_for_every_kind_of_account(app: Flask, client: Any, vt: Any) -> None:
    with app.app_context():
        state = get_state(app)
        state.passwords = _passwords(vt)
        report = import_loopback_users(
            [
                {"email": "current@example.com", "password": state.passwords.hash(PASSWORD), "emailVerified": True},
                {
                    "email": "older@example.com",
                    "password": PasswordHasher(type=Type.ID, **OLDER).hash(PASSWORD),
                    "emailVerified": True,
                },
                {"email": "loopback@example.com", "password": _loopback_hash(PASSWORD), "emailVerified": True},
            ]
        )
        assert len(report.created) == 3
    costs = {}
    for email in ("nobody@example.com", "current@example.com", "older@example.com", "loopback@example.com"):
        start = vt.now
        r = client.post("/api/users/login", json={"email": email, "password": "a wrong password"})
        assert r.status_code == 401 and r.json["error"]["code"] == "LOGIN_FAILED"
        costs[email] = vt.now - start
    assert set(costs.values()) == {CURRENT_WORK}, costs

    # The right password still logs in, and the old hash is upgraded to the current one.
    r = client.post("/api/users/login", json={"email": "loopback@example.com", "password": PASSWORD})
    assert r.status_code == 200
    with app.app_context():
        user = get_state(app).store.find_by_email("loopback@example.com")
        assert user.password_hash.startswith("$argon2id$") and not get_state(app).passwords.needs_rehash(
            user.password_hash
        )


BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "login_timing.py"


@pytest.mark.slow
def test_the_login_timing_benchmark_runs_and_prints_each_kind(tmp_path: Path) -> None:
    # Figures, not speeds: the script must not rot.
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for label in ("unknown address", "current argon2id", "older argon2", r"bcrypt \(LoopBack\)"):
        assert re.search(rf"^{label}\s+3\s+[\d.]+\s+[\d.]+\s+[\d.]+ \([\d.]+\.\.[\d.]+\)$", result.stdout, re.M), (
            label,
            result.stdout,
        )
