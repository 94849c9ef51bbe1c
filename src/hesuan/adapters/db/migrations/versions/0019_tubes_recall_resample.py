"""tubes.recall_resample: a tube that held a recall's re-sample says so after its samples go

Prevalence counts routine pools only, and found a recall's re-test tube by its samples
(``samples.recall_id``); a retention pass forgets those samples, after which the re-test tubes
were counted as routine ones (the estimate nearly doubled). The retention pass and the close
now mark such a tube before its samples go; tubes whose samples are already forgotten stay
unmarked (nothing says what they held).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 23:58:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tubes", sa.Column("recall_resample", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tubes") as batch_op:
        batch_op.drop_column("recall_resample")
