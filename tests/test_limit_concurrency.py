"""Failed-login limits hold under concurrency: each guess takes its place in every bucket
before the password is checked, so simultaneous guesses cannot all pass a check that
counts them only afterwards. The work is counted (calls to the password verifier), on
memory storage and on a real Redis."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask

from flask_registration import get_state
from tests.helpers import PASSWORD, add_user, client_at, limited_app
from tests.models import db

#: Half a second or more per test: out of the fast loop (``-m "not slow"``).
pytestmark = pytest.mark.slow

#: A safety net only: no assertion depends on how long anything takes.
STUCK = 60.0


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def make_limited(database_url: str, mailbox: Any, storage: str) -> Any:
    apps: list[Flask] = []

    def make(**limits: str | None) -> Flask:
        # Each request in flight holds a database connection while its password is checked.
        engine = {"pool_size": 45, "max_overflow": 5}
        app = limited_app(
            database_url, mailbox, storage, REGISTRATION_RATE_LIMITS=limits, SQLALCHEMY_ENGINE_OPTIONS=engine
        )
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


class Gate:
    """Stands in front of the app's password verifier: counts each check, and holds it
    until every request has either reached a check or been answered. So all the
    requests are in flight at once, whatever the machine's speed, and a limit counted
    only after the check would let every one of them through."""

    def __init__(self, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
        passwords = get_state(app).passwords
        self._verify = passwords.verify
        monkeypatch.setattr(passwords, "verify", self)
        self.checks = 0
        self._answered = 0
        self._open = False
        self._cond = threading.Condition()

    def __call__(self, hashed: str | None, password: str) -> bool:
        with self._cond:
            self.checks += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._open, timeout=STUCK)
        return bool(self._verify(hashed, password))

    def _answer(self, send: Callable[[], Any]) -> Any:
        try:
            return send()
        finally:
            with self._cond:
                self._answered += 1
                self._cond.notify_all()

    def run(self, requests: list[Callable[[], Any]]) -> list[int]:
        """Send every request at once; the statuses, in order."""
        with ThreadPoolExecutor(max_workers=len(requests)) as pool:
            futures = [pool.submit(self._answer, send) for send in requests]
            with self._cond:
                all_in = self._cond.wait_for(lambda: self.checks + self._answered >= len(requests), timeout=STUCK)
                self._open = True
                self._cond.notify_all()
            statuses = [int(future.result().status_code) for future in futures]
        assert all_in, "some requests neither reached the password check nor were answered"
        return statuses


def login(app: Flask, address: str, email: str, password: str) -> Callable[[], Any]:
    body = {"email": email, "password": password}
    return lambda: client_at(app, address).post("/api/users/login", json=body)


def test_simultaneous_guesses_at_one_address_stop_at_its_limit(
    make_limited: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_limited(failed_login_per_email="5 per 5 minutes", failed_login_per_ip=None)
    add_user(app, "ada@example.com")
    gate = Gate(app, monkeypatch)
    # 40 clients, one address; the 21st guess is the right password.
    guesses = [
        login(app, f"203.0.113.{n + 1}", "ada@example.com", PASSWORD if n == 20 else f"guess {n}") for n in range(40)
    ]
    statuses = gate.run(guesses)
    assert gate.checks <= 5
    assert statuses.count(429) == 40 - gate.checks
    assert set(statuses) <= {200, 401, 429}


def test_simultaneous_guesses_from_one_client_stop_at_its_limit(
    make_limited: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_limited(failed_login_per_ip="30 per 10 minutes", failed_login_per_email=None)
    add_user(app, "ada@example.com")
    gate = Gate(app, monkeypatch)
    # One client, 40 addresses (an unknown one is checked against a dummy hash).
    guesses = [login(app, "198.51.100.7", f"user{n}@example.com", "guess") for n in range(39)]
    guesses.append(login(app, "198.51.100.7", "ada@example.com", PASSWORD))
    statuses = gate.run(guesses)
    assert gate.checks <= 30
    assert statuses.count(429) == 40 - gate.checks


def test_the_default_limits_hold_for_simultaneous_guesses(make_limited: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_limited()
    add_user(app, "ada@example.com")
    gate = Gate(app, monkeypatch)
    statuses = gate.run([login(app, "198.51.100.7", "ada@example.com", f"guess {n}") for n in range(40)])
    assert gate.checks <= 5  # failed_login_per_email: 5 per 5 minutes
    assert statuses.count(429) == 40 - gate.checks


def access_token(app: Flask) -> str:
    r = client_at(app, "192.0.2.10").post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200
    return str(r.get_json()["id"])


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/users/change-password", {"oldPassword": "a guess", "newPassword": "a new password"}),
        ("/api/users/change-email", {"password": "a guess", "newEmail": "new@example.com"}),
    ],
)
def test_simultaneous_wrong_current_passwords_stop_at_the_limit(
    make_limited: Any, monkeypatch: pytest.MonkeyPatch, path: Any, body: Any
) -> None:
    # change_email's own buckets are lifted, so that only the failed-login ones count.
    app = make_limited(change_email_per_email=None, change_email_per_ip=None)
    add_user(app, "ada@example.com")
    headers = {"Authorization": f"Bearer {access_token(app)}"}
    gate = Gate(app, monkeypatch)

    def guess() -> Any:
        return client_at(app, "198.51.100.7").post(path, json=body, headers=headers)

    statuses = gate.run([guess] * 30)
    assert gate.checks <= 5  # failed_login_per_email: 5 per 5 minutes
    assert statuses.count(429) == 30 - gate.checks
    assert statuses.count(400) == gate.checks  # INVALID_PASSWORD


def test_a_right_password_gives_its_place_back(make_limited: Any) -> None:
    app = make_limited(failed_login_per_email="2 per hour", failed_login_per_ip="2 per hour")
    add_user(app, "ada@example.com")

    def log_in(password: str) -> int:
        # A fresh client each time: a session cookie would call for a CSRF token.
        body = {"email": "ada@example.com", "password": password}
        r = client_at(app, "198.51.100.7").post("/api/users/login", json=body)
        return int(r.status_code)

    # Right passwords take a place while they are checked and give it back after.
    assert [log_in(PASSWORD) for _ in range(5)] == [200] * 5
    assert [log_in("a guess") for _ in range(3)] == [401, 401, 429]
    assert log_in(PASSWORD) == 429


def test_a_full_bucket_gives_back_the_place_taken_in_the_others(make_limited: Any) -> None:
    app = make_limited(failed_login_per_ip="3 per hour", failed_login_per_email="1 per hour")
    client = client_at(app, "198.51.100.7")

    def guess(email: str) -> int:
        return int(client.post("/api/users/login", json={"email": email, "password": "a guess"}).status_code)

    assert guess("ada@example.com") == 401
    # Refused by the address's bucket: the client's place is given back each time.
    assert [guess("ada@example.com") for _ in range(5)] == [429] * 5
    assert [guess("bob@example.com"), guess("cyd@example.com"), guess("dee@example.com")] == [401, 401, 429]
