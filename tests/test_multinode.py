"""Several nodes on one PostgreSQL: two gunicorn servers (2 workers each) on loopback.

Tokens are stateless and state is in the database, so any step can happen on either
server. Runs in the PostgreSQL leg of the test command (TEST_DATABASE_URL).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask

from tests.conftest import free_port
from tests.helpers import link_params
from tests.models import User, db
from tests.smtp import Mailbox

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
        reason="several nodes share one PostgreSQL: the test command's PostgreSQL leg runs this",
    ),
    pytest.mark.skipif(GUNICORN is None, reason="gunicorn is not installed (it is in the test extra)"),
]


def _start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            GUNICORN or "gunicorn",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "5",
            "tests.multinode_app:create_app()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            requests.get(f"{base}/api/users/me", timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{base} did not start in 20 s")


@pytest.fixture
def nodes(app: Flask, mailbox: Mailbox) -> Iterator[tuple[str, str]]:
    """Two servers on the test database (its tables made by the `app` fixture)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MULTINODE_SECRET_KEY": app.config["SECRET_KEY"],
        "MULTINODE_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "MULTINODE_MAIL_PORT": str(mailbox.port),
    }
    ports = [free_port(), free_port()]
    procs = [_start(port, env) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, proc in zip(bases, procs, strict=True):
            _wait_ready(base, proc)
        yield bases[0], bases[1]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            if proc.stderr:
                proc.stderr.close()


def _on(base: str, link: str) -> str:
    """The same path and query on another server."""
    parts = urlsplit(link)
    return f"{base}{parts.path}?{parts.query}"


def _count(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.query(User).filter(User.email == email).count()


def test_each_step_works_on_either_node(app: Flask, nodes: Any, mailbox: Mailbox) -> None:
    first, second = nodes
    r = requests.post(f"{first}/api/users", json={"email": "multi@example.com", "password": "first password"})
    assert r.status_code == 202
    (verify,) = mailbox.wait_for(1)
    link = mailbox.link(verify)
    body = {**link_params(link), "password": "first password"}
    assert requests.post(f"{second}/api/users/confirm", json=body, timeout=10).status_code == 204

    r = requests.post(f"{second}/api/users/login", json={"email": "multi@example.com", "password": "first password"})
    assert r.status_code == 200
    token = r.json()["id"]
    assert (
        requests.get(f"{first}/api/users/me", headers={"Authorization": token}).json()["email"] == "multi@example.com"
    )

    assert requests.post(f"{first}/api/users/reset", json={"email": "multi@example.com"}).status_code == 204
    reset = mailbox.wait_for(2)[1]
    reset_token = re.search(r"token=([^&\s]+)", mailbox.link(reset, "/reset-password")).group(1)
    r = requests.post(
        f"{second}/api/users/reset-password", json={"token": reset_token, "newPassword": "second password"}
    )
    assert r.status_code == 204
    # The reset revoked the token everywhere, and the new password works on the first node.
    assert requests.get(f"{second}/api/users/me", headers={"Authorization": token}).status_code == 401
    r = requests.post(f"{first}/api/users/login", json={"email": "multi@example.com", "password": "second password"})
    assert r.status_code == 200


def test_fifty_concurrent_signups_of_one_address_make_one_user(app: Flask, nodes: Any, mailbox: Mailbox) -> None:
    variants = ["race@example.com", "RACE@example.com", "Race@Example.COM", "race@EXAMPLE.com", "rAce@example.com"]

    def sign_up(i: int) -> int:
        base = nodes[i % 2]
        r = requests.post(f"{base}/api/users", json={"email": variants[i % 5], "password": f"password {i}"}, timeout=30)
        return r.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(sign_up, range(50)))
    assert statuses == [202] * 50
    assert _count(app, "race@example.com") == 1
    # One verification email and 49 "you already have an account" notices, all to one address.
    messages = mailbox.wait_for(50, timeout=30)
    assert {m["To"] for m in messages} == {"race@example.com"}
    assert sum("/confirm?" in mailbox.text(m) for m in messages) == 1


def test_fifty_concurrent_confirms_of_one_link_verify_once(app: Flask, nodes: Any, mailbox: Mailbox) -> None:
    first, second = nodes
    assert (
        requests.post(
            f"{first}/api/users", json={"email": "click@example.com", "password": "click password"}
        ).status_code
        == 202
    )
    link = mailbox.link(mailbox.wait_for(1)[0])

    def confirm(i: int) -> int:
        body = {**link_params(link), "password": "click password"}
        return requests.post(f"{nodes[i % 2]}/api/users/confirm", json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(confirm, range(50)))
    assert statuses == [204] * 50
    with app.app_context():
        user = db.session.query(User).filter_by(email="click@example.com").one()
        assert user.email_verified


def test_two_concurrent_email_changes_leave_a_consistent_row(app: Flask, nodes: Any, mailbox: Mailbox) -> None:
    first, second = nodes
    requests.post(f"{first}/api/users", json={"email": "move@example.com", "password": "move password"})
    link = mailbox.link(mailbox.wait_for(1)[0])
    body = {**link_params(link), "password": "move password"}
    assert requests.post(f"{first}/api/users/confirm", json=body, timeout=30).status_code == 204
    token = requests.post(
        f"{second}/api/users/login", json={"email": "move@example.com", "password": "move password"}
    ).json()["id"]
    targets = ["one@example.com", "two@example.com"]

    def change(i: int) -> int:
        r = requests.post(
            f"{nodes[i]}/api/users/change-email",
            json={"newEmail": targets[i], "password": "move password"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(change, range(2))) == [202, 202]
    with app.app_context():
        pending = db.session.query(User).filter_by(email="move@example.com").one().pending_email
    assert pending in targets

    messages = mailbox.wait_for(5, timeout=30)  # verify + 2 links + 2 notices
    links = {m["To"]: mailbox.link(m, "/confirm-email") for m in messages if m["To"] in targets}
    assert set(links) == set(targets)
    statuses = {
        to: requests.post(_on(first, "/api/users/confirm-email"), json=link_params(url), timeout=30).status_code
        for to, url in links.items()
    }
    # Only the address still pending can be applied; the other link is refused.
    assert statuses == {t: (204 if t == pending else 400) for t in targets}
    assert _count(app, pending) == 1 and _count(app, "move@example.com") == 0
