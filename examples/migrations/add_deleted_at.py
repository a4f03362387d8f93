"""Alembic migration: add ``deleted_at`` (a deletion waiting out its grace period) to a
users table that already has flask_registration's other columns.

Copy this file into your Alembic (or Flask-Migrate) ``versions/`` folder, set
``revision`` / ``down_revision``, and ``TABLE`` to your table's name. The column is
nullable and every existing account gets NULL (not being deleted), so it is a plain
``ADD COLUMN`` on SQLite and PostgreSQL alike: no table rebuild.

``tests/test_delete_grace.py`` runs it on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "add_deleted_at"
down_revision = None
TABLE = "users"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(f"ix_{TABLE}_deleted_at", TABLE, ["deleted_at"])


def downgrade() -> None:
    op.drop_index(f"ix_{TABLE}_deleted_at", table_name=TABLE)
    with op.batch_alter_table(TABLE) as batch:  # SQLite before 3.35 cannot DROP COLUMN
        batch.drop_column("deleted_at")
