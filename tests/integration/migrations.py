"""What the migration tests share: a fresh database on each backend, and what the migrated
database and the schema disagree on about some tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine

from hesuan.adapters.db.partitions import is_partition
from hesuan.adapters.db.schema import metadata
from tests.helpers import postgres_database

#: The backends a migration test runs on (the fixture's ``params``).
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def fresh_engine(backend: str, tmp_path: Path, tag: str) -> Iterator[Engine]:
    """An engine on an empty database: a file on SQLite, a database of the test's own on
    PostgreSQL (skipped when PostgreSQL is not reachable)."""
    if backend == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path}/m.db")
        try:
            yield eng
        finally:
            eng.dispose()
        return
    with postgres_database(f"hesuan_{tag}_{os.getpid()}") as url:
        eng = create_engine(url)
        try:
            yield eng
        finally:
            eng.dispose()


def differences(engine: Engine, tables: set[str]) -> list[object]:
    """What the migrated database and the schema disagree on, about ``tables`` (the monthly
    partitions, which the schema does not declare, left out as ``alembic check`` leaves them)."""
    def include_name(name: str | None, type_: str, parents: object) -> bool:
        return not (type_ == "table" and name is not None and is_partition(name))

    with engine.connect() as c:
        diffs = compare_metadata(MigrationContext.configure(
            c, opts={"include_name": include_name}), metadata)
    return [d for d in diffs if any(name in str(d) for name in tables)]
