"""Alembic environment: migrates the engine handed over by ``hesuan.adapters.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from hesuan.adapters.db.partitions import is_partition
from hesuan.adapters.db.schema import metadata

#: The advisory lock the migrations take on PostgreSQL (the sweep's is 74110002, the
#: scheduler's lease 74110010).
MIGRATION_LOCK = 74110011


def include_name(name: str | None, type_: str, parents: object) -> bool:
    """What the schema declares: not the monthly partitions (``partitions.py``)."""
    return not (type_ == "table" and name is not None and is_partition(name))


def _foreign_keys(connection: Connection, state: str) -> None:
    """SQLite's foreign-key checks ``ON`` or ``OFF`` on ``connection``, on the driver's own
    connection: SQLAlchemy would begin a transaction first, inside which the pragma does
    nothing."""
    connection.connection.driver_connection.execute(  # type: ignore[union-attr]
        f"PRAGMA foreign_keys={state}")


config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url") or ""
)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # a table is changed by copying it and dropping the old one (batch mode), which a
        # foreign key naming it would refuse: the keys are off while the migrations run (set
        # outside any transaction, where the pragma takes effect) and the rows are checked
        # against them before the commit
        _foreign_keys(connection, "OFF")
    else:
        # App processes starting together each migrate: one at a time, and the next, once
        # it has the lock, finds the schema at head. The lock is the transaction's, which
        # the migrations then run in, to the commit below.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=sqlite, compare_type=True, include_name=include_name)
    try:
        with context.begin_transaction():
            before = context.get_context().get_current_revision()
            context.run_migrations()
            moved = context.get_context().get_current_revision() != before
            if sqlite and moved and (
                    orphans := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                raise RuntimeError(f"the migrations left rows whose foreign key names "
                                   f"nothing: {orphans[:5]}")
        connection.commit()
    finally:
        if sqlite:
            _foreign_keys(connection, "ON")
