"""Where the reads that may be stale are served: the primary, or a read-only PostgreSQL
streaming replica (``HESUAN_DATABASE_REPLICA_URL``), and how far behind that replica is.

The composition root gives the replica's units of work to the services whose reads may lag a
few seconds (dashboards, reports, the rosters' coverage); writes never reach it, as its
factory refuses a writing unit of work (and a hot standby refuses the statements besides).
A start refuses a replica that is not a copy of the primary (``not_a_copy``): a URL that
names another cluster would show another database's figures as the city's; and every later
connection to it is checked the same way (``only_copies_of``).

Imports: SQLAlchemy, ``hesuan.adapters.db``.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from hesuan.adapters.db.engine import reading, store_unavailable
from hesuan.adapters.db.store import SqlUnitOfWork, SqlUnitOfWorkFactory
from hesuan.domain.errors import StoreUnavailable

__all__ = ["ReadOnlyUnitsOfWork", "ReadSource", "not_a_copy", "only_copies_of"]

#: What a copy of the primary shares with it: its cluster's system identifier (a streaming
#: replica made by ``pg_basebackup`` has the primary's; any other cluster has its own).
_IDENTITY_SQL = text("SELECT system_identifier FROM pg_control_system()")

#: Seconds the replica's data is behind the primary's: 0 when it has replayed all the WAL it
#: received while streaming; else the time since the last transaction it replayed (a replica
#: that lost its primary, or is catching up, serves data that old). 0 on a server that is not
#: a standby (it is current by definition).
_AGE_SQL = text("""
SELECT CASE
  WHEN NOT pg_is_in_recovery() THEN 0
  WHEN EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
       AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
  ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
END
""")


def only_copies_of(primary: Engine, replica: Engine) -> None:
    """From now on every new connection to ``replica`` is first checked to be to a copy of
    ``primary`` (the same cluster system identifier); one to another cluster is closed and
    refused, ``StoreUnavailable`` with code ``replica_not_a_copy``, so the reads that go there
    answer 503 and never another database's figures. A replica down when the platform starts is
    so checked when it comes up, and one repointed later at its next connection."""
    with reading(primary) as c:
        ours = c.execute(_IDENTITY_SQL).scalar_one()

    def check(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(str(_IDENTITY_SQL))
            theirs = cursor.fetchone()[0]
        finally:
            cursor.close()
        dbapi_connection.rollback()
        if theirs != ours:
            raise StoreUnavailable(
                f"the replica names another PostgreSQL cluster (system identifier {theirs}; "
                f"the primary's is {ours}): point HESUAN_DATABASE_REPLICA_URL at a streaming "
                "replica of the primary (pg_basebackup -R), or leave it unset to read from the "
                "primary", retry_after=60, code="replica_not_a_copy")

    event.listen(replica, "connect", check)


def not_a_copy(primary: Engine, replica: Engine) -> str | None:
    """Keep ``replica`` to copies of ``primary`` (``only_copies_of``) and connect to it once:
    why it is not a copy (another PostgreSQL cluster), or None: it is one, or it cannot be
    reached now (its reads answer 503 until it can; a replica that is down does not stop the
    platform, and it is checked when it comes up)."""
    only_copies_of(primary, replica)
    try:
        with replica.connect():
            pass
    except StoreUnavailable as exc:
        return exc.message
    except DBAPIError as exc:
        if store_unavailable(exc) is not None:
            return None
        raise
    return None


class ReadOnlyUnitsOfWork:
    """A unit-of-work factory that makes read-only units only: the replica's."""

    def __init__(self, inner: SqlUnitOfWorkFactory) -> None:
        self._inner = inner

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        if not readonly:
            raise TypeError("the replica's units of work are read-only: write on the primary")
        return self._inner(readonly=True)


class ReadSource:
    """The database the stale-tolerant reads go to: ``source`` names it (``primary`` or
    ``replica``), ``uow`` makes its units of work, ``age_s`` says how far behind it is."""

    def __init__(self, source: Literal["primary", "replica"],
                 uow: SqlUnitOfWorkFactory | ReadOnlyUnitsOfWork, engine: Engine) -> None:
        self.source = source
        self.uow = uow
        self.engine = engine

    def age_s(self) -> float:
        if self.source == "primary":
            return 0.0
        with reading(self.engine) as c:
            return max(float(c.execute(_AGE_SQL).scalar_one()), 0.0)

    def close(self) -> None:
        if self.source == "replica":
            self.engine.dispose()
