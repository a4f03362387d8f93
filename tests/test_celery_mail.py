"""Queued mail: signup over the JSON API puts the email on a real Redis queue, and a real
Celery worker (in a thread) sends it to the real SMTP server, retrying while it is down."""

from __future__ import annotations

import base64
import json
import logging
import os
import smtplib
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask_mail import Message

from tests.helpers import optional
from tests.smtp import Mailbox

redis = optional("redis")
optional("celery")  # the ``celery`` extra; skipped without it, except under CI

from celery import Celery, signals  # noqa: E402
from celery.contrib.testing.worker import start_worker  # noqa: E402

from flask_registration import signals as registration_signals  # noqa: E402
from flask_registration.contrib.celery import TASK_NAME, init_celery, message_from_dict, message_to_dict  # noqa: E402
from flask_registration.mail import flask_mail_sender  # noqa: E402
from tests.conftest import free_port  # noqa: E402
from tests.helpers import press_confirm  # noqa: E402
from tests.models import User, db, make_app  # noqa: E402
from tests.smtp import MailHandler  # noqa: E402

#: Half a second or more per test: out of the fast loop (``-m "not slow"``).
pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
#: Retries come within a second or two, so these tests wait on events, not on time.
FAST_RETRIES = pytest.mark.app_config(REGISTRATION_MAIL_RETRY_BACKOFF=timedelta(seconds=1))
WAIT = 30.0  # an upper bound on every wait: a failure, not a timing assumption


def make_celery(broker_url: str) -> Celery:
    """A Celery app of its own per test, on a queue of its own."""
    celery = Celery(f"tests-{uuid.uuid4().hex[:8]}", broker=broker_url, set_as_current=False)
    celery.conf.update(
        task_default_queue=f"registration-test-{uuid.uuid4().hex}",
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=2,
        worker_hijack_root_logger=False,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2},
    )
    # The embedded worker would set up logging for the whole process (the root logger's
    # level and handlers): the app's logging, and pytest's, stay as they are.
    celery.log.already_setup = True
    return celery


@pytest.fixture
def queued(app: Flask, redis_url: str) -> Any:
    """``app`` with its mail queued on a fresh Celery app; the failed queue is the test's own."""
    app.config["REGISTRATION_MAIL_FAILED_QUEUE"] = f"registration-test-failed-{uuid.uuid4().hex}"
    celery = make_celery(redis_url)
    init_celery(app, celery)
    return celery


@contextmanager
def worker(celery: Celery) -> Iterator[None]:
    """A real Celery worker in a thread, stopped on leaving; what its start changes in the
    process (the root logger's level, warnings sent to logging, two environment
    variables) is put back."""
    environ = {key: os.environ.get(key) for key in ("CELERY_LOG_LEVEL", "CELERY_LOG_FILE")}
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        with start_worker(celery, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
        logging.captureWarnings(False)
        for key, value in environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def smtp_on(port: int, handler: Any = None) -> Iterator[MailHandler]:
    """A second real SMTP server, on a port the app was pointed at while nothing listened."""
    handler = handler or MailHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


class Seen:
    """Celery's task signals for the mail task, as events the test can wait on."""

    def __init__(self) -> None:
        self.retries = 0
        self.retried = threading.Event()
        self.failed = threading.Event()
        self.succeeded = threading.Event()

    def on_retry(self, sender: Any = None, **kw: Any) -> None:
        if getattr(sender, "name", None) == TASK_NAME:
            self.retries += 1
            self.retried.set()

    def on_failure(self, sender: Any = None, **kw: Any) -> None:
        if getattr(sender, "name", None) == TASK_NAME:
            self.failed.set()

    def on_success(self, sender: Any = None, **kw: Any) -> None:
        if getattr(sender, "name", None) == TASK_NAME:
            self.succeeded.set()


@pytest.fixture
def seen() -> Iterator[Seen]:
    events = Seen()
    signals.task_retry.connect(events.on_retry, weak=False)
    signals.task_failure.connect(events.on_failure, weak=False)
    signals.task_success.connect(events.on_success, weak=False)
    yield events
    signals.task_retry.disconnect(events.on_retry)
    signals.task_failure.disconnect(events.on_failure)
    signals.task_success.disconnect(events.on_success)


def sign_up(client: Any, email: str = "ada@example.com") -> Any:
    response = client.post("/api/users", json={"email": email, "password": PASSWORD})
    assert response.status_code == 202, response.json
    return response.json


def wait(event: threading.Event, what: str) -> None:
    assert event.wait(WAIT), f"no {what} within {WAIT} s"


def wait_for_message(handler: MailHandler) -> Any:
    return Mailbox(handler, "127.0.0.1", 0).wait_for(1, timeout=WAIT)[0]


def failed_entries(app: Flask, redis_url: str) -> list[dict[str, Any]]:
    """What the failed queue holds, read as an operator would (``redis-cli LRANGE``):
    kombu keeps each message in the Redis list named after the queue."""
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.lrange(app.config["REGISTRATION_MAIL_FAILED_QUEUE"], 0, -1)
    finally:
        client.close()
    entries = []
    for item in reversed(raw):  # kombu pushes on the left: oldest last
        envelope = json.loads(item)
        body = envelope["body"]
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body)
        entries.append(json.loads(body))
    return entries


def test_signup_queues_the_email_and_the_worker_sends_it(
    app: Flask, client: Any, mailbox: Mailbox, queued: Any
) -> None:
    body = sign_up(client)
    assert body["emailSent"] is True  # handed to the queue
    # No worker runs yet, so nothing can have been sent: the request did not talk SMTP.
    assert mailbox.messages == []

    with worker(queued):
        (msg,) = mailbox.wait_for(1, timeout=WAIT)
    assert msg["To"] == "ada@example.com"
    assert msg["Subject"] == "Confirm your email address"
    assert msg["From"] == "Tests <tests@example.com>"
    assert "/confirm?" in Mailbox.html(msg)
    link = mailbox.link(msg)
    assert press_confirm(client, link, PASSWORD).status_code == 200
    with app.app_context():
        assert db.session.scalars(db.select(User)).one().email_verified


@FAST_RETRIES
def test_mail_server_down_the_task_retries_until_it_is_back(app: Flask, client: Any, queued: Any, seen: Any) -> None:
    port = free_port()
    app.extensions["mail"].port = port  # nothing listens there yet
    with worker(queued):
        sign_up(client)
        wait(seen.retried, "retry")
        with smtp_on(port) as handler:
            msg = wait_for_message(handler)
            wait(seen.succeeded, "success")
    assert msg["To"] == "ada@example.com"
    assert seen.retries >= 1
    assert not seen.failed.is_set()
    assert len(handler.messages) == 1


@FAST_RETRIES
@pytest.mark.app_config(REGISTRATION_MAIL_MAX_RETRIES=1)
def test_after_the_last_retry_the_message_is_kept_and_can_be_queued_again(
    app: Flask, client: Any, queued: Any, seen: Any, caplog: pytest.LogCaptureFixture, redis_url: str
) -> None:
    port = free_port()
    app.extensions["mail"].port = port
    caplog.set_level(logging.ERROR, logger="flask_registration")
    with worker(queued):
        sign_up(client)
        wait(seen.failed, "failure")
        (entry,) = failed_entries(app, redis_url)
        assert entry["message"]["recipients"] == ["ada@example.com"]
        assert entry["error"].startswith("ConnectionRefusedError")
        logged = [r.getMessage() for r in caplog.records if r.name == "flask_registration"]
        assert any("Gave up sending the queued email" in line and "requeue-failed-mail" in line for line in logged)
        assert not any("/confirm" in line or "token=" in line for line in logged)  # never the link

        with smtp_on(port) as handler:
            result = app.test_cli_runner().invoke(args=["registration", "requeue-failed-mail"])
            assert result.exit_code == 0, result.output
            assert result.output.strip() == "Queued 1 email again."
            msg = wait_for_message(handler)
            wait(seen.succeeded, "success")
    assert msg["To"] == "ada@example.com"
    assert msg["Message-ID"] == entry["message"]["msg_id"]  # the same message, not a new one
    assert failed_entries(app, redis_url) == []


class RefusingHandler(MailHandler):
    """A server that refuses every recipient for good (550)."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 No such mailbox"


@FAST_RETRIES
def test_a_recipient_refused_for_good_is_kept_without_retrying(
    app: Flask, client: Any, queued: Any, seen: Any, redis_url: str
) -> None:
    port = free_port()
    app.extensions["mail"].port = port
    with smtp_on(port, RefusingHandler()), worker(queued):
        sign_up(client)
        wait(seen.failed, "failure")
    assert seen.retries == 0
    (entry,) = failed_entries(app, redis_url)
    assert entry["error"].startswith("MailRefused: ")


class HangUpAtQuit(MailHandler):
    """A server that takes the message, then drops the connection instead of answering QUIT."""

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        server.transport.abort()
        return "221 Bye"


@FAST_RETRIES
def test_a_server_that_hangs_up_after_taking_the_message_gets_it_once(
    app: Flask, client: Any, queued: Any, seen: Any
) -> None:
    port = free_port()
    app.extensions["mail"].port = port
    with smtp_on(port, HangUpAtQuit()) as handler, worker(queued):
        sign_up(client)
        wait(seen.succeeded, "success")
        assert len(handler.messages) == 1
    assert seen.retries == 0 and not seen.failed.is_set()


def test_a_broker_that_is_down_reports_the_email_as_not_sent_and_keeps_the_user(
    app: Flask, client: Any, mailbox: Mailbox
) -> None:
    init_celery(app, make_celery(f"redis://127.0.0.1:{free_port()}/0"))
    failures: list[Any] = []
    with registration_signals.mail_failed.connected_to(lambda sender, **kw: failures.append(kw), app):
        body = sign_up(client)
    assert body["emailSent"] is False
    assert [type(f["error"]) for f in failures] == [ConnectionError]
    with app.app_context():
        assert db.session.scalars(db.select(User.email)).all() == ["ada@example.com"]


def test_a_message_survives_the_trip_through_json(app: Flask) -> None:
    with app.app_context():
        message = Message(
            subject="Sujet é",
            sender=("Équipe", "team@example.com"),
            recipients=["a@example.com", ("B", "b@example.com")],
            cc=["c@example.com"],
            bcc=["d@example.com"],
            reply_to="r@example.com",
            body="text",
            html="<p>html</p>",
            extra_headers={"X-Kind": "verify"},
        )
        data = json.loads(json.dumps(message_to_dict(message)))
        again = message_from_dict(data)
        assert again.msgId == message.msgId
        assert again.date == data["date"] is not None
        for name in ("subject", "sender", "recipients", "cc", "bcc", "reply_to", "body", "html", "extra_headers"):
            assert getattr(again, name) == getattr(message, name), name
        assert again.as_string().count("X-Kind: verify") == 1


def test_a_message_with_an_attachment_is_not_queued(app: Flask) -> None:
    with app.app_context():
        message = Message(subject="s", recipients=["a@example.com"], body="b")
        message.attach("a.txt", "text/plain", b"data")
        with pytest.raises(ValueError, match="attachments"):
            message_to_dict(message)


def test_init_celery_twice_or_for_two_apps_is_an_error(app: Flask, database_url: str) -> None:
    celery = make_celery("redis://127.0.0.1:1/0")
    init_celery(app, celery)
    with pytest.raises(RuntimeError, match="already called"):
        init_celery(app, make_celery("redis://127.0.0.1:1/0"))
    other = make_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with pytest.raises(RuntimeError, match="another Flask app"):
        init_celery(other, celery)


def test_the_task_sends_with_the_sender_the_app_had_before(app: Flask, mailbox: Mailbox) -> None:
    celery = make_celery("redis://127.0.0.1:1/0")
    task = init_celery(app, celery)
    assert task.send_now is flask_mail_sender
    assert task.acks_late and task.reject_on_worker_lost
    assert task.autoretry_for == (OSError, smtplib.SMTPException)
    assert task.max_retries == 10 and task.retry_backoff == 30 and task.retry_jitter


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("REGISTRATION_MAIL_MAX_RETRIES", -1, "cannot be negative"),
        ("REGISTRATION_MAIL_RETRY_BACKOFF", timedelta(milliseconds=500), "at least one second"),
        ("REGISTRATION_MAIL_FAILED_QUEUE", "", "cannot be empty"),
    ],
)
def test_mail_queue_settings_are_checked_at_init_app(key: Any, value: Any, message: Any) -> None:
    with pytest.raises(RuntimeError, match=message):
        make_app({key: value})
