"""Migration 0011 (the queue of electronic lab reports out), on SQLite and on PostgreSQL: it
builds the table the schema declares — columns, the key (result-log entry, person, format) that
makes a report queued once, the pending index — and its downgrade takes it away again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine

TABLES = {"elr_outbox"}


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0011") as eng:
        yield eng


def test_0011_builds_the_declared_table_and_its_downgrade_removes_it(engine: Engine) -> None:
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert differences(engine, TABLES) == []
    key = inspect(engine).get_pk_constraint("elr_outbox")["constrained_columns"]
    assert key == ["result_log_id", "person_id", "format"]
    command.downgrade(alembic_config(engine), "0010")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert differences(engine, TABLES) == []
