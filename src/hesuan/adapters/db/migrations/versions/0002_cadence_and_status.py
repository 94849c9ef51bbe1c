"""cadence, status, exemptions, overrides, arrivals, venues

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 20:02:04.958453
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op



revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('policies',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('scope_kind', sa.String(length=8), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('interval_ms', sa.BigInteger(), nullable=False),
    sa.Column('grace_ms', sa.BigInteger(), nullable=False),
    sa.Column('lead_ms', sa.BigInteger(), nullable=False),
    sa.Column('overdue_action', sa.String(length=8), nullable=False),
    sa.Column('valid_from', sa.BigInteger(), nullable=False),
    sa.Column('valid_to', sa.BigInteger(), nullable=True),
    sa.Column('created_by', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('superseded_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', 'version', name=op.f('pk_policies'))
    )
    op.create_table('status_rules',
    sa.Column('id', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.Column('predicate', sa.String(length=30), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('colour', sa.String(length=8), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('changed_by', sa.String(length=60), nullable=False),
    sa.Column('changed_at', sa.BigInteger(), nullable=False),
    sa.Column('superseded_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', 'version', name=op.f('pk_status_rules'))
    )
    op.create_table('venue_checks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('venue_id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.Column('colour', sa.String(length=8), nullable=True),
    sa.Column('pass_valid', sa.Boolean(), nullable=False),
    sa.Column('temperature_ok', sa.Boolean(), nullable=False),
    sa.Column('code_ok', sa.Boolean(), nullable=False),
    sa.Column('certificate_ok', sa.Boolean(), nullable=False),
    sa.Column('mask_ok', sa.Boolean(), nullable=False),
    sa.Column('admitted', sa.Boolean(), nullable=False),
    sa.Column('checked_by', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_venue_checks'))
    )
    with op.batch_alter_table('venue_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_venue_checks_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_venue_checks_venue_id'), ['venue_id'], unique=False)

    op.create_table('venues',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('region_code', sa.String(length=15), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_venues')),
    sa.UniqueConstraint('code', name=op.f('uq_venues_code'))
    )
    op.create_table('arrivals',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('checkpoint_site_id', sa.String(length=32), nullable=False),
    sa.Column('origin_region', sa.String(length=15), nullable=False),
    sa.Column('origin_risk', sa.String(length=8), nullable=False),
    sa.Column('arrived_at', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=60), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_arrivals_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_arrivals'))
    )
    with op.batch_alter_table('arrivals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_arrivals_person_id'), ['person_id'], unique=False)

    op.create_table('exemptions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('until', sa.BigInteger(), nullable=False),
    sa.Column('set_by', sa.String(length=60), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_exemptions_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exemptions'))
    )
    with op.batch_alter_table('exemptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exemptions_person_id'), ['person_id'], unique=False)

    op.create_table('overrides',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('colour', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('legal_basis', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('requested_by', sa.String(length=32), nullable=False),
    sa.Column('requested_at', sa.BigInteger(), nullable=False),
    sa.Column('decided_by', sa.String(length=32), nullable=True),
    sa.Column('decided_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_overrides_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_overrides'))
    )
    with op.batch_alter_table('overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_overrides_person_id'), ['person_id'], unique=False)

    with op.batch_alter_table('person_status', schema=None) as batch_op:
        batch_op.add_column(sa.Column('colour', sa.String(length=8), server_default='green', nullable=False))
        batch_op.add_column(sa.Column('reasons', sa.String(length=120), server_default='not_yet_tested', nullable=False))
        batch_op.add_column(sa.Column('rule_id', sa.String(length=20), server_default='R-DEFAULT', nullable=False))
        batch_op.add_column(sa.Column('rule_version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('evidence', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('status_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('status_valid_until', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('policy_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('policy_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('interval_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('grace_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('lead_ms', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('overdue_action', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('reminded_due_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('exempt_until', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('exempt_reason', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('override_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('override_colour', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('override_until', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('override_reason', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('arrival_at', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('arrival_risk', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('zone_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('zone_kind', sa.String(length=12), nullable=True))
        batch_op.create_index(batch_op.f('ix_person_status_status_valid_until'), ['status_valid_until'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('person_status', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_status_status_valid_until'))
        batch_op.drop_column('zone_kind')
        batch_op.drop_column('zone_id')
        batch_op.drop_column('arrival_risk')
        batch_op.drop_column('arrival_at')
        batch_op.drop_column('override_reason')
        batch_op.drop_column('override_until')
        batch_op.drop_column('override_colour')
        batch_op.drop_column('override_id')
        batch_op.drop_column('exempt_reason')
        batch_op.drop_column('exempt_until')
        batch_op.drop_column('reminded_due_at')
        batch_op.drop_column('overdue_action')
        batch_op.drop_column('lead_ms')
        batch_op.drop_column('grace_ms')
        batch_op.drop_column('interval_ms')
        batch_op.drop_column('policy_version')
        batch_op.drop_column('policy_id')
        batch_op.drop_column('status_valid_until')
        batch_op.drop_column('status_at')
        batch_op.drop_column('evidence')
        batch_op.drop_column('rule_version')
        batch_op.drop_column('rule_id')
        batch_op.drop_column('reasons')
        batch_op.drop_column('colour')

    with op.batch_alter_table('overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_overrides_person_id'))

    op.drop_table('overrides')
    with op.batch_alter_table('exemptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exemptions_person_id'))

    op.drop_table('exemptions')
    with op.batch_alter_table('arrivals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_arrivals_person_id'))

    op.drop_table('arrivals')
    op.drop_table('venues')
    with op.batch_alter_table('venue_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_venue_checks_venue_id'))
        batch_op.drop_index(batch_op.f('ix_venue_checks_at'))

    op.drop_table('venue_checks')
    op.drop_table('status_rules')
    op.drop_table('policies')
    
