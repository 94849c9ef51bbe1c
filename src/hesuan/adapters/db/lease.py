"""The scheduler's lease: which one of the server processes on a database runs the scheduler.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its
own, kept open in autocommit (never idle in a transaction). Advisory locks are per database,
and the server lets one go when the session that holds it ends, so a process that dies, or
loses its connection, hands the lease over without anyone's help. SQLite: an exclusive
``flock`` of ``<database>-scheduler``, which the kernel lets go when the process ends.

Imports: the standard library, SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from sqlalchemy import Connection, Engine, text

__all__ = ["SchedulerLease"]

#: The advisory lock's key (the sweep's own lock is 74110002).
_KEY = 74110010


class SchedulerLease:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._fd: int | None = None
        db = engine.url.database
        self._file = (f"{db}-scheduler" if engine.dialect.name == "sqlite" and db
                      and db != ":memory:" else None)

    def held(self) -> bool:
        """Whether this process holds the lease now, taking it if it is free."""
        with self._lock:
            if self._engine.dialect.name == "postgresql":
                return self._held_pg()
            return self._held_file()

    def _held_pg(self) -> bool:
        if self._conn is not None:
            try:  # still ours while the session lives
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # the session ended: its lock went with it
                self._drop_conn()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": _KEY}).scalar_one())
        except Exception:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _held_file(self) -> bool:
        if self._file is None:  # a database in memory: one process by definition
            return True
        if self._fd is not None:
            return True
        fd = os.open(self._file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Let the lease go (a stopping scheduler); another process takes it at its tick."""
        with self._lock:
            self._drop_conn()
            if self._fd is not None:
                os.close(self._fd)  # closing the descriptor lets the flock go
                self._fd = None

    def _drop_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                # unlock on a live session, so the connection goes back to the pool clean
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _KEY})
            with contextlib.suppress(Exception):
                self._conn.invalidate()  # never back to the pool: the session ends
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
