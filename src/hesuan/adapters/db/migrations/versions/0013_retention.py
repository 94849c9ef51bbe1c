"""history that expires: the daily aggregates and the requests to close the programme

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """``daily_aggregates``: per local day and district, what remains of forgotten samples
    (counts and turnaround; no personal data). ``programme_closures``: a close asked for by one
    health officer and decided by another, with its destruction certificate (docs/RETENTION.md).
    Indexes for the passes to find expired tubes' samples and station events."""
    op.create_table(
        "daily_aggregates",
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("district", sa.String(15), nullable=False),
        sa.Column("people", sa.BigInteger(), nullable=False),
        sa.Column("sampled", sa.BigInteger(), nullable=False),
        sa.Column("resulted", sa.BigInteger(), nullable=False),
        sa.Column("positive", sa.BigInteger(), nullable=False),
        sa.Column("in_positive_pools", sa.BigInteger(), nullable=False),
        sa.Column("turnaround_n", sa.BigInteger(), nullable=False),
        sa.Column("turnaround_sum_s", sa.BigInteger(), nullable=False),
        sa.Column("turnaround_max_s", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "district", name=op.f("pk_daily_aggregates")),
    )
    op.create_table(
        "programme_closures",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.String(60), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(60), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("certificate", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_closures")),
    )

    # retention passes find what has expired without scanning whole tables
    op.create_index("ix_tubes_resulted_at", "tubes", ["resulted_at"], unique=False)
    op.create_index("ix_station_events_received_at", "station_events", ["received_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_station_events_received_at", table_name="station_events")
    op.drop_index("ix_tubes_resulted_at", table_name="tubes")
    op.drop_table("programme_closures")
    op.drop_table("daily_aggregates")
