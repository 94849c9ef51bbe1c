"""The SQL unit of work: one connection, one transaction, and the repositories that read and
write on it (the ``UnitOfWork`` port). Works on SQLite and PostgreSQL with the same statements.

Each repository is made the first time a use case asks for it (``uow.people``, ``uow.tubes``,
...), on this unit's connection.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.services.ports``, ``hesuan.domain``.
"""

from __future__ import annotations

import copy
import fcntl
import os
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from types import TracebackType
from typing import Any, Literal, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from hesuan.adapters.db.alerts_store import SqlAlerts
from hesuan.adapters.db.assays_store import SqlAssays
from hesuan.adapters.db.audit_store import SqlAuditLog
from hesuan.adapters.db.boxes_store import SqlBoxes
from hesuan.adapters.db.corrections_store import SqlCorrections, SqlRejections
from hesuan.adapters.db.elr_store import SqlElrOutbox
from hesuan.adapters.db.engine import BUSY_TIMEOUT_MS, lost_conflict, store_unavailable
from hesuan.adapters.db.fence_store import SqlFence
from hesuan.adapters.db.lab_messages_store import SqlLabMessages
from hesuan.adapters.db.lab_report_store import SqlLabReports
from hesuan.adapters.db.lanes_store import SqlLanes
from hesuan.adapters.db.outbox_store import SqlOutbox
from hesuan.adapters.db.passes_store import SqlPasses
from hesuan.adapters.db.people_store import SqlPeople
from hesuan.adapters.db.places_store import SqlPlaces
from hesuan.adapters.db.plates_store import SqlPlates
from hesuan.adapters.db.programme_store import SqlProgramme
from hesuan.adapters.db.reports_store import SqlReports
from hesuan.adapters.db.results_store import SqlResults
from hesuan.adapters.db.retention_store import SqlRetention
from hesuan.adapters.db.rosters_store import SqlRosters
from hesuan.adapters.db.sealed_store import SqlSealedData
from hesuan.adapters.db.station_store import SqlStation
from hesuan.adapters.db.status_store import SqlCadence, SqlOverrides, SqlStatuses
from hesuan.adapters.db.teams_store import SqlTeams
from hesuan.adapters.db.users_store import SqlUsers
from hesuan.adapters.db.venues_store import SqlVenues
from hesuan.adapters.db.zones_store import SqlZones
from hesuan.domain.audit import ChainKey
from hesuan.domain.errors import StoreUnavailable

__all__ = ["SqlInlineWrites", "SqlUnitOfWork", "SqlUnitOfWorkFactory", "TurnBusy", "WriteTurn"]


class _InOrder:
    """A re-entrant lock handed to the threads waiting for it in the order they came.
    ``threading``'s locks promise no order: a thread that releases one and asks for it again at
    once mostly takes it again ahead of those already waiting."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting: deque[tuple[int, threading.Lock]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, blocking: bool = True) -> bool:
        me = threading.get_ident()
        with self._guard:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
                return True
            if not blocking:
                return False
            woken = threading.Lock()
            woken.acquire()
            self._waiting.append((me, woken))
        try:
            woken.acquire()  # the holder hands the lock over by releasing this one
        except BaseException:
            with self._guard:
                if (me, woken) in self._waiting:  # not handed over yet: leave the queue
                    self._waiting.remove((me, woken))
                    raise
            self.release()  # handed over meanwhile: pass it on
            raise
        return True

    def release(self) -> None:
        with self._guard:
            if self._owner != threading.get_ident():
                raise RuntimeError("the write turn is released by a thread that does not hold it")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                self._owner, woken = self._waiting.popleft()
                self._depth = 1
                woken.release()
            else:
                self._owner = None


class WriteTurn:
    """Whose turn it is to write a SQLite database: one thread of one process at a time.

    SQLite has one writer. Waiting in its busy handler costs idle time, as the handler sleeps
    1, 2, 5, ... 100 ms between retries, so under many writers a write waits far longer than
    it takes. Writers instead queue here and are woken the moment the turn is free:
    threads of this process on a lock, and processes (``serve --workers N`` on one file) on an
    advisory ``flock`` of ``<database>-writer``. Re-entrant in one thread. The threads of this
    process take it in the order they asked (a writer of many parts, such as the sweep, lets
    those waiting go between two of them). Writers that do not take turns (another program)
    are still kept out by SQLite's own lock."""

    def __init__(self, lock_file: str | None) -> None:
        self._lock = _InOrder()
        self._depth = 0
        #: Held by a write on an event loop (``SqlInlineWrites``): a unit of work made while
        #: it is held must not wait for SQLite's own lock either. Read only by the holder.
        self.inline = False
        self._fd = (os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                    if lock_file else None)

    def acquire(self, blocking: bool = True) -> bool:
        """Take the turn, waiting for it; or, with ``blocking=False``, only if nobody else
        holds it. True if taken."""
        if not self._lock.acquire(blocking):
            return False
        self._depth += 1
        if self._depth == 1 and self._fd is not None:
            try:
                # releases the GIL while it waits
                fcntl.flock(self._fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException as exc:
                self._depth -= 1
                self._lock.release()
                if isinstance(exc, BlockingIOError):
                    return False
                raise
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()



class TurnBusy(Exception):
    """A unit of work made under ``SqlInlineWrites.turn`` found SQLite's write lock held by a
    writer outside the turn (a bulk load, another program): nothing was started."""


class SqlInlineWrites:
    """The ``InlineWrites`` port on SQLite: the write turn, taken only if it is free at once.
    While the turn is held so, a unit of work does not wait for SQLite's own lock either; it
    fails at once with ``TurnBusy`` and the caller writes on a thread instead."""

    def __init__(self, turn: WriteTurn) -> None:
        self._turn = turn

    @contextmanager
    def turn(self) -> Iterator[bool]:
        if not self._turn.acquire(blocking=False):
            yield False
            return
        outer = self._turn.inline
        self._turn.inline = True
        try:
            yield True
        finally:
            self._turn.inline = outer
            self._turn.release()


class SqlUnitOfWorkFactory:
    """Units of work on ``engine``; ``chain`` keys the audit entries they append (the key is
    derived from the master secret and never stored in the database)."""

    def __init__(self, engine: Engine, synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
                 *, chain: ChainKey) -> None:
        self.engine = engine
        self.chain = chain
        self._write_lock: WriteTurn | None = None
        if engine.dialect.name == "sqlite":
            db = engine.url.database
            self._write_lock = WriteTurn(f"{db}-writer" if db and db != ":memory:" else None)
        # A write may run on an event loop only where it is this process's CPU work alone:
        # SQLite in WAL with synchronous=NORMAL does not wait for the disk at commit (the
        # checkpoint does, on a thread of its own); PostgreSQL always waits on the network.
        self.inline: SqlInlineWrites | None = (
            SqlInlineWrites(self._write_lock)
            if self._write_lock is not None and synchronous == "NORMAL" else None)
        self._scratch_in_memory = False

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, readonly, None if readonly else self._write_lock,
                             chain=self.chain,
                             scratch_in_memory=self._scratch_in_memory and not readonly)

    def for_bulk(self) -> SqlUnitOfWorkFactory:
        """Units of work on the same database and write turn for use cases that move many rows
        through temporary tables at once (a results file's fan-out): on SQLite a writing one
        keeps its scratch — the temporary tables, an UPDATE ... FROM's own — in memory for its
        length, where the fan-out spends less time on it. Every other unit keeps scratch in
        files (``engine.py``): a sort or a recompute of every status row in memory would take
        the server's memory with it. The composition root gives this factory to the services
        that fan results out."""
        bulk = copy.copy(self)
        bulk._scratch_in_memory = True
        return bulk



class SqlUnitOfWork:
    def __init__(self, engine: Engine, readonly: bool,
                 write_lock: WriteTurn | None = None, *, chain: ChainKey,
                 scratch_in_memory: bool = False) -> None:
        self.engine = engine
        self.chain = chain
        self._readonly = readonly
        self.pg = engine.dialect.name == "postgresql"
        self._write_lock = write_lock
        # ``SqlUnitOfWorkFactory.for_bulk``; freed when the unit ends
        self._scratch_in_memory = scratch_in_memory and engine.dialect.name == "sqlite"

    # -- transaction -----------------------------------------------------------------------

    def __enter__(self) -> Self:
        if self._write_lock is not None:
            self._write_lock.acquire()
        try:
            conn = self.engine.connect()
            self.conn: Connection = conn
            try:
                if self._readonly:
                    conn = self.conn = conn.execution_options(hesuan_readonly=True)
                if self._scratch_in_memory:  # outside a transaction: SQLite refuses it inside
                    self._raw().execute("PRAGMA temp_store=MEMORY")
                self._tx = self._begin(conn)
            except BaseException:
                self._scratch_back_to_files()
                conn.close()
                raise
        except BaseException as exc:
            if self._write_lock is not None:
                self._write_lock.release()
            if (lost := store_unavailable(exc)) is not None:
                raise lost from exc
            raise
        return self

    def _begin(self, conn: Connection) -> Any:
        if self._write_lock is None or not self._write_lock.inline:
            return conn.begin()
        # A write on an event loop (``SqlInlineWrites``) must not wait for SQLite's own lock,
        # held by a writer that does not take turns (a bulk load, another program): no busy
        # timeout for its BEGIN IMMEDIATE, which then fails at once.
        self._raw().execute("PRAGMA busy_timeout=0")
        try:
            return conn.begin()
        except OperationalError as exc:
            raise TurnBusy(f"SQLite's write lock is held outside the turn: {exc.orig}") from exc
        finally:
            self._raw().execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # The drivers' errors that mean the store cannot write (a full disk, a lost
        # connection: ``engine.store_unavailable``) leave here as the domain's
        # ``StoreUnavailable``, once for every use case: the transaction is rolled back, so
        # nothing of it was written.
        lost: Exception | None = None
        if exc is not None:
            # a deadlock the database broke by rolling this transaction back: the services
            # retry a ``WriteRace``
            lost = store_unavailable(exc) or lost_conflict(exc)
        try:
            if self._tx.is_active:
                self._tx.rollback()
        except Exception as failed:  # the connection that failed the work fails this too
            if (lost := lost or store_unavailable(failed)) is None:
                raise
        finally:
            try:
                self._scratch_back_to_files()
            except Exception as failed:
                if (lost := lost or store_unavailable(failed)) is None:
                    raise
            finally:
                self.conn.close()
                if self._write_lock is not None:
                    self._write_lock.release()
        if lost is not None and not isinstance(exc, StoreUnavailable):  # else: it leaves as is
            raise lost from exc

    def _raw(self) -> Any:
        return self.conn.connection.driver_connection

    def _scratch_back_to_files(self) -> None:
        """A bulk unit's connection goes back to the pool as every other: scratch in files
        (this drops its temporary tables, and frees their memory)."""
        if self._scratch_in_memory:
            self._raw().execute("PRAGMA temp_store=FILE")

    def commit(self) -> None:
        if "audit_log" in self.__dict__:  # its entries wait for the commit
            self.audit_log.flush()
        try:
            self._tx.commit()
        except Exception as exc:
            if (lost := store_unavailable(exc, committing=True)) is not None:
                raise lost from exc
            raise

    # -- repositories ----------------------------------------------------------------------

    @cached_property
    def audit_log(self) -> SqlAuditLog:
        return SqlAuditLog(self)

    @cached_property
    def users(self) -> SqlUsers:
        return SqlUsers(self)

    @cached_property
    def places(self) -> SqlPlaces:
        return SqlPlaces(self)

    @cached_property
    def people(self) -> SqlPeople:
        return SqlPeople(self)

    @cached_property
    def station(self) -> SqlStation:
        return SqlStation(self)

    @cached_property
    def boxes(self) -> SqlBoxes:
        return SqlBoxes(self)

    @cached_property
    def results(self) -> SqlResults:
        return SqlResults(self)

    @cached_property
    def assays(self) -> SqlAssays:
        return SqlAssays(self)

    @cached_property
    def plates(self) -> SqlPlates:
        return SqlPlates(self)

    @cached_property
    def corrections(self) -> SqlCorrections:
        return SqlCorrections(self)

    @cached_property
    def rejections(self) -> SqlRejections:
        return SqlRejections(self)

    @cached_property
    def lab_messages(self) -> SqlLabMessages:
        return SqlLabMessages(self)

    @cached_property
    def lab_reports(self) -> SqlLabReports:
        return SqlLabReports(self)

    @cached_property
    def outbox(self) -> SqlOutbox:
        return SqlOutbox(self)

    @cached_property
    def elr_outbox(self) -> SqlElrOutbox:
        return SqlElrOutbox(self)

    @cached_property
    def alerts(self) -> SqlAlerts:
        return SqlAlerts(self)

    @cached_property
    def reports(self) -> SqlReports:
        return SqlReports(self)

    @cached_property
    def cadence(self) -> SqlCadence:
        return SqlCadence(self)

    @cached_property
    def statuses(self) -> SqlStatuses:
        return SqlStatuses(self)

    @cached_property
    def overrides(self) -> SqlOverrides:
        return SqlOverrides(self)

    @cached_property
    def passes(self) -> SqlPasses:
        return SqlPasses(self)

    @cached_property
    def venues(self) -> SqlVenues:
        return SqlVenues(self)

    @cached_property
    def zones(self) -> SqlZones:
        return SqlZones(self)

    @cached_property
    def rosters(self) -> SqlRosters:
        return SqlRosters(self)

    @cached_property
    def fence(self) -> SqlFence:
        return SqlFence(self)

    @cached_property
    def lanes(self) -> SqlLanes:
        return SqlLanes(self)

    @cached_property
    def teams(self) -> SqlTeams:
        return SqlTeams(self)

    @cached_property
    def retention(self) -> SqlRetention:
        return SqlRetention(self)

    @cached_property
    def programme(self) -> SqlProgramme:
        return SqlProgramme(self)

    @cached_property
    def sealed(self) -> SqlSealedData:
        return SqlSealedData(self)
