"""Migration 0011 (the queue of electronic lab reports out), on SQLite and on PostgreSQL: it
builds the table the schema declares — columns, the key (result-log entry, person, format) that
makes a report queued once, the pending index — and its downgrade takes it away again."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from hesuan.adapters.db.migrate import alembic_config, upgrade
from hesuan.adapters.db.schema import metadata
from tests.conftest import PG_URL

TABLES = {"elr_outbox"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path}/m.db")
        yield eng
        eng.dispose()
        return
    try:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception:
        pytest.skip("PostgreSQL is not reachable")
    name = f"hesuan_m0011_{os.getpid()}"
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        c.execute(text(f"CREATE DATABASE {name}"))
    eng = create_engine(PG_URL.rsplit("/", 1)[0] + "/" + name)
    yield eng
    eng.dispose()
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _differences(engine: Engine) -> list[object]:
    """What the migrated database and the schema disagree on, about these tables."""
    with engine.connect() as c:
        diffs = compare_metadata(MigrationContext.configure(c), metadata)
    return [d for d in diffs if any(name in str(d) for name in TABLES)]


def test_0011_builds_the_declared_table_and_its_downgrade_removes_it(engine: Engine) -> None:
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert _differences(engine) == []
    key = inspect(engine).get_pk_constraint("elr_outbox")["constrained_columns"]
    assert key == ["result_log_id", "person_id", "format"]
    command.downgrade(alembic_config(engine), "0010")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert _differences(engine) == []
