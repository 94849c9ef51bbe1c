"""Migration 0013 (the daily aggregates and the programme's close requests), on SQLite and on
PostgreSQL: it builds the tables the schema declares, and its downgrade takes them away again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine

INDEXES = {"ix_tubes_resulted_at", "ix_station_events_received_at"}
TABLES = {"daily_aggregates", "programme_closures"} | INDEXES


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0013") as eng:
        yield eng


def test_0013_builds_the_declared_tables_and_its_downgrade_removes_them(engine: Engine) -> None:
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES - INDEXES
    assert differences(engine, TABLES) == []
    key = inspect(engine).get_pk_constraint("daily_aggregates")["constrained_columns"]
    assert key == ["day", "district"]
    config = alembic_config(engine)
    down = ScriptDirectory.from_config(config).get_revision("0013").down_revision
    assert isinstance(down, str)
    command.downgrade(config, down)
    assert not TABLES & set(inspect(engine).get_table_names())
    assert not INDEXES & {i["name"] for i in inspect(engine).get_indexes("tubes")}
    upgrade(engine)
    assert differences(engine, TABLES) == []
