"""tubes: one its lab declared missing at its box's receipt was never received

A receipt marked a tube it declared missing received (the box's receipt time) before rejecting
it, so that its lab's report counted it received and the turnaround's receipt stage timed it.
Such a tube keeps its lab (which answers for it) and loses the receipt time it never had. The
downgrade leaves the times unset (nothing says what they were but the box's receipt).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 22:10:00
"""

from __future__ import annotations

from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE tubes SET received_at = NULL WHERE received_at IS NOT NULL AND id IN "
               "(SELECT tube_id FROM specimen_rejections WHERE code = 'missing' "
               "AND stage = 'receipt')")


def downgrade() -> None:
    pass
