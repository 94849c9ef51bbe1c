"""person_status: autovacuum after 1 % dead rows, not PostgreSQL's default 20 %

Every sample rewrites its person's status row, and on PostgreSQL (no HOT update: indexed
columns change) each rewrite leaves dead entries in the row's indexes until a vacuum. In the
5.4 M simulated round, when a sample still parked the row at ``status_valid_until = now``
(a sample no longer does), those entries filled the range every refresh of
stale statuses scans, and the default threshold (20 %: over a million dead rows) let that scan
grow to 290 ms; a vacuum took it under a millisecond. Vacuuming at 1 % keeps any such build-up
short. SQLite has no autovacuum: nothing to do there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 08:45:00
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_SETTINGS = ("autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 10000, "
             "autovacuum_analyze_scale_factor = 0.02")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE person_status SET ({_SETTINGS})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE person_status RESET (autovacuum_vacuum_scale_factor, "
                   "autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor)")
