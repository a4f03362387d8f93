"""Every query the main flows send uses an index (PostgreSQL only).

Each statement the app sends while it signs up, confirms, logs in, reads ``/me``, resets
a password, changes an address and purges is captured with a SQLAlchemy
``before_cursor_execute`` listener, then explained (``EXPLAIN (FORMAT JSON)``, same
parameters) on a connection with ``enable_seqscan = off``, over a table of a few
thousand analysed rows. With sequential scans off, the planner still takes one when no
index can serve the query, so a ``Seq Scan`` in a plan means a missing index; so does an
index read from end to end (no ``Index Cond``) other than under a ``LIMIT`` (the first
batch of a keyset purge).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from flask_registration import get_state
from tests.helpers import PASSWORD, add_user, hidden, html_login, local, request_change
from tests.models import db

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
    reason="query plans are checked on PostgreSQL (TEST_DATABASE_URL)",
)

ROWS = 3000


@pytest.fixture
def statements(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    """The users table filled and analysed; then every statement the app sends."""
    with app.app_context():
        hashed = get_state(app).passwords.hash(PASSWORD)
        db.session.execute(
            db.text(
                "INSERT INTO users (email, password_hash, email_verified_at, created_at, auth_stamp) "
                "SELECT 'seed' || i || '@example.com', :h, "
                "CASE WHEN i % 10 = 9 THEN NULL ELSE now() END, now() - (i % 90) * interval '1 day', md5(i::text) "
                "FROM generate_series(1, :n) AS i"
            ),
            {"h": hashed, "n": ROWS},
        )
        # A session and an access token per account: the credential tables are big too.
        for sql in (
            "INSERT INTO login_sessions (id, user_id, created_at, expires_at) "
            "SELECT md5('s' || id), id, now(), now() + interval '1 day' FROM users",
            "INSERT INTO access_tokens (id, user_id, ttl, created_at) "
            "SELECT md5('t' || id), id, CASE WHEN id % 2 = 0 THEN 60 ELSE 86400 END, now() - interval '1 hour' "
            "FROM users",
        ):
            db.session.execute(db.text(sql))
        db.session.commit()
        for table in db.metadata.tables:
            db.session.execute(db.text(f'ANALYZE "{table}"'))
        db.session.commit()
        engine = db.engine
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE", "WITH")):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    yield seen
    event.remove(engine, "before_cursor_execute", capture)


def full_scans(plan: dict[str, Any], under_limit: bool = False) -> list[str]:
    """The scans of ``plan`` that read a whole table or a whole index."""
    found = []
    kind = plan["Node Type"]
    if kind == "Seq Scan":
        found.append(f"Seq Scan on {plan['Relation Name']}")
    if kind in ("Index Scan", "Index Only Scan", "Bitmap Index Scan") and "Index Cond" not in plan and not under_limit:
        found.append(f"{kind} of all of {plan['Index Name']}")
    for child in plan.get("Plans", []):
        found += full_scans(child, under_limit=kind == "Limit")
    return found


def explain(app: Flask, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """Each distinct statement with the full scans of its plan (only those that have any)."""
    bad: dict[str, list[str]] = {}
    with app.app_context(), db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor: Any = raw.cursor()
        with cursor:
            cursor.execute("SET enable_seqscan = off")
            for statement, parameters in statements:
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                document = cursor.fetchone()[0]
                plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
                scans = full_scans(plan)
                if scans:
                    bad[" ".join(statement.split())] = scans
            raw.rollback()
    return bad


def test_the_main_flows_use_an_index_for_every_query(app: Any, client: Any, mailbox: Any, statements: Any) -> None:
    add_user(app, "ada@example.com")
    # signup, and confirming the emailed link with the account's password
    r = client.post("/api/users", json={"email": "new@example.com", "password": PASSWORD})
    assert r.status_code == 202
    link = mailbox.link(mailbox.wait_for(1)[0])
    params = dict(p.split("=", 1) for p in local(link).split("?", 1)[1].split("&"))
    confirm = client.post(
        "/api/users/confirm", json={"uid": params["uid"], "token": params["token"], "password": PASSWORD}
    )
    assert confirm.status_code == 204
    mailbox.clear()
    # login (right and wrong, known and unknown), /me, logout
    assert client.post("/api/users/login", json={"email": "nobody@example.com", "password": "x" * 8}).status_code == 401
    html_login(client)
    assert client.get("/api/users/me").status_code == 200
    # reset, through the emailed link
    other = app.test_client()
    assert other.post("/api/users/reset", json={"email": "seed5@example.com"}).status_code == 204
    reset = mailbox.link(mailbox.wait_for(1)[0], "/reset-password")
    token = reset.split("token=")[1].split("&")[0]
    assert (
        other.post("/api/users/reset-password", json={"token": token, "newPassword": "a new password"}).status_code
        == 204
    )
    mailbox.clear()
    # change of address, confirmed through the link sent to the new one
    change = request_change(client, mailbox)
    page = client.get(local(change))
    assert page.status_code == 200
    assert client.post("/confirm-email", data={**hidden(client, local(change))}).status_code in (200, 302)
    # the operator's purges
    runner = app.test_cli_runner()
    for command in (["list-unverified"], ["purge-unverified", "--older-than", "30d", "--batch-size", "100", "--quiet"]):
        result = runner.invoke(args=["registration", *command])
        assert result.exit_code == 0, result.output
    assert runner.invoke(args=["registration", "purge-tokens"]).exit_code == 0
    assert len(statements) > 20
    bad = explain(app, statements)
    assert bad == {}, "\n".join(f"{', '.join(scans)}: {statement[:300]}" for statement, scans in bad.items())
