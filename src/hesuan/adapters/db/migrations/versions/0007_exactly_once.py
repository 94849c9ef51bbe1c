"""exactly once: what notifications and station events need to be applied once

Each part of the change has its own function below; ``upgrade`` runs them in order.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _notifications_upgrade() -> None:
    """Each message handed to the gateway once: ``outbox.claimed_at`` (epoch ms) is set and
    committed before a message is handed over, so a crash leaves at most the message in flight
    in doubt, never a batch (docs/SMS.md)."""
    op.add_column("outbox", sa.Column("claimed_at", sa.BigInteger(), nullable=True))


def _notifications_downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_at")


def _stations_upgrade() -> None:
    """Station events: one answer per id, whatever its spelling or timing.
    ``station_events.digest``: a digest of the event's content
    (``hesuan.domain.event_ids.content_digest``), so the same id sent again with other content
    is answered ``event_conflict``, not ``duplicate``. Rows written before it (and delivery and
    lane events, which keep none) have none and stay plain duplicates."""
    op.add_column("station_events", sa.Column("digest", sa.String(32), nullable=True))


def _stations_downgrade() -> None:
    with op.batch_alter_table("station_events") as batch:
        batch.drop_column("digest")


def upgrade() -> None:
    _notifications_upgrade()
    _stations_upgrade()


def downgrade() -> None:
    """Each part undoes its own upgrade, in reverse order."""
    _stations_downgrade()
    _notifications_downgrade()
