"""Migration 0010 (lab messages and each lab's interop setting), on SQLite and on PostgreSQL: it
builds the tables the schema declares — columns, keys, indexes, one message per sending facility
and control id — and its downgrade takes them away again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine

TABLES = {"lab_messages", "lab_interop_settings"}


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0010") as eng:
        yield eng


def test_0010_builds_the_declared_tables_and_its_downgrade_removes_them(engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0010")
    uniques = {u["name"] for u in inspect(engine).get_unique_constraints("lab_messages")}
    assert "uq_lab_messages_sending_facility" in uniques  # its key until 0018's
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert differences(engine, TABLES) == []
    command.downgrade(alembic_config(engine), "0009")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert differences(engine, TABLES) == []
