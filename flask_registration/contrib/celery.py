"""Queued mail: a Celery worker sends the library's emails, so no request waits on SMTP.

Call :func:`init_celery` after ``init_app``, in the web app and in the worker alike (one
app factory)::

    from celery import Celery
    from flask_registration.contrib.celery import init_celery

    celery = Celery(__name__, broker="redis://127.0.0.1:6379/0")

    def create_app():
        app = Flask(__name__)
        ...
        registration.init_app(app)
        init_celery(app, celery)
        return app

A request then only puts the message on the queue, as a plain dict (JSON). The worker
rebuilds it and sends it with the sender the app had before (Flask-Mail by default),
retrying with back-off while the mail server is down. A message still not sent after
``REGISTRATION_MAIL_MAX_RETRIES`` retries, or refused for good by the server, is logged
and kept in the queue ``REGISTRATION_MAIL_FAILED_QUEUE``;
``flask registration requeue-failed-mail`` queues it again.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Mapping
from typing import Any

from celery import Celery, Task
from flask import Flask
from flask_mail import Message
from kombu.exceptions import KombuError

from ..mail import MailSender
from ..models import utcnow
from ..state import get_state

#: The name of the task that sends one queued message.
TASK_NAME = "flask_registration.send_mail"
#: The longest wait between two tries, in seconds (below Redis's visibility timeout, an
#: hour, so that a waiting retry is never delivered twice).
RETRY_BACKOFF_MAX = 600

log = logging.getLogger("flask_registration")

_EXTRAS_KEY = "celery_mail_task"


class MailRefused(Exception):
    """The mail server refused the message for good (a 5xx answer): trying again would
    not help, so the message goes straight to the failed queue."""


def _pair(value: Any) -> Any:
    """JSON turns a ``(name, address)`` tuple into a list: turn it back."""
    return tuple(value) if isinstance(value, list) else value


def message_to_dict(message: Message) -> dict[str, Any]:
    """A ``flask_mail.Message`` as a JSON-safe dict: subject, sender, recipients (and
    cc, bcc, reply-to), the text and HTML bodies, the extra headers, and its
    ``Message-ID`` and date, so that every try sends the same message.

    :raises ValueError: the message has attachments (they are not queued).
    """
    if message.attachments:
        raise ValueError("A queued message cannot carry attachments.")
    return {
        "subject": message.subject,
        "sender": message.sender,
        "recipients": list(message.recipients),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": message.reply_to,
        "body": message.body,
        "html": message.html,
        "extra_headers": dict(message.extra_headers or {}),
        "charset": message.charset,
        "msg_id": message.msgId,
        # Without a date Flask-Mail stamps the time of sending: keep the time of queuing.
        "date": message.date if message.date is not None else time.time(),
    }


def message_from_dict(data: Mapping[str, Any]) -> Message:
    """The ``flask_mail.Message`` that :func:`message_to_dict` was given."""
    message = Message(
        subject=data["subject"],
        sender=_pair(data["sender"]),
        recipients=[_pair(r) for r in data["recipients"]],
        cc=[_pair(r) for r in data.get("cc") or []],
        bcc=[_pair(r) for r in data.get("bcc") or []],
        reply_to=_pair(data.get("reply_to")),
        body=data.get("body"),
        html=data.get("html"),
        extra_headers=data.get("extra_headers") or None,
        charset=data.get("charset"),
        date=data.get("date"),
    )
    if data.get("msg_id"):
        message.msgId = data["msg_id"]
    return message


def _permanent(exc: Exception) -> bool:
    """Whether the server's answer was a 5xx: the same message would be refused again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


class SendMailTask(Task):
    """The task class: it knows its Flask app, the sender that really sends, and where
    a message it gives up on is kept (set by :func:`init_celery`)."""

    flask_app: Flask
    failed_queue: str
    send_now: MailSender

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Keep the message in the failed queue, and log (never the body: it holds the link)."""
        data = args[0] if args else kwargs.get("data")
        entry = {
            "message": data,
            "task_id": task_id,
            "error": f"{type(exc).__name__}: {exc}",
            "failed_at": utcnow().isoformat(),
        }
        subject = data.get("subject") if isinstance(data, Mapping) else None
        try:
            with self.app.connection_for_write() as connection:
                queue = connection.SimpleQueue(self.failed_queue, serializer="json")
                try:
                    queue.put(entry)
                finally:
                    queue.close()
        except (OSError, KombuError) as keep_error:
            # The broker went down too: the log is all that is left, so it names the
            # recipients (`flask registration resend` can send a fresh link).
            recipients = data.get("recipients") if isinstance(data, Mapping) else None
            log.error(
                "Gave up sending the queued email %s (subject %r, to %s) after %d retries: %s; and could "
                "not keep it in the queue %r: %s",
                task_id,
                subject,
                recipients,
                self.request.retries,
                entry["error"],
                self.failed_queue,
                keep_error,
            )
            return
        log.error(
            "Gave up sending the queued email %s (subject %r) after %d retries: %s. It is kept in the "
            "queue %r: `flask registration requeue-failed-mail` queues it again.",
            task_id,
            subject,
            self.request.retries,
            entry["error"],
            self.failed_queue,
        )


def _send_mail(task: SendMailTask, data: dict[str, Any]) -> None:
    with task.flask_app.app_context():
        message = message_from_dict(data)
        try:
            task.send_now(message)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
            if _permanent(exc):
                raise MailRefused(f"{type(exc).__name__}: {exc}") from exc
            raise


def queued_mail_sender(task: Any) -> MailSender:
    """A ``mail_sender`` that puts the message on ``task``'s queue and returns.

    A broker that cannot be reached raises ``ConnectionError`` (an ``OSError``), so the
    flows report the email as not sent, as for a mail server that is down.
    """

    def send(message: Message) -> None:
        data = message_to_dict(message)
        try:
            task.apply_async(args=[data])
        except KombuError as exc:
            raise ConnectionError(f"Could not queue the email: {exc}") from exc

    return send


def init_celery(app: Flask, celery: Celery) -> Any:
    """Send ``app``'s registration emails through a task on ``celery``.

    Call it after ``init_app``, in the web processes and in the worker (run the same
    app factory there). It defines the task ``flask_registration.send_mail`` on
    ``celery`` and makes the app's mail sender the one that queues. The task sends with
    the sender the app had before (Flask-Mail, or your ``mail_sender``), inside the app
    context; it retries on ``OSError`` and ``smtplib.SMTPException`` with exponential
    back-off (``REGISTRATION_MAIL_RETRY_BACKOFF``, doubling, at most 10 minutes, with
    jitter) up to ``REGISTRATION_MAIL_MAX_RETRIES`` times; it is acknowledged only when
    done (``acks_late``), and put back if the worker dies on it.

    One Celery app serves one Flask app.

    :returns: the task.
    :raises RuntimeError: called twice for ``app``, or ``celery`` already sends the mail
        of another Flask app.
    """
    state = get_state(app)
    if _EXTRAS_KEY in state.extras:
        raise RuntimeError("init_celery was already called for this app.")
    config = app.config
    task = celery.task(
        _send_mail,
        name=TASK_NAME,
        base=SendMailTask,
        bind=True,
        shared=False,
        lazy=False,
        autoretry_for=(OSError, smtplib.SMTPException),
        retry_backoff=max(1, int(config["REGISTRATION_MAIL_RETRY_BACKOFF"].total_seconds())),
        retry_backoff_max=RETRY_BACKOFF_MAX,
        retry_jitter=True,
        max_retries=config["REGISTRATION_MAIL_MAX_RETRIES"],
        acks_late=True,
        reject_on_worker_lost=True,
        flask_app=app,
        send_now=staticmethod(state.mail_sender),
        failed_queue=config["REGISTRATION_MAIL_FAILED_QUEUE"],
    )
    if task.flask_app is not app:
        raise RuntimeError("This Celery app already sends the mail of another Flask app: use one per Flask app.")
    state.extras[_EXTRAS_KEY] = task
    state.extension.set_mail_sender(app, queued_mail_sender(task))
    return task


def requeue_failed_mail(app: Flask, *, limit: int = 10_000) -> int:
    """Queue again the messages of ``REGISTRATION_MAIL_FAILED_QUEUE`` (at most ``limit``);
    return how many.

    :raises RuntimeError: :func:`init_celery` was not called for ``app``, or the broker
        cannot be reached.
    """
    task = get_state(app).extras.get(_EXTRAS_KEY)
    if task is None:
        raise RuntimeError("Mail is not queued on this app: call flask_registration.contrib.celery.init_celery first.")
    count = 0
    try:
        with task.app.connection_for_write() as connection:
            queue = connection.SimpleQueue(task.failed_queue, serializer="json", accept=["json"])
            try:
                # A message that fails again comes back only after its retries, so the
                # queue empties; the limit bounds the loop all the same.
                for _ in range(limit):
                    try:
                        entry = queue.get(block=False)
                    except queue.Empty:
                        break
                    task.apply_async(args=[entry.payload["message"]])
                    entry.ack()
                    count += 1
            finally:
                queue.close()
    except (OSError, KombuError) as exc:
        raise RuntimeError(f"Could not reach the Celery broker: {exc} ({count} queued again).") from None
    return count
