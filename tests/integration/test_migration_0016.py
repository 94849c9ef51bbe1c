"""Migration 0016 (fewer tube index entries a result writes), on SQLite and on PostgreSQL: the
repeated site index goes, the investigation index holds only pools under investigation, on
PostgreSQL the status index only tubes still on their way; the queries by status and by
investigation still find their tubes through these indexes; the downgrade puts them back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0016") as eng:
        yield eng


def _indexes(engine: Engine) -> dict[str, str | None]:
    """The tubes' indexes and, for a partial one, its condition as the database keeps it."""
    if engine.dialect.name == "postgresql":
        sql = ("SELECT indexname, pg_get_expr(i.indpred, i.indrelid) FROM pg_indexes x "
               "JOIN pg_class c ON c.relname = x.indexname JOIN pg_index i ON i.indexrelid = "
               "c.oid WHERE x.tablename = 'tubes'")
    else:
        sql = ("SELECT name, CASE WHEN instr(upper(sql), ' WHERE ') > 0 THEN substr(sql, "
               "instr(upper(sql), ' WHERE ') + 7) END FROM sqlite_master "
               "WHERE type = 'index' AND tbl_name = 'tubes' AND sql IS NOT NULL")
    with engine.connect() as c:
        return {r[0]: r[1] for r in c.execute(text(sql))}


def test_0016_narrows_the_tube_indexes_and_its_downgrade_restores_them(engine: Engine) -> None:
    pg = engine.dialect.name == "postgresql"
    upgrade(engine)
    ix = _indexes(engine)
    assert "ix_tubes_site_id" not in ix
    assert "investigation IS NOT NULL" in (ix["ix_tubes_investigation"] or "")
    if pg:
        assert "resulted" in (ix["ix_tubes_status"] or "")
    else:
        assert ix["ix_tubes_status"] is None
    assert differences(engine, {"tubes"}) == []
    config = alembic_config(engine)
    down = ScriptDirectory.from_config(config).get_revision("0016").down_revision
    assert isinstance(down, str)
    command.downgrade(config, down)
    ix = _indexes(engine)
    assert ix["ix_tubes_site_id"] is None
    assert ix["ix_tubes_investigation"] is None
    assert ix["ix_tubes_status"] is None
    upgrade(engine)
    assert differences(engine, {"tubes"}) == []


@pytest.mark.parametrize("query, index", [
    ("SELECT id FROM tubes WHERE status = 'received'", "ix_tubes_status"),
    ("SELECT id FROM tubes WHERE status IN ('open', 'sealed') AND count > 0", "ix_tubes_status"),
    ("SELECT id FROM tubes WHERE investigation = 'review'", "ix_tubes_investigation"),
    ("SELECT id FROM tubes WHERE site_id = 's1'", "ix_tubes_site_first_sampled"),
])
def test_the_queries_still_find_their_tubes_by_index(engine: Engine, query: str,
                                                     index: str) -> None:
    upgrade(engine)
    pg = engine.dialect.name == "postgresql"
    with engine.connect() as c:
        if pg:
            c.execute(text("SET enable_seqscan = off"))
            plan = " ".join(r[0] for r in c.execute(text("EXPLAIN " + query)))
        else:
            plan = " ".join(str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + query)))
    assert index in plan, plan
