"""electronic lab reports out: the queue of reports to deliver

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per person a released or corrected result reached, per format (``hl7``,
    ``fhir``), keyed by the result-log entry, the person and the format: a report is queued
    once. Claimed before it is delivered, then marked sent; failed ones retried from
    ``next_attempt_at`` (docs/INTEROP.md "Out", docs/SMS.md "Exactly once")."""
    op.create_table(
        "elr_outbox",
        sa.Column("result_log_id", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(32), nullable=False),
        sa.Column("format", sa.String(4), nullable=False),
        sa.Column("tube_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("claimed_at", sa.BigInteger(), nullable=True),
        sa.Column("sent_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("result_log_id", "person_id", "format",
                                name=op.f("pk_elr_outbox")),
    )
    op.create_index("ix_elr_outbox_pending", "elr_outbox", ["sent_at", "next_attempt_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_elr_outbox_pending", table_name="elr_outbox")
    op.drop_table("elr_outbox")
