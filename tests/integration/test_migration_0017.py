"""Migration 0017 (a place's latest scans by an index), on SQLite and on PostgreSQL: the index
on ``fence_scans (place_id, at)`` the schema declares, the query of a checkpoint's recent list
reads through it, and the downgrade takes it away."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0017") as eng:
        yield eng


def _indexes(engine: Engine) -> set[str]:
    return {str(ix["name"]) for ix in inspect(engine).get_indexes("fence_scans")}


def _plan(engine: Engine) -> str:
    """The plan of the recent list's query (as ``SqlFence.place_scans`` asks it)."""
    query = ("SELECT at, via, alerts FROM fence_scans WHERE place_id = 'cp' AND place_kind = "
             "'checkpoint' ORDER BY at DESC LIMIT 20")
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            c.exec_driver_sql("SET enable_seqscan = off")
            return "\n".join(r[0] for r in c.exec_driver_sql(f"EXPLAIN {query}"))
        return "\n".join(str(r[-1]) for r in c.execute(text(f"EXPLAIN QUERY PLAN {query}")))


def test_0017_indexes_a_places_scans_and_its_downgrade_removes_it(engine: Engine) -> None:
    upgrade(engine)
    assert "ix_fence_scans_place" in _indexes(engine)
    assert "ix_fence_scans_place" in _plan(engine)
    assert differences(engine, {"fence_scans"}) == []
    command.downgrade(alembic_config(engine), "0016")
    assert "ix_fence_scans_place" not in _indexes(engine)
    upgrade(engine)
    assert differences(engine, {"fence_scans"}) == []
