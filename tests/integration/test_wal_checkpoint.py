"""The background WAL checkpointer of SQLite engines (``adapters.db.engine``): writers no longer
checkpoint at 1,000 pages, the thread does within its interval, a removed database is not
created again, and disposing of the engine stops the thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from hesuan.adapters.db.engine import WalCheckpointer, dispose_engine, make_engine
from hesuan.config import Settings


def _threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "hesuan-wal-checkpoint")


def _write(engine: object, rows: int) -> None:
    with engine.begin() as c:  # type: ignore[attr-defined]
        c.execute(text("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)"))
        c.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 500}] * rows)


def test_the_thread_checkpoints_and_writers_do_not(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    before = _threads()
    engine = make_engine(Settings(database_url=f"sqlite:///{db}",
                                  sqlite_checkpoint_every=0.2))
    assert _threads() == before + 1
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 16384
    _write(engine, 20_000)  # some 2,500 pages: SQLite alone would have checkpointed
    probe = sqlite3.connect(db)
    deadline = time.monotonic() + 10
    while True:
        _busy, frames, done = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames == done:  # everything in the journal is in the database
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    probe.close()
    dispose_engine(engine)
    assert _threads() == before


def test_off_leaves_it_to_sqlite(tmp_path: Path) -> None:
    before = _threads()
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}",
                                  sqlite_checkpoint_every=0))
    assert _threads() == before
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000
    dispose_engine(engine)


def test_a_removed_database_is_not_created_again(tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    sqlite3.connect(db).close()
    checkpointer = WalCheckpointer(str(db), 0.05)
    db.unlink()
    checkpointer.start()
    time.sleep(0.3)
    checkpointer.stop()
    assert not db.exists()
