"""person_status: pages half full, so that the fan-out rewrites a status row on its own page

A results file rewrites the status row of every member of every tube. The value of each indexed
column (``next_due_at``, ``status_valid_until``) stays the same for a plain negative member, so
on PostgreSQL the new row version needs no index entry (a HOT update) — if its page has room for
it. With full pages (the default fillfactor, 100) it never has, and every rewrite adds an entry
to each of the table's three indexes. Half-full pages leave room for one new version of every
row; the old one is pruned from the page when it is next written. The table is twice the size
for it. Pages written from now on are half full; existing rows move to such pages as they are
next rewritten by a sample (docs/DEPLOY.md: ``VACUUM FULL person_status`` rewrites them all at
once). SQLite has no fillfactor: nothing to do there.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 18:50:00
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE person_status SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE person_status RESET (fillfactor)")
