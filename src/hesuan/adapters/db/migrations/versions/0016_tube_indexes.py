"""tubes: fewer index entries a result writes

A result rewrites its tube's ``status``, ``result`` and ``resulted_at``; the new row version
gets an entry in every index of the table (on PostgreSQL, eleven WAL records a tube in the
fan-out). ``ix_tubes_site_id`` repeats the first column of ``ix_tubes_site_first_sampled`` and
goes. ``ix_tubes_investigation`` holds only the pools under investigation (partial, both
databases). On PostgreSQL ``ix_tubes_status`` holds only the tubes still on their way (not
resulted, rejected or cancelled), the ones the queries by status look for; SQLite uses a partial
index only for queries that repeat its condition, so its status index stays whole.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 16:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_AT_REST = "status NOT IN ('resulted', 'rejected', 'cancelled')"


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_tubes_site_id", table_name="tubes")
    op.drop_index("ix_tubes_investigation", table_name="tubes")
    op.create_index("ix_tubes_investigation", "tubes", ["investigation"],
                    sqlite_where=sa.text("investigation IS NOT NULL"),
                    postgresql_where=sa.text("investigation IS NOT NULL"))
    if pg:
        op.drop_index("ix_tubes_status", table_name="tubes")
        op.create_index("ix_tubes_status", "tubes", ["status"],
                        postgresql_where=sa.text(_AT_REST))


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.drop_index("ix_tubes_status", table_name="tubes")
        op.create_index("ix_tubes_status", "tubes", ["status"])
    op.drop_index("ix_tubes_investigation", table_name="tubes")
    op.create_index("ix_tubes_investigation", "tubes", ["investigation"])
    op.create_index("ix_tubes_site_id", "tubes", ["site_id"])
