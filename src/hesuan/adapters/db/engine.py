"""Engine set-up for the two backends.

SQLite (embedded default): WAL journal, ``synchronous`` and the writers' checkpoint threshold
from settings (``checkpoint.py`` says why it is high), a busy timeout, and
``BEGIN IMMEDIATE`` for writing transactions so two writers queue instead of failing on lock
upgrade; read-only units of work begin DEFERRED and never block writers (WAL).
PostgreSQL (production): psycopg 3 with a connection pool.

Imports: SQLAlchemy, ``hesuan.config``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from hesuan.config import Settings

__all__ = ["BUSY_TIMEOUT_MS", "make_engine"]

#: How long a SQLite statement waits for a lock another connection holds (turn-takers never
#: wait here: they queue on ``store.WriteTurn`` first).
BUSY_TIMEOUT_MS = 30_000


def _owner_only(path: Path) -> None:
    """Create the database file readable and writable by its owner only, before SQLite
    would create it with the process's umask; SQLite gives its WAL and shared-memory files the
    database file's permissions. An existing file is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            _owner_only(Path(url.database))
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=8, max_overflow=8, **kwargs)
        synchronous = settings.sqlite_synchronous
        cache_kib = settings.sqlite_cache_mib * 1024
        checkpoint_pages = settings.sqlite_checkpoint_pages

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute(f"PRAGMA cache_size=-{cache_kib}")
            cur.execute(f"PRAGMA wal_autocheckpoint={checkpoint_pages}")
            cur.execute("PRAGMA temp_store=FILE")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            readonly = conn.get_execution_options().get("hesuan_readonly", False)
            conn.exec_driver_sql("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, **kwargs)
