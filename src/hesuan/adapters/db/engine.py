"""Engine set-up for the two backends.

SQLite (embedded default): WAL journal, ``synchronous`` and the writers' checkpoint threshold
from settings (``checkpoint.py`` says why it is high), a busy timeout, and
``BEGIN IMMEDIATE`` for writing transactions so two writers queue instead of failing on lock
upgrade; read-only units of work begin DEFERRED and never block writers (WAL).
PostgreSQL (production): psycopg 3 with a connection pool whose connections are checked
before use (``pool_pre_ping``), so that the pool recovers by itself once the server is back or
after its connections were terminated; a lost connection also invalidates the pool's older ones.
Its sessions never compile statements to machine code (``jit = off``): the planner's estimates
of the reports count each correlated subquery for every row, which passes the server's
threshold for compiling at a few thousand people, where compiling takes longer than running
them, as it does for a city's whole population.

The drivers' errors that mean something to the services are translated here, once, by the
drivers' own codes (never by their messages): ``store_unavailable`` says which mean that the store
cannot write now (a full or failing disk, a lost connection), as the one ``StoreUnavailable``
error of the domain, which the unit of work (``store.py``) raises in their place;
``write_race`` says which mean that a concurrent transaction won a unique key first, as the
``WriteRace`` the services retry on, which the stores raise in their place; ``lost_conflict``
which mean that the database rolled the transaction back to end a deadlock with another (or a
serialization failure), the same ``WriteRace``, which the unit of work raises in their place.

Imports: SQLAlchemy, ``hesuan.config``, ``hesuan.domain``, ``hesuan.services.ports``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hesuan.config import Settings
from hesuan.domain.errors import InvalidInput, StoreUnavailable
from hesuan.services.ports import WriteRace

__all__ = ["BUSY_TIMEOUT_MS", "CONNECT_TIMEOUT_S", "check_sqlite_file", "lost_conflict",
           "make_engine", "reading", "store_unavailable", "write_race"]

#: How long a SQLite statement waits for a lock another connection holds (turn-takers never
#: wait here: they queue on ``store.WriteTurn`` first).
BUSY_TIMEOUT_MS = 30_000
#: Seconds a PostgreSQL connection may take to open.
CONNECT_TIMEOUT_S = 10


#: SQLite's primary result codes that mean the file cannot be written now: SQLITE_READONLY,
#: SQLITE_IOERR, SQLITE_FULL ("database or disk is full"), SQLITE_CANTOPEN.
_SQLITE_CANNOT_WRITE = {8: "the database file is read-only", 10: "the disk failed (I/O error)",
                        13: "the disk is full", 14: "the database file cannot be opened"}
#: PostgreSQL's SQLSTATE classes and codes that mean the same: connection exceptions (08),
#: insufficient resources (53: disk full, out of memory, too many connections), system errors
#: (58: I/O), and a server shutting down or starting (57P01-57P03).
_PG_CANNOT_WRITE = ("08", "53", "58", "57P01", "57P02", "57P03")
#: Seconds after which to try again: a full disk needs someone to act, a lost connection not.
_RETRY_DISK_S = 10
_RETRY_CONNECTION_S = 2


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for the readers that work outside a unit of work (reports, work lists):
    a store that cannot be reached leaves them as ``StoreUnavailable``, as it leaves a unit of
    work, not as the driver's error."""
    try:
        with engine.connect() as c:
            yield c
    except Exception as exc:
        if (lost := store_unavailable(exc)) is not None:
            raise lost from exc
        raise


def store_unavailable(exc: BaseException, *, committing: bool = False,
                      ) -> StoreUnavailable | None:
    """The ``StoreUnavailable`` that ``exc`` (a driver's error, or SQLAlchemy's around it)
    stands for, or None if it means something else (a broken rule, a bug). ``committing``: it
    was raised by the COMMIT itself, so a lost connection leaves the outcome unknown."""
    orig: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        why = _SQLITE_CANNOT_WRITE.get(code & 0xFF)
        if why is None:
            return None
        # a disk that failed while SQLite wrote the commit may have taken part of it
        in_doubt = committing and code & 0xFF == 10
        return _unavailable(f"the store cannot write: {why}", _RETRY_DISK_S, in_doubt)
    if not (invalidated or _pg_cannot_write(orig)):
        return None
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate.startswith(("53", "58")):
        return _unavailable(f"the database cannot write ({sqlstate})", _RETRY_DISK_S, False)
    return _unavailable("the connection to the database was lost", _RETRY_CONNECTION_S,
                        committing)


#: SQLite's extended result codes of a broken unique key: SQLITE_CONSTRAINT_UNIQUE and
#: SQLITE_CONSTRAINT_PRIMARYKEY (any other constraint is not a race).
_SQLITE_UNIQUE = (2067, 1555)
#: PostgreSQL's SQLSTATE unique_violation (a primary key's too).
_PG_UNIQUE = "23505"


def write_race(exc: BaseException) -> WriteRace | None:
    """The ``WriteRace`` that ``exc`` (a driver's error, or SQLAlchemy's around it) stands
    for — a unique or primary key that another transaction wrote first — or None if it means
    something else. Its message names the constraint, never the values (they may be personal)."""
    orig: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        # SQLite's message names the table and columns only ("UNIQUE constraint failed: t.c")
        return WriteRace(str(orig)) if code in _SQLITE_UNIQUE else None
    if getattr(orig, "sqlstate", None) != _PG_UNIQUE:
        return None
    diag = getattr(orig, "diag", None)
    name = getattr(diag, "constraint_name", None) or "a unique key"
    return WriteRace(f"duplicate key value violates unique constraint {name}")


#: PostgreSQL's SQLSTATEs of a transaction rolled back because of a concurrent one:
#: deadlock_detected, serialization_failure.
_PG_CONFLICT = ("40P01", "40001")


def lost_conflict(exc: BaseException) -> WriteRace | None:
    """The ``WriteRace`` that ``exc`` stands for when PostgreSQL rolled the transaction back
    to end a deadlock with a concurrent one (or could not serialize it), or None. Nothing of
    it was written, and the same work run again meets the other transaction's outcome."""
    orig: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    code = getattr(orig, "sqlstate", None)
    if code not in _PG_CONFLICT:
        return None
    return WriteRace(f"the database rolled the transaction back to end a conflict with a "
                     f"concurrent one ({code})")


def _pg_cannot_write(orig: BaseException) -> bool:
    """psycopg's ``OperationalError`` raised by the client (no connection, or it closed:
    no SQLSTATE) or by the server with one of ``_PG_CANNOT_WRITE``; not its other
    operational errors (a serialization failure, a cancelled statement)."""
    if not any(c.__name__ == "OperationalError" and c.__module__.startswith("psycopg")
               for c in type(orig).__mro__):
        return False
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(_PG_CANNOT_WRITE)


def _unavailable(why: str, retry_after: int, in_doubt: bool) -> StoreUnavailable:
    if in_doubt:
        said = ("it was lost while the database committed, so the request may have been "
                "stored; send the same request again (a station's events and a lab's results "
                "are recognised as duplicates)")
    else:
        said = "nothing was written; send the same request again"
    return StoreUnavailable(f"{why}: {said} after {retry_after} s", retry_after=retry_after,
                            in_doubt=in_doubt)


#: The first bytes of every SQLite database file.
_SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(path: Path) -> None:
    """Refuse (``InvalidInput`` on ``HESUAN_DATABASE_URL``) a path that is there but is no
    SQLite database, or cannot be read: a CSV file or a folder named by mistake."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InvalidInput(f"HESUAN_DATABASE_URL: cannot read {path}: {exc.strerror}",
                           code="bad_database", field="HESUAN_DATABASE_URL") from None
    if head and head != _SQLITE_HEADER:
        raise InvalidInput(f"HESUAN_DATABASE_URL: {path} is not an SQLite database",
                           code="not_a_database", field="HESUAN_DATABASE_URL")


def _owner_only(path: Path) -> None:
    """Create the database file readable and writable by its owner only, before SQLite
    would create it with the process's umask; SQLite gives its WAL and shared-memory files the
    database file's permissions. An existing file is left as it is (if it is a database)."""
    check_sqlite_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise InvalidInput(f"HESUAN_DATABASE_URL: cannot create {path}: {exc.strerror}",
                           code="bad_database", field="HESUAN_DATABASE_URL") from None


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
            # the schema's foreign keys hold here as on PostgreSQL (SQLite's default is off)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            readonly = conn.get_execution_options().get("hesuan_readonly", False)
            conn.exec_driver_sql("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")

        return engine
    # a server that does not answer is unavailable after CONNECT_TIMEOUT_S, not after the
    # system's TCP timeout of minutes
    given = url.query.get("options", ())  # the operator's own startup options, kept
    options = " ".join([*([given] if isinstance(given, str) else given), "-c jit=off"])
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                         connect_args={"connect_timeout": CONNECT_TIMEOUT_S,
                                       "options": options}, **kwargs)
