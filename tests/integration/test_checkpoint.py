"""Background WAL checkpoints (``adapters.db.checkpoint``): on SQLite a committing writer no
longer copies the WAL into the database file itself (below ``sqlite_checkpoint_pages``); the
checkpointer a long-running process starts does, on its own thread, until the platform closes.
On PostgreSQL there is nothing to start."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import make_url

from hesuan.adapters.clock import FixedClock
from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.checkpoint import WalCheckpointer
from hesuan.bootstrap import Platform, bootstrap
from hesuan.config import Settings

_INSERT = ("INSERT INTO station_events (event_id, kind, site_id, actor, client_at, "
           "received_at) VALUES (:e, 'sample', 'S1', 'u1', :at, :at)")


def _write_pages(platform: Platform, start: int, n: int = 40_000) -> None:
    """Commit ``n`` station events: more than SQLite's default checkpoint threshold of 1,000
    pages of WAL."""
    with platform.deps.uow() as uow:
        sql_helpers.executemany(uow.conn, _INSERT, [  # type: ignore[attr-defined]
            {"e": f"00000000-0000-4000-8000-{i:012d}", "at": 1_700_000_000_000 + i}
            for i in range(start, start + n)])
        uow.commit()


def _database(platform: Platform) -> Path:
    return Path(str(make_url(str(platform.engine.url)).database))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_writers_leave_the_wal_to_the_checkpointer(platform: Platform) -> None:
    db = _database(platform)
    _write_pages(platform, 0, 1_000)
    WalCheckpointer(str(db), every=60).run_once()  # the schema and first rows in the file
    before = db.stat().st_size
    _write_pages(platform, 1_000)
    with platform.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 10_000
    # committed, but only in the WAL: the writer did not checkpoint
    assert db.stat().st_size == before
    checkpointer = WalCheckpointer(str(db), every=60)
    try:
        run = checkpointer.run_once()
    finally:
        checkpointer.stop()
    assert not run.busy
    assert run.wal_pages > 1_000 and run.copied_pages == run.wal_pages
    assert db.stat().st_size > before
    with platform.deps.uow(readonly=True) as uow:
        assert sql_helpers.fetch(uow.conn, "SELECT count(*) FROM station_events", {}) == [  # type: ignore[attr-defined]
            (41_000,)]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_background_checkpointer_runs_until_the_platform_closes(
        settings: Settings, clock: FixedClock) -> None:
    platform = bootstrap(settings.model_copy(update={"sqlite_checkpoint_every": 0.05}),
                         clock=clock, migrate=False)
    try:
        checkpointer = platform.start_checkpoints()
        assert checkpointer is not None
        db = _database(platform)
        before = db.stat().st_size
        _write_pages(platform, 0)
        deadline = time.monotonic() + 20
        while db.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.stat().st_size > before, "no checkpoint copied the WAL within 20 s"
        assert checkpointer.runs >= 1
    finally:
        platform.close()
    runs = checkpointer.runs
    time.sleep(0.2)
    assert checkpointer.runs == runs  # stopped with the platform


def test_nothing_to_checkpoint_without_an_sqlite_file(platform: Platform, backend: str,
                                                      settings: Settings,
                                                      clock: FixedClock) -> None:
    if backend == "postgres":
        assert platform.start_checkpoints() is None
    off = bootstrap(settings.model_copy(update={"sqlite_checkpoint_every": 0}), clock=clock,
                    migrate=False)
    try:
        assert off.start_checkpoints() is None
    finally:
        off.close()


def test_a_checkpointer_that_saw_rollback_mode_catches_up(tmp_path: Path) -> None:
    """The bulk loader takes the file out of WAL mode while a city is generated; a checkpointer
    whose connection was opened then must still checkpoint once WAL mode is back."""
    path = tmp_path / "rollback.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=DELETE")
    writer.execute("CREATE TABLE t (x INTEGER)")
    checkpointer = WalCheckpointer(str(path), every=60)
    try:
        checkpointer.run_once()  # opens its connection while the file is in rollback mode
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10_000)])
        run = checkpointer.run_once()
    finally:
        checkpointer.stop()
        writer.close()
    assert run.wal_pages > 0 and run.copied_pages == run.wal_pages
