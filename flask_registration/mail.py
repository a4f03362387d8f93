"""Render the library's emails from templates and hand them to a sender.

The default sender is Flask-Mail. An app can pass its own ``mail_sender`` callable to
:class:`~flask_registration.Registration` (a queue, a console printer for a demo); it
receives a ready :class:`flask_mail.Message`.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable, Iterable
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from flask import current_app, render_template
from flask_mail import BadHeaderError, Connection, Message, email_dispatched

from .config import DEFAULTS
from .i18n import force_locale, gettext, locale_for, locale_tag

log = logging.getLogger("flask_registration")

#: The library's default subjects (English): translated when sent, unlike an app's own.
DEFAULT_SUBJECTS = frozenset(default for key, (default, _types) in DEFAULTS.items() if key.endswith("_SUBJECT"))

MailSender = Callable[[Message], Any]


def build_message(
    template: str,
    *,
    recipient: str,
    subject: str,
    sender: str | tuple[str, str] | None = None,
    **context: Any,
) -> Message:
    """Render ``registration/email/<template>.txt`` and ``.html`` into a message, in the
    language of its recipient, ``context["user"]`` (see :func:`~flask_registration.i18n.locale_for`),
    with a ``Content-Language`` header naming it.

    A subject that is the library's default (``REGISTRATION_*_SUBJECT`` left as it is)
    is translated; one the app set is sent as given.
    """
    config = current_app.config
    sender = sender or config["REGISTRATION_MAIL_SENDER"] or config.get("MAIL_DEFAULT_SENDER") or "no-reply@localhost"
    locale = locale_for(context.get("user"))
    with force_locale(locale):
        if subject in DEFAULT_SUBJECTS:
            subject = gettext(subject)
        context.setdefault("subject", subject)
        return Message(
            subject=subject,
            recipients=[recipient],
            sender=sender,
            body=render_template(f"registration/email/{template}.txt", **context),
            html=render_template(f"registration/email/{template}.html", **context),
            extra_headers={"Content-Language": locale_tag(locale)},
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

    def send_smtputf8(self, message: Message) -> None:
        """Send ``message``, one of whose addresses has non-ASCII characters before the
        ``@``, with the SMTPUTF8 extension (RFC 6531).

        Flask-Mail writes only ASCII addresses (``UnicodeEncodeError`` otherwise), so the
        message is built here as an :class:`email.message.EmailMessage` from the same
        fields (subject, addresses, text, alternatives, date, Message-ID, extra headers)
        and handed to :meth:`smtplib.SMTP.send_message`, which writes UTF-8 headers and
        asks for SMTPUTF8. A server that does not offer it refuses the message
        (:class:`smtplib.SMTPNotSupportedError`), and the flows report a failed email.
        """
        if message.has_bad_headers():
            raise BadHeaderError("The message has a line break in a header.")
        if message.attachments:
            raise smtplib.SMTPNotSupportedError("Attachments are not sent to SMTPUTF8 addresses.")
        mime = EmailMessage()
        mime["Subject"] = message.subject
        mime["From"] = _header_address(message.sender)
        mime["To"] = ", ".join(_header_address(a) for a in message.recipients)
        if message.cc:
            mime["Cc"] = ", ".join(_header_address(a) for a in message.cc)
        if message.reply_to:
            mime["Reply-To"] = _header_address(message.reply_to)
        mime["Date"] = formatdate(message.date or time.time(), localtime=True)
        mime["Message-ID"] = message.msgId
        for name, value in (message.extra_headers or {}).items():
            mime[name] = value
        mime.set_content(message.body or "")
        for subtype, content in message.alts.items():
            mime.add_alternative(content, subtype=subtype)
        if self.host is not None:
            self.host.send_message(
                mime,
                from_addr=_bare_address(message.sender),
                to_addrs=[_bare_address(a) for a in message.send_to],
                mail_options=message.mail_options,
                rcpt_options=message.rcpt_options,
            )
        email_dispatched.send(current_app._get_current_object(), message=message)  # type: ignore[attr-defined]


def _bare_address(address: str | tuple[str, str]) -> str:
    return address[1] if isinstance(address, tuple) else parseaddr(address)[1]


def _header_address(address: str | tuple[str, str]) -> str:
    name, addr = address if isinstance(address, tuple) else parseaddr(address)
    username, _, domain = addr.rpartition("@")
    return str(Address(display_name=name, username=username, domain=domain))


def needs_smtputf8(addresses: Iterable[str | tuple[str, str] | None]) -> bool:
    """Whether one of ``addresses`` has non-ASCII characters before the ``@``: only a
    mail server with SMTPUTF8 takes it (a non-ASCII domain is written in its ASCII
    form, IDNA, and needs nothing)."""
    return any(address and not _bare_address(address).rpartition("@")[0].isascii() for address in addresses)


def flask_mail_sender(message: Message) -> None:
    """Send through the app's Flask-Mail settings, within ``REGISTRATION_MAIL_TIMEOUT``;
    with SMTPUTF8 when an address needs it (see :meth:`_TimedConnection.send_smtputf8`)."""
    mail = current_app.extensions["mail"]
    with _TimedConnection(mail, current_app.config["REGISTRATION_MAIL_TIMEOUT"]) as connection:
        if needs_smtputf8([message.sender, message.reply_to, *message.send_to]):
            connection.send_smtputf8(message)
        else:
            message.send(connection)


def deliver(sender: MailSender, message: Message, *, kind: str) -> Exception | None:
    """Send ``message``; return the error instead of raising when delivery fails.

    A mail server that is down or refuses the message must not lose the user that was
    just committed, so the flows carry on and report ``email_sent=False``. So must an
    address the sender cannot write (``UnicodeError``: Flask-Mail's own sending, or an
    app's sender, given a non-ASCII address). The log line names the kind of email and
    the error, never the link or its token.
    """
    try:
        sender(message)
    except (OSError, smtplib.SMTPException, UnicodeError) as exc:
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


def send_mail(
    template: str,
    *,
    recipient: str,
    subject: str,
    user: Any = None,
    sender: str | tuple[str, str] | None = None,
    detached: bool = False,
    on_sent: Callable[[], Any] | None = None,
    kind: str | None = None,
    **context: Any,
) -> bool:
    """The one way the library sends an email: render ``registration/email/<template>``
    (``.txt`` and ``.html``) with ``user`` and ``context``, hand it to the app's mail
    sender, and report a failure as the ``mail_failed`` signal (``kind`` is the
    template's name). It never raises for a mail server that is down or refuses.

    :param detached: send from a thread of its own and return True at once (see
        :func:`deliver_detached`); ``on_sent`` then runs in that thread.
    :param on_sent: called (in an app context) once the mail server took the message.
    :param kind: the kind of email for logs and ``mail_failed`` (default: ``template``).
    :returns: whether the mail server took the message (True when ``detached``).
    """
    from .signals import mail_failed  # signals import nothing of ours: no cycle

    kind = kind or template
    message = build_message(template, recipient=recipient, subject=subject, sender=sender, user=user, **context)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    mail_sender = app.extensions["registration"].mail_sender

    def finish(error: Exception | None) -> bool:
        if error is not None:
            mail_failed.send(app, user=user, kind=kind, error=error)
            return False
        if on_sent is not None:
            on_sent()
        return True

    if detached:
        deliver_detached(mail_sender, message, kind=kind, done=finish)
        return True
    return finish(deliver(mail_sender, message, kind=kind))


def rehearse(template: str, **context: Any) -> None:
    """Do the work of making an email (render both parts) and send nothing: an answer
    that sends no email must cost what one that does costs, or its timing tells whether
    the address has an account."""
    build_message(template, recipient="rehearsal@invalid", subject="", user=None, **context)
