"""The WSGI entry that gunicorn serves in ``run.py --http``: ``wsgi:app``.

Which app and how: ``BENCH_APP`` (``ours`` or ``floor``), ``BENCH_PARAMS`` (``defaults``
or ``cheap``), ``BENCH_DB`` (a SQLAlchemy URL) and ``BENCH_SPOOL`` (a file). Each email is
rendered as usual and, instead of being sent, its address and link are appended to the
spool file as one line, where the load client reads the links to confirm.
``python wsgi.py`` builds the app once, which creates the tables before the workers start.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from worker import ARGON2, LINK_RE, TARGETS


class Spool:
    """An outbox that writes ``address<TAB>link path`` lines to a file (one ``write`` per
    line on an ``O_APPEND`` descriptor, so two workers never interleave within a line)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, message: dict[str, Any]) -> None:
        links = [link for link in LINK_RE.findall(message["text"] or "") if "confirm" in link]
        os.write(self.fd, f"{message['to']}\t{links[0] if links else ''}\n".encode())


def build() -> Any:
    target = TARGETS[os.environ["BENCH_APP"]]
    module = importlib.import_module(target.module)
    return module.create_app(
        os.environ["BENCH_DB"], ARGON2[os.environ["BENCH_PARAMS"]], Spool(os.environ["BENCH_SPOOL"])
    )


if __name__ == "__main__":
    build()
else:
    app = build()
