"""Render the library's emails from templates and hand them to a sender.

The default sender is Flask-Mail. An app can pass its own ``mail_sender`` callable to
:class:`~flask_registration.Registration` (a queue, a console printer for a demo); it
receives a ready :class:`flask_mail.Message`.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Callable
from typing import Any

from flask import current_app, render_template
from flask_mail import Connection, Message

log = logging.getLogger("flask_registration")

MailSender = Callable[[Message], Any]


def build_message(
    template: str,
    *,
    recipient: str,
    subject: str,
    sender: str | tuple[str, str] | None = None,
    **context: Any,
) -> Message:
    """Render ``registration/email/<template>.txt`` and ``.html`` into a message."""
    config = current_app.config
    sender = (
        sender
        or config["REGISTRATION_MAIL_SENDER"]
        or config.get("MAIL_DEFAULT_SENDER")
        or "no-reply@localhost"
    )
    context.setdefault("subject", subject)
    return Message(
        subject=subject,
        recipients=[recipient],
        sender=sender,
        body=render_template(f"registration/email/{template}.txt", **context),
        html=render_template(f"registration/email/{template}.html", **context),
    )


class _TimedConnection(Connection):
    """Flask-Mail's connection with a socket timeout (Flask-Mail sets none, so a server
    that accepts and never answers would hang the request for ever)."""

    def __init__(self, mail: Any, timeout: float) -> None:
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        mail = self.mail
        cls = smtplib.SMTP_SSL if mail.use_ssl else smtplib.SMTP
        host = cls(mail.server, mail.port, timeout=self.timeout)
        host.set_debuglevel(int(mail.debug))
        if mail.use_tls:
            host.starttls()
        if mail.username and mail.password:
            host.login(mail.username, mail.password)
        return host

    def __exit__(self, *exc_info: Any) -> None:
        # Once the server has taken the message, a QUIT that fails (it closed the
        # connection first) is no failure: reporting one would make a queue send it twice.
        if self.host is not None:
            try:
                self.host.quit()
            except (OSError, smtplib.SMTPException):
                self.host.close()


def flask_mail_sender(message: Message) -> None:
    """Send through the app's Flask-Mail settings, within ``REGISTRATION_MAIL_TIMEOUT``."""
    mail = current_app.extensions["mail"]
    with _TimedConnection(mail, current_app.config["REGISTRATION_MAIL_TIMEOUT"]) as connection:
        message.send(connection)


def deliver(sender: MailSender, message: Message, *, kind: str) -> Exception | None:
    """Send ``message``; return the error instead of raising when delivery fails.

    A mail server that is down or refuses the message must not lose the user that was
    just committed, so the flows carry on and report ``email_sent=False``. The log line
    names the kind of email and the error, never the link or its token.
    """
    try:
        sender(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("Could not send the %s email: %s: %s", kind, type(exc).__name__, exc)
        return exc
    return None


def deliver_detached(
    sender: MailSender, message: Message, *, kind: str, done: Callable[[Exception | None], Any]
) -> None:
    """Send ``message`` from a thread of its own, then call ``done(error)`` there (in an
    app context).

    For the answers that must not tell whether an address has an account (resend and
    reset with enumeration prevention on): the request answers at once, whether or not an
    email goes out, so its timing tells nothing either. The thread is not a daemon, so a
    server stopping gracefully finishes the send first.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            done(deliver(sender, message, kind=kind))

    threading.Thread(target=run, name=f"flask-registration-mail-{kind}", daemon=False).start()
