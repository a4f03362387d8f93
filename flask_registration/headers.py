"""Anti-framing headers on the library's own answers (clickjacking).

A page of ours shown inside another site's frame can be dressed up so that a person
presses "Confirm", "Unlink" or "Log out" without knowing it. So every answer of the
blueprints ``init_app`` registered (the pages, the JSON API, the OAuth and connections
pages, flask-dance's login blueprints) says that only this site may frame it, in the
header browsers read today (``Content-Security-Policy: frame-ancestors 'self'``) and in
the older one (``X-Frame-Options: SAMEORIGIN``). A header the app already set (in a view,
or in an ``after_request`` of its own that runs first) is kept as it is; the app's own
pages are left alone.
"""

from __future__ import annotations

from flask import current_app, request
from werkzeug.wrappers import Response

CONTENT_SECURITY_POLICY = "frame-ancestors 'self'"
X_FRAME_OPTIONS = "SAMEORIGIN"


def add_frame_headers(response: Response) -> Response:
    """An ``after_request`` function (``init_app`` registers it on the app): the two
    headers on the answers of the library's blueprints, unless already set."""
    state = current_app.extensions.get("registration")
    if state is not None and state.blueprints.intersection(request.blueprints):
        if "Content-Security-Policy" not in response.headers:
            response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        if "X-Frame-Options" not in response.headers:
            response.headers["X-Frame-Options"] = X_FRAME_OPTIONS
    return response
