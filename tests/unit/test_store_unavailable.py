"""Which drivers' errors mean "the store cannot write now" (``engine.store_unavailable``), on
real errors of SQLite; and the supervisor's restart delays for a crash loop."""

from __future__ import annotations

import sqlite3

import pytest

from hesuan.adapters.db.engine import store_unavailable
from hesuan.entrypoints.api.workers import restart_delay


def _error(*sql: str) -> sqlite3.Error:
    db = sqlite3.connect(":memory:")
    try:
        for s in sql:
            db.execute(s)
    except sqlite3.Error as exc:
        return exc
    finally:
        db.close()
    raise AssertionError("no error")


def test_a_full_database_is_unavailable_and_nothing_was_written() -> None:
    full = _error("CREATE TABLE t (x BLOB)", "PRAGMA max_page_count = 3",
                  "INSERT INTO t VALUES (zeroblob(100000))")
    assert full.sqlite_errorcode & 0xFF == 13  # SQLITE_FULL
    lost = store_unavailable(full)
    assert lost is not None and lost.code == "store_unavailable"
    assert "disk is full" in lost.message and "nothing was written" in lost.message
    assert lost.retry_after >= 1 and not lost.in_doubt


def test_other_errors_are_not_unavailability() -> None:
    unique = _error("CREATE TABLE t (x PRIMARY KEY)", "INSERT INTO t VALUES (1)",
                    "INSERT INTO t VALUES (1)")
    assert store_unavailable(unique) is None
    assert store_unavailable(_error("SELECT * FROM nowhere")) is None
    assert store_unavailable(ValueError("x")) is None


@pytest.mark.parametrize(("deaths", "delay"), [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0),
                                               (5, 8.0), (6, 10.0), (40, 10.0)])
def test_a_crash_loop_backs_off_to_a_cap(deaths: int, delay: float) -> None:
    assert restart_delay(deaths) == delay


def test_the_readers_outside_a_unit_of_work_say_the_store_is_unavailable() -> None:
    """The work lists and reports read without a unit of work: a database that is down (nothing
    listens on its port) is ``StoreUnavailable`` for them too, not the driver's error."""
    from datetime import UTC, datetime

    from sqlalchemy import create_engine

    from hesuan.adapters.db.analytics import SqlAnalytics
    from hesuan.adapters.db.worklists import SqlWorklists
    from hesuan.domain.errors import StoreUnavailable

    down = create_engine("postgresql+psycopg://hesuan@127.0.0.1:1/none",
                         connect_args={"connect_timeout": 2})
    try:
        with pytest.raises(StoreUnavailable) as seen:
            SqlWorklists(down).status_counts("")
        assert "nothing was written" in seen.value.message
        with pytest.raises(StoreUnavailable):
            SqlAnalytics(down).latest_sample_at()
        with pytest.raises(StoreUnavailable):
            SqlWorklists(down).samples_per_hour(datetime(2022, 8, 29, tzinfo=UTC), "")
    finally:
        down.dispose()
