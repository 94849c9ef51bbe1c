"""lane_entries: the registrations waiting on a tube, found by its barcode

A tube's free places are its capacity less its samples and the people registered to it who
wait for their swab; the tube's read counts those registrations, found by this index (partial:
only the entries not yet swabbed).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_lane_entries_waiting", "lane_entries", ["barcode"],
                    sqlite_where=sa.text("swabbed_at IS NULL"),
                    postgresql_where=sa.text("swabbed_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_lane_entries_waiting", table_name="lane_entries")
