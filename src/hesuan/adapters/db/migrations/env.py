"""Alembic environment: migrates the engine handed over by ``hesuan.adapters.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from hesuan.adapters.db.partitions import is_partition
from hesuan.adapters.db.schema import metadata

#: The advisory lock the migrations take on PostgreSQL (the sweep's is 74110002, the
#: scheduler's lease 74110010).
MIGRATION_LOCK = 74110011


def include_name(name: str | None, type_: str, parents: object) -> bool:
    """What the schema declares: not the monthly partitions (``partitions.py``)."""
    return not (type_ == "table" and name is not None and is_partition(name))


config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url") or ""
)

with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # App processes starting together each migrate: one at a time, and the next, once
        # it has the lock, finds the schema at head. The lock is the transaction's, which
        # the migrations then run in, to the commit below.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True, include_name=include_name)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
