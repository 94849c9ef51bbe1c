"""lab_messages: a resend is known within the lab that receives it

The key of a received message was its sender (MSH-4) and control id (MSH-10) across every lab:
two labs' systems that leave MSH-4 empty and number their messages alike had the second lab's
message taken for a resend of the first's, answered the first's acknowledgment and applied
nothing. The key is now the receiving lab, the sender and the control id.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 17:40:00
"""

from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lab_messages") as batch_op:
        batch_op.drop_constraint("uq_lab_messages_sending_facility", type_="unique")
        batch_op.create_unique_constraint(
            "uq_lab_messages_lab_id", ["lab_id", "sending_facility", "control_id"])


def downgrade() -> None:
    with op.batch_alter_table("lab_messages") as batch_op:
        batch_op.drop_constraint("uq_lab_messages_lab_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_lab_messages_sending_facility", ["sending_facility", "control_id"])
