"""Keep the emailed links' tokens out of werkzeug's request log.

The links carry their token in the query string (``/confirm?uid=1&token=...``), and
werkzeug's server logs each request line: whoever reads that log could follow the links.
:func:`install` adds a filter to the ``werkzeug`` logger that writes ``token=[redacted]``
instead. Other servers' access logs (gunicorn, nginx) are the app's to configure; see
docs/security.rst.
"""

from __future__ import annotations

import logging
import re

#: Query parameters whose value is never logged.
SECRET_PARAMETERS = ("token", "access_token", "code", "state")

_SECRET_RE = re.compile(r"([?&;](?:" + "|".join(SECRET_PARAMETERS) + r")=)[^&;#\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced."""
    return _SECRET_RE.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Rewrites a record's message without the secret query values; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def install(logger_name: str = "werkzeug") -> None:
    """Add the filter to ``logger_name`` once (several apps in a process share it)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
