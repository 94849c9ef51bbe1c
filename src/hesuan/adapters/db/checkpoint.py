"""Background WAL checkpoints for the embedded SQLite database.

In WAL mode a commit appends pages to the ``-wal`` file; a *checkpoint* copies them back into
the database file and syncs both. By default SQLite has the committing writer do that itself
every 1,000 pages, inside its transaction's time, so a station batch now and then paid for
copying and syncing megabytes of other batches' pages while every other writer waited for the
write turn. ``WalCheckpointer`` does it on a thread of its own instead, with a connection of
its own, as a ``PASSIVE`` checkpoint (it never waits for, nor blocks, readers or writers), and
SQLite's ``sqlite3_step`` lets go of the GIL while it copies and syncs. The writers keep a
far higher ``wal_autocheckpoint`` (``Settings.sqlite_checkpoint_pages``) as a safety net, for
a process that runs no checkpointer or a checkpointer that falls behind.

Imports: the standard library.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass

__all__ = ["CheckpointRun", "WalCheckpointer"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckpointRun:
    """What one ``PRAGMA wal_checkpoint(PASSIVE)`` reported."""

    busy: bool  #: another checkpoint was running (this one did nothing)
    wal_pages: int  #: pages in the WAL
    copied_pages: int  #: of those, pages now in the database file (all of them: caught up)


class WalCheckpointer:
    """Runs a passive checkpoint of the SQLite database at ``path`` every ``every`` seconds,
    on a daemon thread, from ``start()`` until ``stop()``."""

    def __init__(self, path: str, every: float) -> None:
        if every <= 0:
            raise ValueError("every: the interval between checkpoints must be positive")
        self._path = path
        self._every = every
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.runs = 0  #: checkpoints run so far (for tests and the bench)
        self.last: CheckpointRun | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="hesuan-wal-checkpoint",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def run_once(self) -> CheckpointRun:
        """One passive checkpoint now."""
        with self._lock:
            if self._conn is None:
                # autocommit: a PRAGMA inside an open transaction could not checkpoint
                self._conn = sqlite3.connect(self._path, timeout=0, isolation_level=None,
                                             check_same_thread=False)
            # a read first: a connection that last saw the file in rollback mode (the bulk
            # loader's, while a city is generated) only notices WAL mode again when it reads,
            # and until then its checkpoints do nothing (they report -1 pages)
            self._conn.execute("PRAGMA user_version").fetchone()
            busy, log, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
            self.last = CheckpointRun(bool(busy), int(log), int(copied))
            return self.last

    def _loop(self) -> None:
        while not self._halt.wait(self._every):
            try:
                self.run_once()
            except sqlite3.Error as exc:  # e.g. the file went away; the writers checkpoint
                _log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
