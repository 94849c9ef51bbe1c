"""lab messages from a lab's own system (HL7 v2, FHIR) and each lab's interop setting

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def _messages_upgrade() -> None:
    """Every message a lab's system sent (docs/INTEROP.md): its bytes and their SHA-256, the
    format and the way it came, who sent it under which control id (unique: a resend is the
    same message), its state, the outcome per specimen and the acknowledgment it was given."""
    op.create_table(
        "lab_messages",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("lab_id", sa.String(32), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("sending_facility", sa.String(200), nullable=False),
        sa.Column("control_id", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_by", sa.String(32), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("specimens", sa.JSON(), nullable=False),
        sa.Column("ack_code", sa.String(2), nullable=False),
        sa.Column("ack", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"],
                                name=op.f("fk_lab_messages_lab_id_labs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_messages")),
        sa.UniqueConstraint("sending_facility", "control_id",
                            name=op.f("uq_lab_messages_sending_facility")),
    )
    op.create_index("ix_lab_messages_lab_state", "lab_messages",
                    ["lab_id", "state", "received_at"], unique=False)


def _settings_upgrade() -> None:
    """A lab's interop setting: which specimen id names its tubes, and its own codes."""
    op.create_table(
        "lab_interop_settings",
        sa.Column("lab_id", sa.String(32), nullable=False),
        sa.Column("id_order", sa.String(80), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("set_by", sa.String(60), nullable=False),
        sa.Column("set_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"],
                                name=op.f("fk_lab_interop_settings_lab_id_labs")),
        sa.PrimaryKeyConstraint("lab_id", name=op.f("pk_lab_interop_settings")),
    )


def upgrade() -> None:
    _messages_upgrade()
    _settings_upgrade()


def downgrade() -> None:
    op.drop_table("lab_interop_settings")
    op.drop_index("ix_lab_messages_lab_state", table_name="lab_messages")
    op.drop_table("lab_messages")
