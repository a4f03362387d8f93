"""Admission control for password hashing: at most ``REGISTRATION_MAX_CONCURRENT_HASHES``
hashes at once, a wait of at most ``REGISTRATION_HASH_WAIT`` for a slot, then 503
``SERVER_BUSY`` with ``Retry-After`` in both faces, and nothing written.

Nothing here reads the clock. The slots are filled by real requests whose hash is held
at a gate inside the hasher (the public ``Passwords.hasher`` replaced by a subclass of
argon2-cffi's ``PasswordHasher``), and the tests count: calls that reached the hasher,
slots in use, callers waiting, rows in the database.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from flask import Flask

from flask_registration import get_state
from flask_registration.admission import HashSlots, default_slots, threads_are_real
from flask_registration.errors import ServerBusy
from flask_registration.passwords import RUN_INLINE_BELOW, Passwords
from tests.conftest import free_port, serve
from tests.helpers import PASSWORD, add_user, can_log_in, hidden, limited_app, press_confirm
from tests.models import LoginSession, User, db, make_app
from tests.smtp import Mailbox

#: A safety net only: no assertion depends on how long anything takes.
STUCK = 60.0

FULL = pytest.mark.app_config(REGISTRATION_MAX_CONCURRENT_HASHES=2, REGISTRATION_HASH_WAIT=timedelta(0))


class HeldHasher(PasswordHasher):
    """The app's hasher (same parameters) with a gate in front of each hash and check:
    a call that reaches it counts, and waits there until the test lets it through. The
    call holds its slot all that time, as a slow argon2 computation would."""

    def __init__(self, base: PasswordHasher) -> None:
        super().__init__(
            time_cost=base.time_cost,
            memory_cost=base.memory_cost,
            parallelism=base.parallelism,
            hash_len=base.hash_len,
            salt_len=base.salt_len,
            type=base.type,
        )
        self.entered = 0
        self._passes = 0
        self._open = False
        self._cond = threading.Condition()

    def _gate(self) -> None:
        with self._cond:
            self.entered += 1
            self._cond.notify_all()
            assert self._cond.wait_for(lambda: self._open or self._passes > 0, timeout=STUCK), "never let through"
            if not self._open:
                self._passes -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._gate()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._gate()
        return super().verify(hash, password)

    def wait_entered(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.entered >= count, timeout=STUCK), (self.entered, count)

    def let_through(self, count: int = 1) -> None:
        with self._cond:
            self._passes += count
            self._cond.notify_all()

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._open = False


@pytest.fixture
def gate(app: Flask) -> Iterator[HeldHasher]:
    passwords = get_state(app).passwords
    original = passwords.hasher
    held = HeldHasher(original)
    passwords.hasher = held
    yield held
    held.open()
    passwords.hasher = original


class Held:
    """Requests sent from threads of their own, each held at the gate with its slot."""

    def __init__(self, app: Flask, gate: HeldHasher) -> None:
        self.app = app
        self.gate = gate
        self.threads: list[threading.Thread] = []
        self.answers: list[int] = []

    def send(self, count: int, request: Callable[[Any, int], Any]) -> None:
        start = self.gate.entered
        for _ in range(count):
            thread = threading.Thread(target=self._run, args=(request, len(self.threads)), daemon=True)
            self.threads.append(thread)
            thread.start()
        self.gate.wait_entered(start + count)

    def _run(self, request: Callable[[Any, int], Any], i: int) -> None:
        self.answers.append(request(self.app.test_client(), i).status_code)

    def finish(self) -> list[int]:
        self.gate.open()
        for thread in self.threads:
            thread.join(STUCK)
        assert not any(t.is_alive() for t in self.threads)
        return sorted(self.answers)


@pytest.fixture
def held(app: Flask, gate: HeldHasher) -> Iterator[Held]:
    """Requests held at the gate; let through and joined at the end, whatever happened."""
    requests = Held(app, gate)
    yield requests
    requests.finish()


def signup_request(client: Any, i: int) -> Any:
    return client.post("/api/users", json={"email": f"held{i}@example.com", "password": PASSWORD})


def users(app: Flask) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(db.select(User.email)))


def slots(app: Flask) -> HashSlots:
    return get_state(app).passwords.slots


def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (a thread got somewhere); fail after :data:`STUCK`."""
    deadline = time.monotonic() + STUCK
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def assert_busy(response: Any) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit() and int(response.headers["Retry-After"]) >= 1


def assert_busy_json(response: Any) -> None:
    assert_busy(response)
    error = response.json["error"]
    assert error["statusCode"] == 503 and error["code"] == "SERVER_BUSY" and error["name"] == "Error"
    assert "busy" in error["message"]


# The defaults and the configuration


def test_the_default_fills_the_cpus_with_lanes_and_no_more() -> None:
    assert default_slots(4, cpus=2) == 1  # argon2's defaults on a small server
    assert default_slots(4, cpus=8) == 2
    assert default_slots(4, cpus=6) == 2  # rounded up: no core left idle
    assert default_slots(1, cpus=2) == 2
    assert default_slots(8, cpus=1) == 1


def test_the_configured_slots_and_wait_reach_the_hasher(app: Any) -> None:
    assert slots(app).size == default_slots(app.config["REGISTRATION_ARGON2_PARALLELISM"])
    assert slots(app).wait == 1.0
    other = make_app({"REGISTRATION_MAX_CONCURRENT_HASHES": 3, "REGISTRATION_HASH_WAIT": timedelta(0)})
    assert (slots(other).size, slots(other).wait) == (3, 0.0)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("REGISTRATION_MAX_CONCURRENT_HASHES", 0, "at least 1"),
        ("REGISTRATION_MAX_CONCURRENT_HASHES", True, "must be int or NoneType"),
        ("REGISTRATION_HASH_WAIT", timedelta(seconds=-1), "cannot be negative"),
        ("REGISTRATION_HASH_WAIT", 1.5, "must be timedelta"),
        ("REGISTRATION_MAX_HASH_WAITING", -1, "cannot be negative"),
        ("REGISTRATION_MAX_HASH_WAITING", 2.5, "must be int or NoneType"),
        ("REGISTRATION_HASH_NICENESS", 20, "between 0"),
        ("REGISTRATION_HASH_NICENESS", -1, "between 0"),
    ],
)
def test_bad_settings_are_refused_at_init_app(key: Any, value: Any, message: Any) -> None:
    with pytest.raises(RuntimeError, match=message):
        make_app({key: value})


# Full slots: 503 SERVER_BUSY, Retry-After, nothing written


@FULL
def test_a_signup_without_a_slot_answers_503_and_writes_nothing(app: Any, client: Any, gate: Any, held: Any) -> None:
    held.send(2, signup_request)
    assert (slots(app).in_use, slots(app).refused) == (2, 0)
    r = client.post("/api/users", json={"email": "ada@example.com", "password": PASSWORD})
    # With REGISTRATION_HASH_WAIT = 0 the answer comes while both slots are still held.
    assert_busy_json(r)
    assert (slots(app).in_use, slots(app).refused, gate.entered) == (2, 1, 2)
    assert users(app) == []
    assert held.finish() == [202, 202]
    assert users(app) == ["held0@example.com", "held1@example.com"]
    assert slots(app).in_use == 0
    # The refused signup can simply be sent again.
    assert client.post("/api/users", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 202
    assert "ada@example.com" in users(app)


@FULL
def test_the_signup_page_answers_a_busy_page_with_503(app: Any, client: Any, gate: Any, held: Any) -> None:
    form = hidden(client, "/signup")
    held.send(2, signup_request)
    data = {**form, "email": "ada@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
    r = client.post("/signup", data=data)
    assert_busy(r)
    page = r.get_data(as_text=True)
    assert "Busy right now" in page and 'role="alert"' in page and "Nothing was" in page
    assert r.content_type.startswith("text/html")
    assert held.finish() == [202, 202]
    assert "ada@example.com" not in users(app)


@FULL
def test_logins_known_and_unknown_answer_the_same_503_and_start_no_session(
    app: Any, client: Any, gate: Any, held: Any
) -> None:
    gate.open()
    add_user(app)
    gate.close()
    held.send(2, signup_request)
    known = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    unknown = client.post("/api/users/login", json={"email": "nobody@example.com", "password": PASSWORD})
    for r in (known, unknown):  # the dummy hash for an unknown address takes a slot too
        assert_busy_json(r)
    assert known.json == unknown.json
    page = client.post("/login", data={**hidden(client, "/login"), "email": "ada@example.com", "password": PASSWORD})
    assert_busy(page)
    assert "Busy right now" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(LoginSession)) == 0
    assert client.get("/api/users/me").status_code == 401
    assert held.finish() == [202, 202]
    assert can_log_in(app)


@FULL
def test_changing_the_password_without_a_slot_changes_nothing(app: Any, client: Any, gate: Any, held: Any) -> None:
    gate.open()
    add_user(app)
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200
    token = client.get("/api/users/csrf-token").json["csrfToken"]
    with app.app_context():
        before = db.session.scalars(db.select(User)).one()
        stamp, password_hash = before.auth_stamp, before.password_hash
    gate.close()
    held.send(2, signup_request)
    change = client.post(
        "/api/users/change-password",
        json={"oldPassword": PASSWORD, "newPassword": "a new password"},
        headers={"X-CSRFToken": token},
    )
    assert_busy_json(change)
    assert held.finish() == [202, 202]
    with app.app_context():
        after = db.session.scalars(db.select(User).filter_by(email="ada@example.com")).one()
        assert (after.auth_stamp, after.password_hash) == (stamp, password_hash)
    assert client.get("/api/users/me").status_code == 200  # the session did not end
    assert can_log_in(app) and not can_log_in(app, "a new password")


@FULL
def test_a_reset_without_a_slot_changes_nothing(app: Any, client: Any, mailbox: Any, gate: Any, held: Any) -> None:
    gate.open()
    add_user(app)
    assert client.post("/api/users/reset", json={"email": "ada@example.com"}).status_code == 204
    link = mailbox.link(mailbox.wait_for(1)[0], "/reset-password")
    token = link.split("token=")[1].split("&")[0]
    gate.close()
    held.send(2, signup_request)
    r = client.post("/api/users/reset-password", json={"token": token, "newPassword": "a new password"})
    assert_busy_json(r)
    assert held.finish() == [202, 202]
    assert can_log_in(app) and not can_log_in(app, "a new password")
    # The link still works: nothing about the account changed.
    r = client.post("/api/users/reset-password", json={"token": token, "newPassword": "a new password"})
    assert r.status_code == 204
    assert can_log_in(app, "a new password")


@pytest.mark.app_config(REGISTRATION_MAX_CONCURRENT_HASHES=1, REGISTRATION_HASH_WAIT=timedelta(0))
def test_a_rehash_on_login_without_a_slot_answers_503_and_keeps_the_old_hash(app: Any, client: Any) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    with app.app_context():
        user = get_state(app).store.create({"email": "ada@example.com", "password_hash": old})
        get_state(app).store.mark_verified(user)
    passwords = get_state(app).passwords
    taken = ExitStack()
    held_by_test: list[None] = []

    class TakesTheSlotBeforeTheRehash(PasswordHasher):
        # The login flow asks whether to rehash after its check gave the slot back:
        # someone else's hash takes the only slot right then.
        def check_needs_rehash(self, hash: str | bytes) -> bool:
            if passwords.slots.in_use == 0 and not held_by_test:
                held_by_test.append(taken.enter_context(passwords.slots.hold()))
            return super().check_needs_rehash(hash)

    passwords.hasher = TakesTheSlotBeforeTheRehash(time_cost=1, memory_cost=8, parallelism=1)
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert_busy_json(r)
    assert client.get("/api/users/me").status_code == 401
    with app.app_context():
        assert db.session.scalars(db.select(User.password_hash)).one() == old
    taken.close()
    passwords.hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    assert client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).status_code == 200
    with app.app_context():
        assert db.session.scalars(db.select(User.password_hash)).one().startswith("$argon2id$v=19$m=8,t=1,p=1$")


@FULL
def test_cheap_requests_go_on_while_every_slot_is_taken(
    app: Any, client: Any, mailbox: Any, gate: Any, held: Any
) -> None:
    gate.open()
    add_user(app, "bob@example.com")
    # This browser signs up on the page: its confirm then needs no password.
    data = {**hidden(client, "/signup"), "email": "ada@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
    assert client.post("/signup", data=data).status_code == 200
    link = mailbox.link(mailbox.wait_for(1)[0])
    other = app.test_client()
    assert other.post("/api/users/login", json={"email": "bob@example.com", "password": PASSWORD}).status_code == 200
    gate.close()
    held.send(2, signup_request)
    entered = gate.entered
    assert press_confirm(client, link).status_code == 200
    assert other.get("/api/users/me").status_code == 200
    assert other.get("/account").status_code == 200
    assert client.get("/login").status_code == 200
    assert gate.entered == entered  # none of them hashed
    with app.app_context():
        assert db.session.scalars(db.select(User).filter_by(email="ada@example.com")).one().email_verified
    assert held.finish() == [202, 202]


@pytest.mark.app_config(REGISTRATION_MAX_CONCURRENT_HASHES=1, REGISTRATION_HASH_WAIT=timedelta(seconds=STUCK))
def test_a_waiting_hash_gets_the_slot_the_moment_one_is_given_back(app: Any, gate: Any, held: Any) -> None:
    held.send(1, signup_request)
    waiter = threading.Thread(target=held._run, args=(signup_request, 1), daemon=True)
    held.threads.append(waiter)
    waiter.start()
    eventually(lambda: slots(app).waiting == 1)  # the second signup waits for the slot, not at the gate
    assert (gate.entered, slots(app).in_use) == (1, 1)
    gate.let_through(1)  # the first hash ends and gives its slot back
    gate.wait_entered(2)  # ... which the waiting one takes
    assert (slots(app).waiting, slots(app).refused) == (0, 0)
    assert held.finish() == [202, 202]
    assert users(app) == ["held0@example.com", "held1@example.com"]


def test_a_slot_is_given_back_when_the_hash_raises() -> None:
    class Failing(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            raise MemoryError("no memory for argon2")

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            raise RuntimeError("the check failed")

    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, max_concurrent=1, wait=timedelta(0))
    good = passwords.hasher
    passwords.hasher = Failing(time_cost=1, memory_cost=8, parallelism=1)
    for _ in range(3):  # with one slot, a slot kept by a failure would refuse the next
        with pytest.raises(MemoryError):
            passwords.hash(PASSWORD)
        with pytest.raises(RuntimeError):
            passwords.verify(good.hash(PASSWORD), PASSWORD)
    assert (passwords.slots.in_use, passwords.slots.refused) == (0, 0)
    passwords.hasher = good
    assert passwords.verify(passwords.hash(PASSWORD), PASSWORD)


def test_with_no_wait_a_full_process_refuses_at_once() -> None:
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, max_concurrent=2, wait=timedelta(0))
    with passwords.slots.hold(), passwords.slots.hold():
        with pytest.raises(ServerBusy) as refused:
            passwords.hash(PASSWORD)
        with pytest.raises(ServerBusy):
            passwords.verify(None, PASSWORD)
    assert refused.value.headers() == {"Retry-After": str(refused.value.retry_after)}
    assert (passwords.slots.refused, passwords.slots.waiting) == (2, 0)
    assert passwords.verify(passwords.hash(PASSWORD), PASSWORD)


@FULL
def test_create_user_on_the_command_line_is_refused_without_a_slot(app: Any, gate: Any, held: Any) -> None:
    held.send(2, signup_request)
    result = app.test_cli_runner().invoke(
        args=["registration", "create-user", "ada@example.com", "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code == 1
    assert "busy" in result.output
    assert held.finish() == [202, 202]
    assert "ada@example.com" not in users(app)


# Real threads: a threaded server on 127.0.0.1


@FULL
def test_over_http_a_threaded_server_refuses_the_third_hash_and_serves_the_cheap_routes(
    app: Any, gate: Any, http: Any
) -> None:
    import requests

    gate.open()
    add_user(app)
    with serve(app, free_port()) as base:
        assert http.post(f"{base}/api/users/login", json={"email": "ada@example.com", "password": PASSWORD}).ok
        gate.close()
        answers: list[int] = []

        def post(i: int) -> None:
            r = requests.post(f"{base}/api/users", json={"email": f"held{i}@example.com", "password": PASSWORD})
            answers.append(r.status_code)

        threads = [threading.Thread(target=post, args=(i,), daemon=True) for i in range(2)]
        entered = gate.entered
        for thread in threads:
            thread.start()
        gate.wait_entered(entered + 2)  # two server threads each hold a slot
        assert slots(app).in_use == 2
        r = requests.post(f"{base}/api/users", json={"email": "ada2@example.com", "password": PASSWORD})
        assert r.status_code == 503 and r.json()["error"]["code"] == "SERVER_BUSY"
        assert int(r.headers["Retry-After"]) >= 1
        me = http.get(f"{base}/api/users/me")
        assert me.status_code == 200 and me.json()["email"] == "ada@example.com"
        gate.open()
        for thread in threads:
            thread.join(STUCK)
        assert sorted(answers) == [202, 202]
    assert users(app) == ["ada@example.com", "held0@example.com", "held1@example.com"]


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/users/login", {"email": "ada@example.com", "password": "not the password"}),
        ("/api/users/change-password", {"oldPassword": "not the password", "newPassword": "a new password"}),
    ],
    ids=["login", "change-password"],
)
def test_a_refusal_for_busy_is_not_counted_as_a_wrong_password(
    database_url: str, mailbox: Mailbox, path: str, body: dict[str, str]
) -> None:
    # No password was checked, so the failed-login buckets must not fill: ten 503s in a
    # row leave the owner free to log in (the limit is 3 refused logins per address).
    app = limited_app(
        database_url,
        mailbox,
        "memory://",
        REGISTRATION_RATE_LIMITS={"failed_login_per_email": "3 per hour", "failed_login_per_ip": "3 per hour"},
        REGISTRATION_MAX_CONCURRENT_HASHES=1,
        REGISTRATION_HASH_WAIT=timedelta(0),
    )
    try:
        busy_refusals_leave_the_owner_free(app, path, body)
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def busy_refusals_leave_the_owner_free(app: Flask, path: str, body: dict[str, str]) -> None:
    add_user(app)
    client = app.test_client()
    if path != "/api/users/login":
        login = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert login.status_code == 200
    slots = get_state(app).passwords.slots
    with slots.hold():  # the test holds the only slot
        for _ in range(10):
            r = client.post(path, json=body)
            assert r.status_code == 503 and r.get_json()["error"]["code"] == "SERVER_BUSY"
    assert slots.refused == 10
    r = client.post("/api/users/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200


# A bounded queue: a caller that could not get a slot within the wait is refused at once


def test_a_caller_finding_the_queue_full_is_refused_without_waiting() -> None:
    # A wait far longer than the test: a caller that waited would hang it.
    passwords = Passwords(
        time_cost=1, memory_cost=8, parallelism=1, max_concurrent=1, wait=timedelta(seconds=STUCK), max_waiting=1
    )
    results: list[bool] = []
    with passwords.slots.hold():  # the test holds the only slot
        waiter = threading.Thread(target=lambda: results.append(passwords.verify(passwords.hash(PASSWORD), PASSWORD)))
        waiter.start()
        eventually(lambda: passwords.slots.waiting == 1)
        with pytest.raises(ServerBusy) as refused:
            passwords.hash(PASSWORD)  # the queue holds one: refused now, not after a minute
        with pytest.raises(ServerBusy):
            passwords.verify(None, PASSWORD)
        assert (passwords.slots.waiting, passwords.slots.refused, passwords.slots.turned_away) == (1, 2, 2)
        assert refused.value.retry_after >= 1
    waiter.join(STUCK)
    assert results == [True]  # the one in the queue got the slot given back
    assert (passwords.slots.waiting, passwords.slots.in_use, passwords.slots.refused) == (0, 0, 2)


def test_a_free_slot_is_taken_whatever_the_queue_limit() -> None:
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, max_concurrent=2, max_waiting=0)
    with passwords.slots.hold():
        assert passwords.verify(passwords.hash(PASSWORD), PASSWORD)  # the second slot is free
        with passwords.slots.hold():
            with pytest.raises(ServerBusy):
                passwords.hash(PASSWORD)
    assert (passwords.slots.admitted, passwords.slots.refused, passwords.slots.turned_away) == (5, 1, 1)


class Ticks:
    """A virtual clock that moves by ``step`` at each reading."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_the_derived_queue_is_what_the_slots_serve_within_the_wait() -> None:
    # Each check "takes" a quarter of a second on the virtual clock: 2 slots serve 8
    # callers in one second.
    passwords = Passwords(
        time_cost=1, memory_cost=8, parallelism=1, max_concurrent=2, wait=timedelta(seconds=1), clock=Ticks(0.25)
    )
    assert passwords.current_cost() == 0.25
    assert passwords.waiting_room() == 8 == passwords.slots.queue_limit()
    slow = Passwords(
        time_cost=1, memory_cost=8, parallelism=1, max_concurrent=1, wait=timedelta(seconds=1), clock=Ticks(2.0)
    )
    assert slow.slots.queue_limit() == 0  # a hash longer than the wait: nobody waits
    fixed = Passwords(time_cost=1, memory_cost=8, parallelism=1, max_waiting=3, clock=Ticks(0.25))
    assert fixed.slots.queue_limit() == 3


@pytest.mark.app_config(
    REGISTRATION_MAX_CONCURRENT_HASHES=1,
    REGISTRATION_HASH_WAIT=timedelta(seconds=STUCK),
    REGISTRATION_MAX_HASH_WAITING=0,
)
def test_with_no_queue_a_busy_signup_is_refused_at_once_in_both_faces(app: Any, gate: Any, held: Any) -> None:
    held.send(1, signup_request)  # holds the only slot at the gate
    assert get_state(app).passwords.slots.queue_limit() == 0
    client = app.test_client()
    assert_busy_json(client.post("/api/users", json={"email": "bea@example.com", "password": PASSWORD}))
    data = {**hidden(client, "/signup"), "email": "cy@example.com", "password": PASSWORD, "password_confirm": PASSWORD}
    assert_busy(client.post("/signup", data=data))
    assert slots(app).turned_away == 2 and gate.entered == 1
    assert held.finish() == [202]
    assert users(app) == ["held0@example.com"]


# Hashes on threads of lower priority


needs_linux_threads = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")


class WhereHasher(PasswordHasher):
    """Records the thread each hash and check runs on, and its nice value there."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.seen: list[tuple[int, int]] = []

    def _note(self) -> None:
        thread = threading.get_native_id()
        self.seen.append((thread, os.getpriority(os.PRIO_PROCESS, thread)))

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._note()
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self._note()
        return super().verify(hash, password)


def own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@needs_linux_threads
def test_hashes_and_checks_run_on_threads_of_lower_priority() -> None:
    before = own_nice()
    # Checks "take" 10 ms on the virtual clock: long enough to go to the hashing threads.
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, niceness=5, clock=Ticks(0.01))
    assert passwords.threads.active
    passwords.hasher = where = WhereHasher()
    hashed = passwords.hash(PASSWORD)
    assert passwords.verify(hashed, PASSWORD) and not passwords.verify(hashed, "wrong password!")
    assert passwords.verify(None, PASSWORD) is False  # the dummy check of an unknown address
    me = threading.get_native_id()
    assert len(where.seen) == 4
    assert all(thread != me and nice == min(19, before + 5) for thread, nice in where.seen), where.seen
    assert own_nice() == before  # the caller's own priority is untouched


@needs_linux_threads
def test_with_niceness_zero_the_hash_runs_in_the_callers_thread() -> None:
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, niceness=0, clock=Ticks(0.01))
    assert not passwords.threads.active
    passwords.hasher = where = WhereHasher()
    passwords.verify(passwords.hash(PASSWORD), PASSWORD)
    assert where.seen == [(threading.get_native_id(), own_nice())] * 2


@needs_linux_threads
def test_a_hash_shorter_than_a_time_slice_runs_in_the_callers_thread() -> None:
    # A cheap hash (1 ms on the virtual clock) gains nothing from a priority, and the
    # hand-over to another thread would cost a good share of it.
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, niceness=5, clock=Ticks(0.001))
    assert passwords.threads.active and passwords.current_cost() < RUN_INLINE_BELOW
    passwords.hasher = where = WhereHasher()
    passwords.verify(passwords.hash(PASSWORD), PASSWORD)
    assert where.seen == [(threading.get_native_id(), own_nice())] * 2


def test_the_app_hashes_on_lower_priority_threads_by_default(app: Any) -> None:
    threads = get_state(app).passwords.threads
    assert threads.niceness == 10 and threads.size == slots(app).size
    assert threads.active == sys.platform.startswith("linux")
    other = make_app({"REGISTRATION_HASH_NICENESS": 0})
    assert not get_state(other).passwords.threads.active


@needs_linux_threads
def test_a_forked_worker_gets_hashing_threads_of_its_own() -> None:
    # A pre-forking server (gunicorn) forks after the app is made: the parent's hashing
    # threads do not exist in the child, which must make its own.
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, niceness=5, clock=Ticks(0.01))
    hashed = passwords.hash(PASSWORD)  # the parent's threads now exist
    assert passwords.threads._pool is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (Python 3.12+)
        pid = os.fork()
    if pid == 0:  # the child: a hash and a check, then out, whatever happens
        try:
            signal.alarm(int(STUCK))
            ok = passwords.verify(passwords.hash(PASSWORD), PASSWORD) and passwords.verify(hashed, PASSWORD)
            os._exit(0 if ok else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + STUCK
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "the child hung: it waited for the parent's threads"
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


class FakeModule:
    """Stands in for gevent's ``monkey``, eventlet's ``patcher`` and uWSGI's ``uwsgi``
    module: neither gevent, eventlet nor uWSGI can run inside the test process (uWSGI's
    module exists only in its own workers), so only the checks of their state are
    exercised here, with what those modules answer."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


@pytest.mark.parametrize(
    ("name", "module", "real"),
    [
        ("gevent.monkey", FakeModule(is_module_patched=lambda name: name == "threading"), False),
        ("gevent.monkey", FakeModule(is_module_patched=lambda name: False), True),
        ("eventlet.patcher", FakeModule(is_monkey_patched=lambda name: name == "thread"), False),
        ("uwsgi", FakeModule(opt={}), False),
        ("uwsgi", FakeModule(opt={"enable-threads": True}), True),
        ("uwsgi", FakeModule(opt={"threads": b"4"}), True),
    ],
)
def test_greenlets_and_uwsgi_without_threads_hash_in_the_callers_thread(
    monkeypatch: pytest.MonkeyPatch, name: str, module: FakeModule, real: bool
) -> None:
    monkeypatch.setitem(sys.modules, name, module)
    assert threads_are_real() is real
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, niceness=5)
    assert passwords.threads.active is (real and sys.platform.startswith("linux"))
    assert passwords.verify(passwords.hash(PASSWORD), PASSWORD)


def test_monkey_patching_after_the_app_was_made_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    # gunicorn --preload: the app (and its Passwords) is made in the master; a gevent
    # worker patches threading after the fork. Stand-in module, as above.
    passwords = Passwords(time_cost=1, memory_cost=8, parallelism=1, niceness=5)
    assert passwords.threads.active is sys.platform.startswith("linux")
    monkeypatch.setitem(sys.modules, "gevent.monkey", FakeModule(is_module_patched=lambda name: True))
    assert passwords.threads.active is False
    assert passwords.verify(passwords.hash(PASSWORD), PASSWORD)
