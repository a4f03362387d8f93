"""The test SMTP server's side: a handler that keeps what aiosmtpd receives, and the
mailbox a test reads it from (the ``mailbox`` fixture in ``conftest.py``)."""

from __future__ import annotations

import email
import email.policy
import re
import threading
import time
from email.message import EmailMessage
from typing import Any

import pytest

LINK_RE = re.compile(r"https?://[^\s\"'<>]+")


class MailHandler:
    """Keeps every message the SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()
        return "250 Message accepted for delivery"


class Mailbox:
    """The messages received during one test, with helpers to read them."""

    def __init__(self, handler: MailHandler, host: str, port: int) -> None:
        self.handler = handler
        self.host = host
        self.port = port

    @property
    def messages(self) -> list[EmailMessage]:
        return list(self.handler.messages)

    def clear(self) -> None:
        with self.handler.cond:
            self.handler.messages.clear()

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages arrived; fail the test if they do not."""
        deadline = time.monotonic() + timeout
        with self.handler.cond:
            while len(self.handler.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"expected {count} email(s), got {len(self.handler.messages)}")
                self.handler.cond.wait(left)
            return list(self.handler.messages)

    @staticmethod
    def text(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("plain",))
        assert part is not None, "message has no text part"
        return str(part.get_content())

    @staticmethod
    def html(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("html",))
        assert part is not None, "message has no HTML part"
        return str(part.get_content())

    def links(self, msg: EmailMessage) -> list[str]:
        return LINK_RE.findall(self.text(msg))

    def link(self, msg: EmailMessage, path: str = "/confirm") -> str:
        """The one link in ``msg`` whose path contains ``path``."""
        found = [u for u in self.links(msg) if path in u]
        assert len(found) == 1, f"expected one {path} link, found {found}"
        return found[0]
