"""person_status: autovacuum after 1 % dead rows, not PostgreSQL's default 20 %

Every sample marks its person's status row stale (``status_valid_until = now``) and the same
transaction decides it again, so at city scale the row is rewritten a few times a test and
the index on ``status_valid_until`` collects dead entries at "now", which every station
transaction's refresh of stale statuses must step over. At 5.4 M people the default threshold
(20 %: over a million dead rows) let that scan grow to 290 ms in the simulated round, with
the table far larger than the server's cache; vacuuming at 1 % kept it under a millisecond
(docs/BENCHMARKS.md). SQLite has no autovacuum: nothing to do there.

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
