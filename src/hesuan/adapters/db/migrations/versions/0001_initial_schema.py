"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 19:53:49.255655
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('alerts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('subject_id', sa.String(length=32), nullable=False),
    sa.Column('raised_at', sa.BigInteger(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('closed_at', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('kind', 'subject_id', name='uq_alerts_kind_subject')
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    op.create_table('labs',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('region_code', sa.String(length=15), nullable=False),
    sa.Column('daily_capacity', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_labs'))
    )
    op.create_table('open_slots',
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('tube_id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_open_slots'))
    )
    with op.batch_alter_table('open_slots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open_slots_tube_id'), ['tube_id'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('dedup_key', sa.String(length=120), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('tube_id', sa.String(length=32), nullable=True),
    sa.Column('template', sa.String(length=40), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('next_attempt_at', sa.BigInteger(), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), nullable=False),
    sa.Column('sent_at', sa.BigInteger(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_outbox_dedup_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_pending', ['sent_at', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_tube_id'), ['tube_id'], unique=False)

    op.create_table('people',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('id_kind', sa.String(length=10), nullable=False),
    sa.Column('id_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('id_enc', sa.LargeBinary(), nullable=False),
    sa.Column('id_last4', sa.String(length=4), nullable=False),
    sa.Column('name_enc', sa.LargeBinary(), nullable=False),
    sa.Column('name_masked', sa.String(length=40), nullable=False),
    sa.Column('phone_enc', sa.LargeBinary(), nullable=True),
    sa.Column('phone_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('grid_code', sa.String(length=15), nullable=False),
    sa.Column('household_id', sa.String(length=32), nullable=True),
    sa.Column('address', sa.String(length=80), nullable=True),
    sa.Column('groups', sa.String(length=80), nullable=False),
    sa.Column('birth_year', sa.SmallInteger(), nullable=True),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_people')),
    sa.UniqueConstraint('id_hash', name=op.f('uq_people_id_hash'))
    )
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_people_grid_code'), ['grid_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_people_phone_hash'), ['phone_hash'], unique=False)

    op.create_table('regions',
    sa.Column('code', sa.String(length=15), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('parent_code', sa.String(length=15), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_regions'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regions_parent_code'), ['parent_code'], unique=False)

    op.create_table('rejected_results',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('lab_id', sa.String(length=32), nullable=False),
    sa.Column('barcode', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=32), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_results')),
    sa.UniqueConstraint('lab_id', 'barcode', 'reason', name='uq_rejected_results_lab_barcode')
    )
    op.create_table('result_log',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('tube_id', sa.String(length=32), nullable=False),
    sa.Column('lab_id', sa.String(length=32), nullable=False),
    sa.Column('result', sa.String(length=10), nullable=False),
    sa.Column('ct', sa.JSON(), nullable=True),
    sa.Column('previous', sa.String(length=10), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=32), nullable=False),
    sa.Column('at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_result_log'))
    )
    with op.batch_alter_table('result_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_result_log_tube_id'), ['tube_id'], unique=False)

    op.create_table('sites',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('region_code', sa.String(length=15), nullable=False),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('opening_hours', sa.String(length=40), nullable=False),
    sa.Column('windows', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites'))
    )
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sites_region_code'), ['region_code'], unique=False)

    op.create_table('station_events',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('site_id', sa.String(length=32), nullable=True),
    sa.Column('actor', sa.String(length=32), nullable=False),
    sa.Column('client_at', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_station_events'))
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.String(length=32), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('boxes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('site_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('opened_at', sa.BigInteger(), nullable=False),
    sa.Column('sealed_at', sa.BigInteger(), nullable=True),
    sa.Column('tube_count', sa.Integer(), nullable=True),
    sa.Column('first_tube_sealed_at', sa.BigInteger(), nullable=True),
    sa.Column('courier_id', sa.String(length=32), nullable=True),
    sa.Column('handed_over_at', sa.BigInteger(), nullable=True),
    sa.Column('lab_id', sa.String(length=32), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=True),
    sa.Column('received_count', sa.Integer(), nullable=True),
    sa.Column('missing', sa.JSON(), nullable=True),
    sa.Column('extra', sa.JSON(), nullable=True),
    sa.Column('discrepancy', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_boxes_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boxes')),
    sa.UniqueConstraint('code', name=op.f('uq_boxes_code'))
    )
    with op.batch_alter_table('boxes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_boxes_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_boxes_status'), ['status'], unique=False)

    op.create_table('person_status',
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('test_state', sa.String(length=16), nullable=False),
    sa.Column('last_sampled_at', sa.BigInteger(), nullable=True),
    sa.Column('last_tube_id', sa.String(length=32), nullable=True),
    sa.Column('last_result', sa.String(length=10), nullable=True),
    sa.Column('last_result_at', sa.BigInteger(), nullable=True),
    sa.Column('last_result_sampled_at', sa.BigInteger(), nullable=True),
    sa.Column('last_negative_at', sa.BigInteger(), nullable=True),
    sa.Column('open_recall_id', sa.String(length=32), nullable=True),
    sa.Column('next_due_at', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_person_status_person_id_people')),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_person_status'))
    )
    with op.batch_alter_table('person_status', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_status_next_due_at'), ['next_due_at'], unique=False)

    op.create_table('recalls',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('pool_tube_id', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('opened_at', sa.BigInteger(), nullable=False),
    sa.Column('due_at', sa.BigInteger(), nullable=False),
    sa.Column('resolved_at', sa.BigInteger(), nullable=True),
    sa.Column('resolving_tube_id', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_recalls_person_id_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recalls'))
    )
    with op.batch_alter_table('recalls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recalls_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recalls_pool_tube_id'), ['pool_tube_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recalls_status'), ['status'], unique=False)

    op.create_table('tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_tokens'))
    )
    op.create_table('tubes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('barcode', sa.String(length=13), nullable=False),
    sa.Column('site_id', sa.String(length=32), nullable=False),
    sa.Column('window', sa.SmallInteger(), nullable=True),
    sa.Column('capacity', sa.SmallInteger(), nullable=False),
    sa.Column('count', sa.SmallInteger(), nullable=False),
    sa.Column('priority', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('opened_at', sa.BigInteger(), nullable=False),
    sa.Column('opened_by', sa.String(length=32), nullable=True),
    sa.Column('first_sampled_at', sa.BigInteger(), nullable=True),
    sa.Column('sealed_at', sa.BigInteger(), nullable=True),
    sa.Column('box_id', sa.String(length=32), nullable=True),
    sa.Column('lab_id', sa.String(length=32), nullable=True),
    sa.Column('received_at', sa.BigInteger(), nullable=True),
    sa.Column('result', sa.String(length=10), nullable=True),
    sa.Column('ct', sa.JSON(), nullable=True),
    sa.Column('resulted_at', sa.BigInteger(), nullable=True),
    sa.Column('notified_at', sa.BigInteger(), nullable=True),
    sa.Column('investigation', sa.String(length=8), nullable=True),
    sa.Column('investigation_closed_at', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_tubes_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tubes')),
    sa.UniqueConstraint('barcode', name=op.f('uq_tubes_barcode'))
    )
    with op.batch_alter_table('tubes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tubes_box_id'), ['box_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tubes_investigation'), ['investigation'], unique=False)
        batch_op.create_index(batch_op.f('ix_tubes_lab_id'), ['lab_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tubes_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tubes_status'), ['status'], unique=False)

    op.create_table('samples',
    sa.Column('tube_id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('sampled_at', sa.BigInteger(), nullable=False),
    sa.Column('recall_id', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_samples_person_id_people')),
    sa.ForeignKeyConstraint(['tube_id'], ['tubes.id'], name=op.f('fk_samples_tube_id_tubes')),
    sa.PrimaryKeyConstraint('tube_id', 'person_id', name=op.f('pk_samples'))
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index('ix_samples_person', ['person_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index('ix_samples_person')

    op.drop_table('samples')
    with op.batch_alter_table('tubes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tubes_status'))
        batch_op.drop_index(batch_op.f('ix_tubes_site_id'))
        batch_op.drop_index(batch_op.f('ix_tubes_lab_id'))
        batch_op.drop_index(batch_op.f('ix_tubes_investigation'))
        batch_op.drop_index(batch_op.f('ix_tubes_box_id'))

    op.drop_table('tubes')
    op.drop_table('tokens')
    with op.batch_alter_table('recalls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recalls_status'))
        batch_op.drop_index(batch_op.f('ix_recalls_pool_tube_id'))
        batch_op.drop_index(batch_op.f('ix_recalls_person_id'))

    op.drop_table('recalls')
    with op.batch_alter_table('person_status', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_status_next_due_at'))

    op.drop_table('person_status')
    with op.batch_alter_table('boxes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_boxes_status'))
        batch_op.drop_index(batch_op.f('ix_boxes_site_id'))

    op.drop_table('boxes')
    op.drop_table('users')
    op.drop_table('station_events')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sites_region_code'))

    op.drop_table('sites')
    with op.batch_alter_table('result_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_result_log_tube_id'))

    op.drop_table('result_log')
    op.drop_table('rejected_results')
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_parent_code'))

    op.drop_table('regions')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_people_phone_hash'))
        batch_op.drop_index(batch_op.f('ix_people_grid_code'))

    op.drop_table('people')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_tube_id'))
        batch_op.drop_index('ix_outbox_pending')

    op.drop_table('outbox')
    with op.batch_alter_table('open_slots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_open_slots_tube_id'))

    op.drop_table('open_slots')
    op.drop_table('labs')
    op.drop_table('audit_log')
    op.drop_table('alerts')

