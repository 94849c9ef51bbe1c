"""corrections and cancellations of released results; rejected specimens

Each part of the change has its own function below; ``upgrade`` runs them in order.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def _corrections_upgrade() -> None:
    """Requests to correct or cancel a released result (docs/LAB.md): who asked, why, the
    result it corrects and the one it gives, and who approved or declined it; once applied, the
    result-log entry it wrote. One pending request per tube (a partial unique index)."""
    op.create_table(
        "result_corrections",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("lab_id", sa.String(32), nullable=False),
        sa.Column("tube_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("previous", sa.String(10), nullable=False),
        sa.Column("result", sa.String(10), nullable=True),
        sa.Column("ct", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_by", sa.String(32), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decision_note", sa.String(500), nullable=True),
        sa.Column("result_log_id", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"],
                                name=op.f("fk_result_corrections_lab_id_labs")),
        sa.ForeignKeyConstraint(["tube_id"], ["tubes.id"],
                                name=op.f("fk_result_corrections_tube_id_tubes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_corrections")),
    )
    op.create_index("ix_result_corrections_lab_status", "result_corrections",
                    ["lab_id", "status"], unique=False)
    op.create_index("ix_result_corrections_tube", "result_corrections", ["tube_id"],
                    unique=False)
    op.create_index("ix_result_corrections_result_log", "result_corrections",
                    ["result_log_id"], unique=False)
    pending = sa.text("status = 'pending'")
    op.create_index("uq_result_corrections_pending", "result_corrections", ["tube_id"],
                    unique=True, sqlite_where=pending, postgresql_where=pending)


def _corrections_downgrade() -> None:
    op.drop_index("uq_result_corrections_pending", table_name="result_corrections")
    op.drop_index("ix_result_corrections_result_log", table_name="result_corrections")
    op.drop_index("ix_result_corrections_tube", table_name="result_corrections")
    op.drop_index("ix_result_corrections_lab_status", table_name="result_corrections")
    op.drop_table("result_corrections")


def _rejections_upgrade() -> None:
    """Specimens a lab rejected, at receipt or at the bench, with the reason's code: a tube is
    rejected once."""
    op.create_table(
        "specimen_rejections",
        sa.Column("tube_id", sa.String(32), nullable=False),
        sa.Column("lab_id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(24), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("plate_id", sa.String(32), nullable=True),
        sa.Column("rejected_by", sa.String(32), nullable=False),
        sa.Column("rejected_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["lab_id"], ["labs.id"],
                                name=op.f("fk_specimen_rejections_lab_id_labs")),
        sa.ForeignKeyConstraint(["tube_id"], ["tubes.id"],
                                name=op.f("fk_specimen_rejections_tube_id_tubes")),
        sa.PrimaryKeyConstraint("tube_id", name=op.f("pk_specimen_rejections")),
    )
    op.create_index("ix_specimen_rejections_lab", "specimen_rejections",
                    ["lab_id", "rejected_at"], unique=False)


def _rejections_downgrade() -> None:
    op.drop_index("ix_specimen_rejections_lab", table_name="specimen_rejections")
    op.drop_table("specimen_rejections")


def upgrade() -> None:
    _corrections_upgrade()
    _rejections_upgrade()


def downgrade() -> None:
    """Each part undoes its own upgrade, in reverse order."""
    _rejections_downgrade()
    _corrections_downgrade()
