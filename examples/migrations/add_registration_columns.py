"""Alembic migration: add flask_registration's columns to an existing users table.

Copy this file into your Alembic (or Flask-Migrate) ``versions/`` folder, set
``revision`` / ``down_revision``, and ``TABLE`` to your table's name. It assumes the table
already has an integer ``id`` primary key and an ``email`` column; it lower-cases the
addresses (flask_registration stores them that way) and stops with a clear error if two
rows differ only by case, rather than merging accounts. On SQLite it rebuilds the table
with ``AUTOINCREMENT``, so that a deleted user's id is never given out again.

``tests/test_migration.py`` runs it on SQLite and PostgreSQL.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "add_registration_columns"
down_revision = None
TABLE = "users"


def upgrade() -> None:
    bind = op.get_bind()
    users = sa.table(TABLE, sa.column("id", sa.Integer), sa.column("email", sa.String))
    clashes = (
        bind.execute(
            sa.select(sa.func.lower(users.c.email)).group_by(sa.func.lower(users.c.email)).having(sa.func.count() > 1)
        )
        .scalars()
        .all()
    )
    if clashes:
        raise RuntimeError(f"These addresses belong to several rows once lower-cased; merge them first: {clashes}")
    bind.execute(sa.update(users).values(email=sa.func.lower(users.c.email)))

    with op.batch_alter_table(TABLE) as batch:  # batch mode: SQLite cannot ALTER COLUMN
        batch.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
        batch.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
        )
        batch.add_column(sa.Column("pending_email", sa.String(320), nullable=True))
        batch.add_column(sa.Column("auth_stamp", sa.String(64), nullable=True))
        # Set while a deletion waits out REGISTRATION_DELETE_GRACE (the purge looks it up).
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index(f"ix_{TABLE}_deleted_at", ["deleted_at"])

    # Every row needs its own random stamp (it is part of the session id).
    stamped = sa.table(TABLE, sa.column("id", sa.Integer), sa.column("auth_stamp", sa.String))
    for (user_id,) in bind.execute(sa.select(stamped.c.id)).all():
        bind.execute(sa.update(stamped).where(stamped.c.id == user_id).values(auth_stamp=secrets.token_hex(16)))

    # SQLite rebuilds the table for these changes: with AUTOINCREMENT, as UserMixin makes it
    # (other databases ignore the option, and never reuse an id anyway).
    with op.batch_alter_table(TABLE, table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("auth_stamp", existing_type=sa.String(64), nullable=False)
        batch.alter_column("email", existing_type=sa.String(320), type_=sa.String(320), nullable=False)
        batch.create_unique_constraint(f"uq_{TABLE}_email", ["email"])


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_constraint(f"uq_{TABLE}_email", type_="unique")
        batch.drop_index(f"ix_{TABLE}_deleted_at")
        for name in ("deleted_at", "auth_stamp", "pending_email", "created_at", "email_verified_at", "password_hash"):
            batch.drop_column(name)
