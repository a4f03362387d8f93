"""Enumeration: with REGISTRATION_PREVENT_ENUMERATION on, signup, resend, reset and login
answer an address that has an account and one that has none with the same status and
body, and the same argon2 work.

The argon2 work is counted by wrapping the app's hasher (observing its calls, not
replacing them): the same work is what makes the times alike. No test reads the clock
to decide (a loaded CI machine makes such a check fail at random); the medians of the
interleaved samples are printed (``pytest -s``) for docs/security.rst, and
benchmarks/login_timing.py measures login times by kind of account.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from typing import Any

import pytest
from flask import Flask

from flask_registration import get_state
from tests.smtp import Mailbox

PASSWORD = "correct horse battery"
SAMPLES = 15

#: Costly enough that one argon2 call (about 60 ms here) dwarfs a database write.
ARGON2 = {"REGISTRATION_ARGON2_TIME_COST": 2, "REGISTRATION_ARGON2_MEMORY_COST": 32768}


class CountingHasher:
    """Wraps an argon2 ``PasswordHasher``: counts each call, then makes it."""

    def __init__(self, hasher: Any) -> None:
        self.hasher = hasher
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.hasher, name)
        if name not in ("hash", "verify"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@pytest.fixture
def counting(app: Flask, monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    state = get_state(app)
    with app.app_context():
        for email, verified in (("ada@example.com", True), ("uv@example.com", False)):
            user = state.store.create({"email": email, "password_hash": state.passwords.hash(PASSWORD)})
            if verified:
                state.store.mark_verified(user)
    counter = CountingHasher(state.passwords._hasher)
    monkeypatch.setattr(state.passwords, "_hasher", counter)
    return counter


def measure(client: Any, counter: CountingHasher, send: Any) -> tuple[int, Any, Counter[str], float]:
    before = Counter(counter.calls)
    start = time.perf_counter()
    response = send(client)
    elapsed = time.perf_counter() - start
    return response.status_code, response.get_data(as_text=True), counter.calls - before, elapsed


FLOWS = {
    # name: (request for an address with an account, request for one without)
    "signup": (
        lambda c, n: c.post("/api/users", json={"email": "ada@example.com", "password": PASSWORD}),
        lambda c, n: c.post("/api/users", json={"email": f"new{n}@example.com", "password": PASSWORD}),
    ),
    "login": (
        lambda c, n: c.post("/api/users/login", json={"email": "ada@example.com", "password": "wrong password"}),
        lambda c, n: c.post("/api/users/login", json={"email": f"nobody{n}@example.com", "password": "wrong password"}),
    ),
    "resend": (
        lambda c, n: c.post("/api/users/verify", json={"email": "uv@example.com"}),
        lambda c, n: c.post("/api/users/verify", json={"email": f"nobody{n}@example.com"}),
    ),
    "reset": (
        lambda c, n: c.post("/api/users/reset", json={"email": "ada@example.com"}),
        lambda c, n: c.post("/api/users/reset", json={"email": f"nobody{n}@example.com"}),
    ),
}

#: Flows that hash or check a password on both sides. Resend and reset hash nothing; they
#: answer before their email leaves and render one either way, which
#: test_resend_and_reset_make_an_email_either_way checks by the work done.
HASHING = {"signup", "login"}


def same_body(existing: str, missing: str) -> tuple[str, str]:
    """The bodies with the address itself blanked (signup echoes the address it was given)."""
    blank = re.compile(r'"email":\s*"[^"]*"')
    return blank.sub('"email": "…"', existing), blank.sub('"email": "…"', missing)


@pytest.mark.slow
@pytest.mark.app_config(**ARGON2)
@pytest.mark.parametrize("flow", list(FLOWS))
def test_an_account_and_no_account_look_the_same(app: Flask, mailbox: Mailbox, counting: Any, flow: Any) -> None:
    with_account, without = FLOWS[flow]
    client = app.test_client(use_cookies=False)
    times: dict[str, list[float]] = {"account": [], "none": []}
    for n in range(SAMPLES):
        # Interleaved, so a slow moment of the machine hits both sides alike.
        a_status, a_body, a_work, a_time = measure(client, counting, lambda c, n=n: with_account(c, n))
        b_status, b_body, b_work, b_time = measure(client, counting, lambda c, n=n: without(c, n))
        assert a_status == b_status
        assert same_body(a_body, b_body)[0] == same_body(a_body, b_body)[1]
        assert a_work == b_work, f"{flow}: argon2 calls differ ({dict(a_work)} vs {dict(b_work)})"
        times["account"].append(a_time)
        times["none"].append(b_time)
    account, none = statistics.median(times["account"]), statistics.median(times["none"])
    # Shown with pytest -s (or -rP): the figures docs/security.rst quotes.
    print(f"\n{flow}: median {account * 1000:.1f} ms with an account, {none * 1000:.1f} ms without")
    if flow in HASHING:
        assert sum(a_work.values()) >= 1, f"{flow}: no argon2 call"  # and as many on the other side


@pytest.mark.app_config(**ARGON2)
def test_login_does_the_same_argon2_work_for_every_refusal(app: Flask, counting: Any) -> None:
    client = app.test_client(use_cookies=False)
    cases = [
        {"email": "ada@example.com", "password": "wrong password"},  # an account, wrong password
        {"email": "nobody@example.com", "password": "wrong password"},  # no account
        {"email": "not an address", "password": "wrong password"},  # not even an address
        {"email": "ada@example.com", "password": "x" * 2000},  # over the maximum length
    ]
    works = []
    for body in cases:
        status, text, work, _elapsed = measure(client, counting, lambda c, b=body: c.post("/api/users/login", json=b))
        assert status == 401 and '"LOGIN_FAILED"' in text
        works.append(work)
    assert all(work == Counter(verify=1) for work in works), works


@pytest.mark.app_config(WTF_CSRF_ENABLED=False)
@pytest.mark.parametrize(
    "page, field, existing",
    [
        ("/signup", "email", "ada@example.com"),
        ("/resend", "email", "uv@example.com"),
        ("/forgot", "email", "ada@example.com"),
        ("/login", "email", "ada@example.com"),
    ],
)
def test_the_html_pages_look_the_same_too(
    app: Flask, mailbox: Mailbox, counting: Any, page: Any, field: Any, existing: Any
) -> None:
    client = app.test_client()
    extra = {"password": "wrong password", "password_confirm": "wrong password"}

    def send(email: str) -> Any:
        return client.post(page, data={field: email, **extra})

    a, b = send(existing), send("nobody@example.com")
    assert a.status_code == b.status_code
    assert a.get_data(as_text=True).replace(existing, "…") == b.get_data(as_text=True).replace(
        "nobody@example.com", "…"
    )


@pytest.mark.app_config(**ARGON2)
@pytest.mark.parametrize("flow", ["resend", "reset"])
def test_resend_and_reset_make_an_email_either_way(app: Flask, mailbox: Mailbox, counting: Any, flow: Any) -> None:
    """The same templates are rendered whether or not the address gets an email (the
    email itself leaves after the answer), so the answer's timing tells nothing."""
    from flask import template_rendered

    with_account, without = FLOWS[flow]
    client = app.test_client(use_cookies=False)

    def rendered(send: Any, n: int) -> list[str]:
        names: list[str] = []

        def record(sender: Any, template: Any, context: Any, **extra: Any) -> None:
            names.append(template.name)

        with template_rendered.connected_to(record, app):
            assert send(client, n).status_code == 204
        return sorted(names)

    made = rendered(with_account, 0)
    assert made == rendered(without, 0)
    assert any(name.startswith("registration/email/") for name in made), made
    mailbox.wait_for(1)  # the account's email still arrives, after the answer
