"""households' locations: where a household lives, to the nearest ~100 m

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    """One row per household (``people.household_id``): its building's latitude and longitude,
    rounded to three decimals (about 100 m), in the datum of the sites' coordinates. A
    resident's page measures the distance to the open sites from it; a household without a row
    falls back to nearness by region."""
    op.create_table(
        "households",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
    )


def downgrade() -> None:
    op.drop_table("households")
