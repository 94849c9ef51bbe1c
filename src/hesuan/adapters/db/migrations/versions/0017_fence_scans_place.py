"""fence_scans: a place's latest scans by an index

A checkpoint's device lists its latest scans (``FenceRepository.place_scans``); the index on
``(place_id, at)`` reads them without going through every place's scans of the retention
period.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 11:30:00
"""

from __future__ import annotations

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_fence_scans_place", "fence_scans", ["place_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_fence_scans_place", table_name="fence_scans")
