"""lane_entries.lapsed_at, lapse_reason: a registration whose person may no longer go into its tube

A person registered to a pooled tube and recalled (or put in a key group) before the swab may
not be swabbed into it; their registration went on waiting, so that they could be registered
to no other tube and held a place in this one. The swab that finds them barred now lapses the
registration, with the reason.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lane_entries") as batch_op:
        batch_op.add_column(sa.Column("lapsed_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("lapse_reason", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lane_entries") as batch_op:
        batch_op.drop_column("lapse_reason")
        batch_op.drop_column("lapsed_at")
