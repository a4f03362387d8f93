"""The load of ``run.py --load``, for locust (headless, run by ``load.py``).

``Person`` makes the mix, each user starting at most ``BENCH_USER_RATE`` requests per
second (locust's ``constant_throughput``), so N users offer N times that while the
server keeps up: signups, confirmations of the links the SMTP sink received (read from
``BENCH_SPOOL``), logins with the right and a wrong password (to the ``BENCH_SEEDED``
verified accounts ``seed{i}@example.com``), and ``/me`` with the session of a login.
``Flooder`` only signs up; ``BENCH_FLOODERS`` of them (``fixed_count``) make the flood.

``BENCH_APP`` (``ours`` or ``floor``) picks the paths. An answer other than the expected
status is a failure named ``status NNN``, so that locust's failures table counts errors
by status.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from typing import Any

from locust import HttpUser, constant_throughput, task
from locust.clients import HttpSession

APP = os.environ.get("BENCH_APP", "ours")
PATHS = {
    "ours": {"signup": "/api/users", "login": "/api/users/login", "me": "/api/users/me"},
    "floor": {"signup": "/api/signup", "login": "/api/login", "me": "/api/me"},
}[APP]
PASSWORD = "correct horse battery"
SEEDED = int(os.environ.get("BENCH_SEEDED", "50"))
RATE = float(os.environ.get("BENCH_USER_RATE", "1"))
RUN = uuid.uuid4().hex[:8]


class Links:
    """The links the SMTP sink wrote to the spool, each handed out once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self.ready: list[str] = []
        self.lock = threading.Lock()

    def take(self) -> str | None:
        with self.lock:
            if not self.ready and self.path:
                with open(self.path, "rb") as spool:
                    spool.seek(self.offset)
                    data = spool.read()
                complete = data[: data.rfind(b"\n") + 1]
                self.offset += len(complete)
                for line in complete.decode().splitlines():
                    _address, _, link = line.partition("\t")
                    if link:
                        self.ready.append(link)
            return self.ready.pop(0) if self.ready else None


LINKS = Links(os.environ.get("BENCH_SPOOL", ""))


def expect(response: Any, status: int) -> None:
    if response.status_code == status:
        response.success()
    else:
        response.failure(f"status {response.status_code}")


class Signups(HttpUser):
    """``self.client`` is a visitor without a session: it keeps no cookie from one
    request to the next (a request with a session cookie would need a CSRF token)."""

    abstract = True

    def sign_up(self, name: str) -> None:
        email = f"load-{RUN}-{uuid.uuid4().hex[:12]}@example.com"
        body = {"email": email, "password": PASSWORD}
        with self.client.post(PATHS["signup"], json=body, name=name, catch_response=True) as r:
            expect(r, 202)
        self.client.cookies.clear()


class Person(Signups):
    """One person of the mix."""

    wait_time = constant_throughput(RATE)
    member: HttpSession | None = None  # logged in once, for /me

    def on_start(self) -> None:
        # The session /me reads, made first: during a flood a login may be refused (503,
        # the hashing slots are taken), and /me is measured only with a session. A
        # person whose login is refused tries again after the Retry-After, a few times.
        for _ in range(5):
            member = HttpSession(base_url=self.host, request_event=self.environment.events.request, user=self)
            with member.post(PATHS["login"], json=self.seeded_login(PASSWORD), name="login", catch_response=True) as r:
                expect(r, 200)
                if r.status_code == 200:
                    self.member = member
                    return
                retry = r.headers.get("Retry-After", "1")
            time.sleep(float(retry) if retry.isdigit() else 1.0)

    def seeded_login(self, password: str) -> dict[str, str]:
        return {"email": f"seed{random.randrange(SEEDED)}@example.com", "password": password}

    def log_in(self, client: Any, password: str, name: str, status: int) -> bool:
        body = self.seeded_login(password)
        with client.post(PATHS["login"], json=body, name=name, catch_response=True) as r:
            expect(r, status)
            return r.status_code == 200

    @task(2)
    def signup(self) -> None:
        self.sign_up("signup")

    @task(2)
    def confirm(self) -> None:
        link = LINKS.take()
        if link is None:  # no link has arrived yet: this turn reads /me instead
            self.me()
            return
        with self.client.get(link, name="confirm", catch_response=True) as r:
            expect(r, 204)
        self.client.cookies.clear()

    @task(2)
    def login(self) -> None:
        self.log_in(self.client, PASSWORD, "login", 200)
        self.client.cookies.clear()  # a visitor who logs in and leaves

    @task(1)
    def wrong_password(self) -> None:
        self.log_in(self.client, "wrong horse battery", "login (wrong password)", 401)
        self.client.cookies.clear()

    @task(5)
    def me(self) -> None:
        if self.member is None:
            member = HttpSession(base_url=self.host, request_event=self.environment.events.request, user=self)
            if self.log_in(member, PASSWORD, "login", 200):
                self.member = member
            return
        with self.member.get(PATHS["me"], name="me", catch_response=True) as r:
            expect(r, 200)


class Flooder(Signups):
    """Signups only: the flood, starting ``BENCH_FLOOD_DELAY`` seconds after the users
    (so that the people of the mix have logged in)."""

    wait_time = constant_throughput(RATE)
    fixed_count = int(os.environ.get("BENCH_FLOODERS", "0"))

    def on_start(self) -> None:
        time.sleep(float(os.environ.get("BENCH_FLOOD_DELAY", "0")))  # gevent's sleep, under locust

    @task
    def flood(self) -> None:
        self.sign_up("signup (flood)")
