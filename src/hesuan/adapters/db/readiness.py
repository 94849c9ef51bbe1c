"""Whether the store can write now (``GET /ready``): a load balancer or an operator asks it
before sending writes; ``/health`` only says that the process answers.

The check is a write: one unit of work inserts a row and deletes it again, then commits. The
row is never seen by anyone (it exists only inside the transaction), but the commit has to
reach the disk (SQLite's WAL, PostgreSQL's), so a full or failing disk or a lost connection
fails it with the same ``StoreUnavailable`` as any request (``engine.store_unavailable``). On
SQLite the database's file system must also have ``MIN_FREE_BYTES`` left: a small write can
still succeed on a full disk by reusing WAL space that a larger one would need.

The answer is kept ``EVERY_S`` seconds and one check runs at a time (callers meanwhile get the
last answer), so asking ``/ready`` often costs the store at most one small write per process
in that time.

Imports: standard library, SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, insert

from hesuan.adapters.db.schema import sign_in_failures
from hesuan.adapters.db.store import SqlUnitOfWorkFactory
from hesuan.domain.errors import StoreUnavailable

__all__ = ["EVERY_S", "MIN_FREE_BYTES", "WriteProbe"]

#: How long an answer is kept.
EVERY_S = 2.0
#: The free space below which an SQLite database's disk counts as full.
MIN_FREE_BYTES = 1 << 20
#: The probe's row: a key no sign-in has (a keyed hash is never 32 zero bytes).
_PROBE_KEY = bytes(32)
_PROBE_AT = datetime(1970, 1, 1, tzinfo=UTC)


class WriteProbe:
    """``check()``: None when the store can write, else the ``StoreUnavailable`` why not."""

    def __init__(self, uow: SqlUnitOfWorkFactory, *, every_s: float = EVERY_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._uow = uow
        url = uow.engine.url
        db = url.database if url.get_backend_name() == "sqlite" else None
        self._dir = Path(db).parent if db and db != ":memory:" else None
        self._every = every_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._answer: StoreUnavailable | None = None
        self._at: float | None = None

    def check(self) -> StoreUnavailable | None:
        at = self._at
        if at is not None and self._monotonic() - at < self._every:
            return self._answer
        if not self._lock.acquire(blocking=at is None):
            return self._answer  # another caller is checking
        try:
            self._answer = self._probe()
            self._at = self._monotonic()
            return self._answer
        finally:
            self._lock.release()

    def _probe(self) -> StoreUnavailable | None:
        if self._dir is not None:
            fs = os.statvfs(self._dir)
            if fs.f_bavail * fs.f_frsize < MIN_FREE_BYTES:
                return StoreUnavailable(
                    "the store cannot write: the disk is full (less than "
                    f"{MIN_FREE_BYTES >> 20} MiB free); writes are refused and nothing of "
                    "them is written", retry_after=10)
        try:
            with self._uow() as uow:
                uow.conn.execute(insert(sign_in_failures).values(key_hash=_PROBE_KEY,
                                                                 at=_PROBE_AT))
                uow.conn.execute(delete(sign_in_failures)
                                 .where(sign_in_failures.c.key_hash == _PROBE_KEY))
                uow.commit()
        except StoreUnavailable as exc:
            return exc
        return None
