"""The example Alembic migration brings an existing users table up to UserMixin."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from flask import Flask

from tests.models import User, db
from tests.smtp import Mailbox

MIGRATION = Path(__file__).resolve().parent.parent / "examples" / "migrations" / "add_registration_columns.py"


def _migration() -> Any:
    spec = importlib.util.spec_from_file_location("add_registration_columns", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(engine: sa.Engine, step: str) -> None:
    migration = _migration()
    with engine.begin() as conn:
        ctx = MigrationContext.configure(conn)
        with Operations.context(ctx):
            getattr(migration, step)()


@pytest.fixture
def old_table(database_url: str) -> Iterator[Any]:
    """The app's users table before flask_registration: id, email, username."""
    engine = sa.create_engine(database_url)
    meta = sa.MetaData()
    sa.Table(
        "users",
        meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320)),
        sa.Column("username", sa.String(40), unique=True),
    )
    with engine.begin() as conn:
        for name in ("access_tokens", "users"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (email, username) VALUES ('Old.One@Example.com', 'one'), ('two@example.com', 'two')"
            )
        )
    yield engine
    with engine.begin() as conn:
        for name in ("access_tokens", "users"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def test_the_migrated_table_serves_the_extension(old_table: Any, app: Flask, client: Any, mailbox: Mailbox) -> None:
    _run(old_table, "upgrade")
    with old_table.connect() as conn:
        rows = conn.execute(sa.text("SELECT email, auth_stamp, created_at FROM users ORDER BY id")).all()
    assert [r[0] for r in rows] == ["old.one@example.com", "two@example.com"]
    assert all(r[1] and len(r[1]) == 32 for r in rows) and rows[0][1] != rows[1][1]
    assert all(r[2] is not None for r in rows)

    with app.app_context():
        db.metadata.tables["access_tokens"].create(db.engine, checkfirst=True)
        # An existing user has no password yet: a reset gives one (and verifies the address).
        assert db.session.query(User).filter_by(username="one").one().email == "old.one@example.com"
    assert client.post("/api/users/reset", json={"email": "OLD.ONE@example.com"}).status_code == 204
    (msg,) = mailbox.wait_for(1)
    token = mailbox.link(msg, "/reset-password").split("token=")[1]
    assert (
        client.post("/api/users/reset-password", json={"token": token, "newPassword": "a new password"}).status_code
        == 204
    )
    r = client.post("/api/users/login", json={"email": "old.one@example.com", "password": "a new password"})
    assert r.status_code == 200 and r.json["user"]["username"] == "one"

    # The unique constraint holds in the database for new signups, whatever the case.
    assert (
        app.test_client().post("/api/users", json={"email": "Two@Example.com", "password": "x" * 12}).status_code == 202
    )
    with app.app_context():
        assert db.session.query(User).filter(User.email == "two@example.com").count() == 1


def test_the_migrated_table_never_gives_an_id_out_twice(old_table: Any) -> None:
    _run(old_table, "upgrade")
    with old_table.begin() as conn:
        last = conn.execute(sa.text("SELECT max(id) FROM users")).scalar_one()
        conn.execute(sa.text("DELETE FROM users WHERE id = :id"), {"id": last})
        conn.execute(sa.text("INSERT INTO users (email, auth_stamp) VALUES ('new@example.com', 'x')"))
        new = conn.execute(sa.text("SELECT id FROM users WHERE email = 'new@example.com'")).scalar_one()
    assert new > last


def test_the_migration_refuses_addresses_that_differ_only_by_case(old_table: Any) -> None:
    with old_table.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (email, username) VALUES ('TWO@example.com', 'three')"))
    with pytest.raises(RuntimeError, match="two@example.com"):
        _run(old_table, "upgrade")


def test_the_migration_can_be_undone(old_table: Any) -> None:
    _run(old_table, "upgrade")
    _run(old_table, "downgrade")
    columns = {c["name"] for c in sa.inspect(old_table).get_columns("users")}
    assert columns == {"id", "email", "username"}
