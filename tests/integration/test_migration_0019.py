"""Migration 0019 (a tube marks that it held a recall's re-sample), on SQLite and on PostgreSQL:
``tubes.recall_resample`` is added as the schema declares it, false for the tubes already
there; the downgrade drops it."""

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
    with fresh_engine(request.param, tmp_path, "m0019") as eng:
        yield eng


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("tubes")}


def test_0019_adds_the_mark_false_for_the_tubes_there_and_its_downgrade_drops_it(
        engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0018")
    assert "recall_resample" not in _columns(engine)
    with engine.begin() as c:
        c.execute(text("INSERT INTO sites (id, name, kind, region_code, opening_hours, "
                       "windows, status, created_at) VALUES ('s1', 's', 'fixed', '140105', "
                       "'07:00-21:00', 2, 'open', 0)"))
        c.execute(text("INSERT INTO tubes (id, barcode, site_id, capacity, count, priority, "
                       "status, opened_at) VALUES ('t1', '0000000000017', 's1', 10, 0, FALSE, "
                       "'open', 0)"))
    upgrade(engine)
    assert differences(engine, {"tubes"}) == []
    with engine.connect() as c:
        assert c.execute(text("SELECT recall_resample FROM tubes")).scalar_one() in (False, 0)
    command.downgrade(alembic_config(engine), "0018")
    assert "recall_resample" not in _columns(engine)
    upgrade(engine)
    assert differences(engine, {"tubes"}) == []
