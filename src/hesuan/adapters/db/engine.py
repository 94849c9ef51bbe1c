"""Engine set-up for the two backends.

SQLite (embedded default): WAL journal, ``synchronous`` from settings, a busy timeout, and
``BEGIN IMMEDIATE`` for writing transactions so two writers queue instead of failing on lock
upgrade; read-only units of work begin DEFERRED and never block writers (WAL). WAL checkpoints
(copying the journal back into the database, with an fsync of each file) run on a background
thread of each process, ``WalCheckpointer``, not inside a writer's commit.
PostgreSQL (production): psycopg 3 with a connection pool.

Imports: SQLAlchemy, the standard library, ``hesuan.config``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from hesuan.config import Settings

__all__ = ["WalCheckpointer", "dispose_engine", "make_engine"]

log = logging.getLogger("hesuan.db")

#: With the background checkpointer, a writer still checkpoints once the journal passes this
#: many pages (64 MiB): a backstop if the thread falls behind, not the usual path.
_BACKSTOP_PAGES = 16384
_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()


class WalCheckpointer:
    """Checkpoints a SQLite database's write-ahead log every ``every_s`` seconds on a thread of
    its own (``PRAGMA wal_checkpoint(PASSIVE)``: it never blocks readers or writers).

    By default SQLite checkpoints inside the commit that takes the journal past 1,000 pages,
    and with ``synchronous=NORMAL`` a checkpoint fsyncs the journal and the database: one
    station group-commit in some tens paid for all of them, while holding the write turn
    (16 windows of single scans in process: 3,600–4,255 scans/s with it, 5,250–5,710 without;
    BENCHMARKS.md). Here the other core does it, and durability is unchanged: a commit is in
    the journal either way. The thread opens the file read-write only if it exists, so a
    database removed under it is never created again."""

    def __init__(self, path: str, every_s: float) -> None:
        self._uri = Path(path).resolve().as_uri() + "?mode=rw"
        self._every = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hesuan-wal-checkpoint",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if wait and self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def checkpoint_once(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """(busy, frames in the journal, frames checkpointed), as SQLite reports them."""
        busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(done)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(self._every):
                try:
                    if conn is None:
                        conn = sqlite3.connect(self._uri, uri=True, isolation_level=None,
                                               check_same_thread=False)
                    self.checkpoint_once(conn)
                except sqlite3.Error as exc:  # the file went away, or is not a database
                    log.warning("WAL checkpoint failed: %s", exc)
                    if conn is not None:
                        conn.close()
                        conn = None
        finally:
            if conn is not None:
                conn.close()


def dispose_engine(engine: Engine) -> None:
    """Stop the engine's WAL checkpointer, if it has one, and close its connections."""
    checkpointer = _CHECKPOINTERS.pop(engine, None)
    if checkpointer is not None:
        checkpointer.stop()
    engine.dispose()


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=8, max_overflow=8, **kwargs)
        synchronous = settings.sqlite_synchronous
        cache_kib = settings.sqlite_cache_mib * 1024
        background = (settings.sqlite_checkpoint_every > 0 and bool(url.database)
                      and url.database != ":memory:")
        autocheckpoint = _BACKSTOP_PAGES if background else 1000

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA cache_size=-{cache_kib}")
            cur.execute("PRAGMA temp_store=FILE")
            cur.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            readonly = conn.get_execution_options().get("hesuan_readonly", False)
            conn.exec_driver_sql("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")

        if background:
            with engine.connect():  # the file exists, in WAL mode, before the thread opens it
                pass
            checkpointer = WalCheckpointer(str(url.database), settings.sqlite_checkpoint_every)
            checkpointer.start()
            _CHECKPOINTERS[engine] = checkpointer
            # an engine dropped without dispose_engine: its thread stops with it
            weakref.finalize(engine, checkpointer.stop, False)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)
