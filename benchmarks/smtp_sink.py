"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps each verification link.

Every message received is parsed, and its address and the path of its confirmation link
are appended to a spool file as one line (``address<TAB>path``), where the load
client (``locustfile.py``) reads the links to confirm.
"""

from __future__ import annotations

import email
import email.policy
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import free_port
from worker import LINK_RE


class SpoolHandler:
    def __init__(self, spool: Path) -> None:
        self.fd = os.open(spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.received = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        text = str(body.get_content()) if body is not None else ""
        links = [path for path in LINK_RE.findall(text) if "confirm" in path]
        for rcpt in envelope.rcpt_tos:
            os.write(self.fd, f"{rcpt}\t{links[0] if links else ''}\n".encode())
        with self.lock:
            self.received += 1
        return "250 Message accepted for delivery"


@contextmanager
def sink(spool: Path) -> Iterator[tuple[int, SpoolHandler]]:
    """An SMTP server for the block: its port, and its handler (which counts)."""
    from aiosmtpd.controller import Controller

    handler = SpoolHandler(spool)
    port = free_port()  # aiosmtpd cannot take port 0: it test-connects to the port given
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()
        os.close(handler.fd)
