"""trust: the keyed audit chain and its guard, sign-in attempts

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


_AUDIT_TABLES = ("audit_log", "audit_meta")


def _audit_upgrade() -> None:
    """The audit log: keyed chain, and on PostgreSQL no UPDATE or DELETE.

    A migration cannot know the chain's key (it is derived from the master secret, which the
    database never holds), so entries already in the log keep their plain SHA-256 hashes:
    ``audit_meta.legacy_upto`` records the last of them, and the verifier checks entries up to
    it with the plain rule and every later one with the key (``domain/audit.py``). The first
    keyed entry's MAC covers the last plain hash, so the old entries are then fixed as well.

    The log and its boundary are append-only for every connection, the application's own
    included: a trigger refuses UPDATE and DELETE (PostgreSQL: one statement-level trigger
    raising an exception; SQLite: ``RAISE(ABORT)``). Only a role that may drop or disable a
    trigger can rewrite them, and the keyed chain and the checkpoints outside the database then
    show it (docs/SECURITY.md)."""
    op.create_table(
        "audit_meta",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("legacy_upto", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_meta")),
    )
    op.execute("INSERT INTO audit_meta (id, legacy_upto) "
               "SELECT 1, COALESCE(MAX(seq), 0) FROM audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$""")
        for table in _AUDIT_TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()")
    else:
        for table in _AUDIT_TABLES:
            for verb in ("update", "delete"):
                op.execute(f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: "
                           f"{verb.upper()} refused'); END")


def _audit_downgrade() -> None:
    """Entries appended with the key stay as they are: a verifier of the old rule then reports
    the first of them broken."""
    if op.get_bind().dialect.name == "postgresql":
        for table in _AUDIT_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    else:
        for table in _AUDIT_TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    op.drop_table("audit_meta")


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


def upgrade() -> None:
    _audit_upgrade()
    _sign_in_upgrade()


def downgrade() -> None:
    _sign_in_downgrade()
    _audit_downgrade()
