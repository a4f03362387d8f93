"""Fixtures: an app factory, a real SMTP server (aiosmtpd on 127.0.0.1), a real database.

The database is SQLite in a temporary folder unless ``TEST_DATABASE_URL`` names another
(the test command sets it to a throwaway PostgreSQL when it runs that leg).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from werkzeug.serving import make_server

from tests.helpers import optional
from tests.models import db, make_app
from tests.smtp import Mailbox, MailHandler


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``-n 2``), give each worker a database and a Redis database of
    its own: every test creates and drops its tables, and resets its rate-limit keys."""
    import os
    import re

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql"):
        os.environ["TEST_DATABASE_URL"] = worker_database(url, worker)
    redis_url = os.environ.get("TEST_REDIS_URL")
    if redis_url:
        number = int(re.sub(r"\D", "", worker) or 0)
        os.environ["TEST_REDIS_URL"] = re.sub(r"/\d*$", f"/{number + 1}", redis_url)


def worker_database(url: str, worker: str) -> str:
    """A fresh PostgreSQL database named after ``url``'s and the xdist worker; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


@contextmanager
def serve(app: Flask, port: int) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:``port`` in a thread; yield its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_app(
    mailbox: Mailbox, database_url: str, prepare: Callable[[Flask], object] | None = None, **settings: Any
) -> Iterator[tuple[Flask, str]]:
    """The test app served on a loopback port as the browser tests use it: ``TESTING``
    off (the pages as a person gets them), a login landing on the account page, the
    real SMTP server, ``settings`` over that. ``prepare(app)`` runs once the tables
    exist, before the first request. Yields (app, base URL); the tables are dropped
    after, whatever happened."""
    port = free_port()
    config = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
        "SERVER_NAME": f"127.0.0.1:{port}",
        "TESTING": False,
        "REGISTRATION_POST_LOGIN_REDIRECT": "/account",
        **settings,
    }
    app = make_app(config)
    with app.app_context():
        db.create_all()
    try:
        if prepare is not None:
            prepare(app)
        with serve(app, port) as base:
            yield app, base
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[MailHandler, str, int]]:
    handler = MailHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, "127.0.0.1", port
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[MailHandler, str, int]) -> Mailbox:
    handler, host, port = smtp_server
    box = Mailbox(handler, host, port)
    # Resend, reset and some logins answer before their email leaves, from a thread of
    # its own: on a loaded machine an earlier test's email can still be on its way. Let
    # those threads finish, then start from an empty mailbox.
    for thread in threading.enumerate():
        if thread.name.startswith("flask-registration-mail-"):
            thread.join(30)
    box.clear()
    return box


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """``TEST_DATABASE_URL``, or a new SQLite file for this test.

    The file goes to a memory-backed folder (``/dev/shm``) when the machine has one:
    each test creates and drops its tables, and on a disk every one of those commits
    waits for a sync, which made that about half of a fast test's time.
    """
    import os
    import shutil
    import tempfile

    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK):
        folder = tempfile.mkdtemp(prefix="flask-registration-test-", dir=shm)
        try:
            yield f"sqlite:///{folder}/test.sqlite"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        # pytest's tmp_path only here: making (and later pruning) one per test costs a
        # few milliseconds of a fast test that the folder in /dev/shm does not.
        yield f"sqlite:///{request.getfixturevalue('tmp_path') / 'test.sqlite'}"


@pytest.fixture
def app(request: pytest.FixtureRequest, mailbox: Mailbox, database_url: str) -> Iterator[Flask]:
    """An app with the extension set up, a real SMTP server and a fresh database.

    Per-test settings: ``@pytest.mark.app_config(KEY=value, ...)``.
    """
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
    }
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        config.update(marker.kwargs)
    app = make_app(config)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def registration(app: Flask) -> Any:
    """The extension object set up on ``app`` (hooks are registered on it)."""
    return app.extensions["registration"].extension


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def oauth_app(database_url: str, mailbox: Mailbox) -> Iterator[Flask]:
    """The test app with third-party login's model: linked identities and access tokens."""
    from flask_registration import Registration
    from tests.models import AccessToken, User
    from tests.oauth_provider import OAuth  # imported here: that module imports this one

    registration = Registration(db=db, user_model=User, token_model=AccessToken, oauth_model=OAuth)
    config = {"SQLALCHEMY_DATABASE_URI": database_url, "MAIL_SERVER": mailbox.host, "MAIL_PORT": mailbox.port}
    app = make_app(config, registration=registration)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, one for the whole run (only one
    ``sync_playwright()`` may run at a time)."""
    sync_playwright = optional("playwright.sync_api").sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new browser tab in a context of its own (no cookies from another test);
    downloads are accepted (the data export)."""
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis on 127.0.0.1: ``TEST_REDIS_URL`` when the test command started one
    (scripts/_redis.sh), else a throwaway ``redis-server`` of our own. Without one the
    tests that need it are skipped, except under ``CI``, where they must run."""
    import os
    import shutil
    import subprocess

    redis = optional("redis")

    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but redis-server is not installed: scripts/test.sh installs it (apt).")
        pytest.skip("redis-server is not installed (apt-get install redis-server, or run scripts/test.sh)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start on 127.0.0.1:{port}")
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def site(mailbox: Mailbox, database_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app with third-party login and the local OAuth2 provider (Authlib), both
    served on loopback ports (``tests/oauth_provider.py``), plain http."""
    from tests.oauth_provider import serve_site  # that module imports this one

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # oauthlib refuses http otherwise
    yield from serve_site(mailbox, database_url, request)


@pytest.fixture
def http() -> Iterator[Any]:
    """A browser-like HTTP client (``requests``: redirects followed, cookies kept)."""
    import requests

    with requests.Session() as session:
        yield session


@contextmanager
def factors_app_for(config: dict[str, Any]) -> Iterator[Flask]:
    """The test app with second factors (the tests' ``Factor`` model), sessions and
    access tokens, on a fresh database; dropped after."""
    from flask_registration import Registration
    from tests.models import AccessToken, Factor, LoginSession, User

    registration = Registration(
        db=db, user_model=User, token_model=AccessToken, session_model=LoginSession, factor_model=Factor
    )
    app = make_app(config, registration=registration)
    with app.app_context():
        db.create_all()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def factors_app(request: pytest.FixtureRequest, mailbox: Mailbox, database_url: str) -> Iterator[Flask]:
    """An app with second factors, a real SMTP server and a fresh database (per-test
    settings: ``@pytest.mark.app_config(...)``, as for ``app``)."""
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": mailbox.host,
        "MAIL_PORT": mailbox.port,
    }
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        config.update(marker.kwargs)
    with factors_app_for(config) as app:
        yield app


@contextmanager
def serve_localhost(app: Flask, port: int) -> Iterator[str]:
    """Serve ``app`` like :func:`serve`, but yield ``http://localhost:PORT``: WebAuthn
    needs a host name (an IP address is no relying party id) in a secure context, and
    localhost is one."""
    with serve(app, port) as base:
        yield base.replace("127.0.0.1", "localhost")
