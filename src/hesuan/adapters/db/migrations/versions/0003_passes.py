"""signed status passes issued

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 20:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('passes',
    sa.Column('id_hash', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('colour', sa.String(length=8), nullable=False),
    sa.Column('issued_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.Column('revoke_reason', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'],
                            name=op.f('fk_passes_person_id_people')),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_passes'))
    )
    with op.batch_alter_table('passes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passes_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_passes_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_passes_revoked', ['revoked_at', 'expires_at'], unique=False)


def downgrade() -> None:
    op.drop_table('passes')
