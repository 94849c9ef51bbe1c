"""Migration 0012 (households' locations), on SQLite and on PostgreSQL: it builds the table the
schema declares, and its downgrade takes it away again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine

TABLES = {"households"}


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0012") as eng:
        yield eng


def test_0012_builds_the_declared_table_and_its_downgrade_removes_it(engine: Engine) -> None:
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert differences(engine, TABLES) == []
    assert inspect(engine).get_pk_constraint("households")["constrained_columns"] == ["id"]
    command.downgrade(alembic_config(engine), "0011")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert differences(engine, TABLES) == []
