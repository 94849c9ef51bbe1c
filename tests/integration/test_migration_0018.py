"""Migration 0018 (a resend known within the lab that receives it), on SQLite and on
PostgreSQL: the unique key of ``lab_messages`` becomes (lab, sender, control id), as the schema
declares, keeping the rows; the downgrade puts the old key back."""

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
    with fresh_engine(request.param, tmp_path, "m0018") as eng:
        yield eng


def _keys(engine: Engine) -> set[tuple[str, ...]]:
    return {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints(
        "lab_messages")}


def _message(c: object, mid: str, lab: str) -> None:
    c.execute(text(  # type: ignore[attr-defined]
        "INSERT INTO lab_messages (id, lab_id, format, via, sending_facility, control_id, "
        "sha256, raw, received_by, received_at, state, specimens, ack_code, ack) VALUES "
        "(:id, :lab, 'hl7v2', 'api', '', '1', 'x', :raw, 'u', 0, 'applied', '[]', 'AA', :raw)"),
        {"id": mid, "lab": lab, "raw": b"x"})


def test_0018_keys_a_message_by_its_lab_and_its_downgrade_restores_the_old_key(
        engine: Engine) -> None:
    command.upgrade(alembic_config(engine), "0017")
    assert _keys(engine) == {("sending_facility", "control_id")}
    with engine.begin() as c:
        for lab in ("lab-a", "lab-b"):
            c.execute(text("INSERT INTO labs (id, name, region_code, daily_capacity, "
                           "created_at) VALUES (:id, :id, '140105', 1000, 0)"), {"id": lab})
        _message(c, "m1", "lab-a")
    upgrade(engine)
    assert _keys(engine) == {("lab_id", "sending_facility", "control_id")}
    assert differences(engine, {"lab_messages"}) == []
    with engine.begin() as c:  # the same sender and control id at another lab
        _message(c, "m2", "lab-b")
        assert c.execute(text("SELECT count(*) FROM lab_messages")).scalar_one() == 2
        c.execute(text("DELETE FROM lab_messages WHERE id = 'm2'"))
    command.downgrade(alembic_config(engine), "0017")
    assert _keys(engine) == {("sending_facility", "control_id")}
    upgrade(engine)
    assert differences(engine, {"lab_messages"}) == []
