"""Migration 0009 (corrections and rejected specimens), on SQLite and on PostgreSQL: it builds the
tables the schema declares — columns, keys, indexes, the one-pending-request index — and its
downgrade takes them away again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine

TABLES = {"result_corrections", "specimen_rejections"}


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0009") as eng:
        yield eng


def test_0009_builds_the_declared_tables_and_its_downgrade_removes_them(engine: Engine) -> None:
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert differences(engine, TABLES) == []
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("result_corrections")}
    assert indexes["uq_result_corrections_pending"]["unique"]
    command.downgrade(alembic_config(engine), "0008")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert differences(engine, TABLES) == []
