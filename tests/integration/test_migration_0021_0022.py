"""Migrations 0021 and 0022, on SQLite and on PostgreSQL: a lane registration may lapse
(``lane_entries.lapsed_at``, ``lapse_reason``, unset for the registrations there), and a tube
its lab declared missing at its box's receipt loses the receipt time it never had, while a tube
rejected at the bench keeps its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text

from hesuan.adapters.db.migrate import alembic_config, upgrade
from tests.integration.migrations import BACKENDS, differences, fresh_engine


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with fresh_engine(request.param, tmp_path, "m0021") as eng:
        yield eng


def test_registrations_may_lapse_and_missing_tubes_lose_their_receipt_time(
        engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0020")
    with engine.begin() as c:
        c.execute(text("INSERT INTO sites (id, name, kind, region_code, opening_hours, "
                       "windows, status, created_at) VALUES ('s1', 's', 'fixed', '140105', "
                       "'07:00-21:00', 2, 'open', 0)"))
        c.execute(text("INSERT INTO labs (id, name, region_code, daily_capacity, created_at) "
                       "VALUES ('l1', 'lab', '140105', 1000, 0)"))
        for n, tube in enumerate(("missing", "bench")):
            c.execute(text(
                "INSERT INTO tubes (id, barcode, site_id, capacity, count, priority, status, "
                "opened_at, lab_id, received_at) VALUES (:id, :bc, 's1', 10, 10, FALSE, "
                "'rejected', 0, 'l1', 5000)"), {"id": tube, "bc": f"000000000001{n}"})
            c.execute(text(
                "INSERT INTO specimen_rejections (tube_id, lab_id, code, stage, rejected_by, "
                "rejected_at) VALUES (:id, 'l1', :code, :stage, 'u1', 6000)"),
                {"id": tube, "code": "missing" if tube == "missing" else "leaked",
                 "stage": "receipt" if tube == "missing" else "bench"})
        c.execute(text("INSERT INTO lane_entries (event_id, site_id, barcode, person_id, "
                       "registered_at) VALUES ('e1', 's1', '0000000000010', 'p1', 0)"))
    upgrade(engine)
    assert differences(engine, {"lane_entries", "tubes"}) == []
    with engine.connect() as c:
        assert dict(c.execute(text("SELECT id, received_at FROM tubes")).all()) == {
            "missing": None, "bench": 5000}
        assert c.execute(text("SELECT lapsed_at, lapse_reason FROM lane_entries")).one() == (
            None, None)
    command.downgrade(alembic_config(engine), "0020")
    upgrade(engine)
    assert differences(engine, {"lane_entries", "tubes"}) == []
