"""Driver errors translated once, by the drivers' own codes (``engine.write_race``), on SQLite
and PostgreSQL: a unique or primary-key violation — raised through SQLAlchemy or by the driver's
own cursor — is the ``WriteRace`` the services retry; any other integrity error (a missing NOT
NULL value) stays the driver's error, and the race's message carries no stored values."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db.engine import write_race
from hesuan.bootstrap import Platform
from hesuan.services.fence_ports import FenceScanRow
from hesuan.services.ports import WriteRace
from hesuan.services.sampling_ports import StationEventRow

_EVENT = "00000000-0000-4000-8000-000000000001"


def _scan(event_id: str, place_id: Any = "v-1") -> FenceScanRow:
    from datetime import UTC, datetime
    at = datetime(2022, 8, 29, tzinfo=UTC)
    return FenceScanRow(event_id, "venue", place_id, "p-1", "code", at, at, "u-1", 0)


def test_a_unique_violation_is_a_write_race(platform: Platform) -> None:
    with platform.deps.uow() as uow:
        conn = uow.conn  # type: ignore[attr-defined]
        conn.execute(text("CREATE TEMPORARY TABLE race_t (id INTEGER PRIMARY KEY, "
                          "code VARCHAR(20) UNIQUE, x INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO race_t VALUES (1, 'secret-value', 1)"))
        for sql in ("INSERT INTO race_t VALUES (1, 'other', 1)",
                    "INSERT INTO race_t VALUES (2, 'secret-value', 1)"):
            with pytest.raises(IntegrityError) as exc, conn.begin_nested():
                conn.execute(text(sql))
            race = write_race(exc.value)
            assert isinstance(race, WriteRace), sql
            assert "secret-value" not in str(race)
        with pytest.raises(IntegrityError) as exc, conn.begin_nested():
            conn.execute(text("INSERT INTO race_t VALUES (3, 'c', NULL)"))
        assert write_race(exc.value) is None
        assert write_race(exc.value.orig) is None  # type: ignore[arg-type]
        assert write_race(ValueError("unique duplicate")) is None


def test_the_stores_raise_a_write_race_only_for_a_unique_key(platform: Platform) -> None:
    """``record_scans`` writes on the driver's own cursor: its duplicate event id is a race;
    a scan without its place (NOT NULL) is not, though its message may name a key."""
    with platform.deps.uow() as uow:
        uow.fence.record_scans([_scan(_EVENT)])
        with pytest.raises(WriteRace):
            uow.fence.record_scans([_scan(_EVENT)])
    with platform.deps.uow() as uow:
        with pytest.raises(Exception) as exc:
            uow.fence.record_scans([_scan("00000000-0000-4000-8000-000000000002", None)])
        assert not isinstance(exc.value, WriteRace)
    with platform.deps.uow() as uow:
        with pytest.raises(Exception) as exc:
            uow.station.record_event(StationEventRow(
                _EVENT, "sample", "S1", None, None, None))  # type: ignore[arg-type]
        assert not isinstance(exc.value, WriteRace)


def test_a_station_batch_written_in_one_stream_still_raises_its_race(
        platform: Platform) -> None:
    """A station batch's writes go to PostgreSQL in one stream (``sql_helpers.pipelined``),
    its errors raised when the stream ends: an event id another transaction stored first is
    still the ``WriteRace`` the service retries, and the transaction is left to roll back."""
    from datetime import UTC, datetime

    from hesuan.services.sampling_ports import StationWrites

    at = datetime(2022, 8, 29, tzinfo=UTC)
    event = StationEventRow(_EVENT, "sample", None, "u-1", at, at, "d")
    with platform.deps.uow() as uow:
        uow.station.apply_station_writes(StationWrites(events=[event]), at)
        uow.commit()
    other = StationEventRow("00000000-0000-4000-8000-000000000002", "sample", None, "u-1", at,
                            at, "d")
    with platform.deps.uow() as uow, pytest.raises(WriteRace):
        uow.station.apply_station_writes(
            StationWrites(events=[other, event]), at)
    with platform.deps.uow(readonly=True) as uow:
        assert uow.conn.execute(text(  # type: ignore[attr-defined]
            "SELECT count(*) FROM station_events")).scalar_one() == 1
