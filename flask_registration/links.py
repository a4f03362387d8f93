"""The absolute links of the library's emails, built only from a host and port this site
trusts.

Flask builds an absolute URL from the request's ``Host`` header, and its
``TRUSTED_HOSTS`` check (werkzeug's ``host_is_trusted``) compares the name only, not the
port: ``Host: example.com:6666`` passes, and a reset link asked for with it leads to port
6666 of the site's own host, where whoever can open a port there (another user of a
shared machine, another container on the host) reads the token. So every emailed link
goes through :func:`external_url`, and each request that would email one calls
:func:`check_request_host` before it writes or sends anything. The host of a link is:

- ``SERVER_NAME`` when it is set: Flask then builds every absolute URL from it, whatever
  the request's ``Host`` (and outside a request it needs it anyway);
- else the request's host, when its port is none (the scheme's default: 80 for http, 443
  for https, which werkzeug leaves out; only the machine's owner can serve on those), the
  port the server really listens on (``SERVER_PORT`` of the WSGI environ, which
  werkzeug's ``ProxyFix`` sets from ``X-Forwarded-Host``/``X-Forwarded-Port`` behind a
  proxy), or a ``name:port`` that ``TRUSTED_HOSTS`` lists;
- else there is no link: the request is refused with :class:`~flask_registration.errors.UntrustedHost`
  (400, ``UNTRUSTED_HOST``) and no email goes out.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, has_request_context, request, url_for

from .errors import UntrustedHost

_HOST_RE = re.compile(r"(\[[^\]]*\]|[^:\[\]]*)(?::([0-9]+))?")


def check_request_host() -> None:
    """Refuse a request whose ``Host`` names a port this site does not serve on.

    Nothing to check outside a request or with ``SERVER_NAME`` set (links use it).

    :raises UntrustedHost: the host is empty or its port is neither the server's own
        nor listed in ``TRUSTED_HOSTS``.
    """
    if not has_request_context() or current_app.config.get("SERVER_NAME"):
        return
    host = request.host.lower()
    match = _HOST_RE.fullmatch(host)
    if not host or match is None:
        raise UntrustedHost()
    port = match.group(2)
    if port is None or port == str(request.environ.get("SERVER_PORT", "")):
        return
    for entry in current_app.config.get("TRUSTED_HOSTS") or ():
        entry = entry.lower()
        if entry == host or (entry.startswith(".") and host.endswith(entry) and entry.count(":") == 1):
            return
    raise UntrustedHost()


def external_url(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, _external=True, **values)``, for a link in an email: refused
    (:class:`~flask_registration.errors.UntrustedHost`) when the request's host and port
    are not ones this site trusts (see the module's notes)."""
    check_request_host()
    return url_for(endpoint, _external=True, **values)
