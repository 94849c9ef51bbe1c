"""Where the reads that may be stale are served: the primary, or a read-only PostgreSQL
streaming replica (``HESUAN_DATABASE_REPLICA_URL``), and how far behind that replica is.

The composition root gives the replica's units of work to the services whose reads may lag a
few seconds (dashboards, reports, the rosters' coverage); writes never reach it, as its
factory refuses a writing unit of work (and a hot standby refuses the statements besides).
At start it checks that the replica is a copy of the primary (``not_a_copy``): a URL that
names another cluster would show another database's figures as the city's.

Imports: SQLAlchemy, ``hesuan.adapters.db``.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from hesuan.adapters.db.engine import reading, store_unavailable
from hesuan.adapters.db.store import SqlUnitOfWork, SqlUnitOfWorkFactory

__all__ = ["ReadOnlyUnitsOfWork", "ReadSource", "not_a_copy"]

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


def not_a_copy(primary: Engine, replica: Engine) -> str | None:
    """Why ``replica`` is not a copy of ``primary`` (another PostgreSQL cluster), or None: it
    is one, or it cannot be reached now (its reads answer 503 until it can; a replica that is
    down does not stop the platform)."""
    try:
        with replica.connect() as c:
            theirs = c.execute(_IDENTITY_SQL).scalar_one()
    except DBAPIError as exc:
        if store_unavailable(exc) is not None:
            return None
        raise
    with reading(primary) as c:
        ours = c.execute(_IDENTITY_SQL).scalar_one()
    if theirs == ours:
        return None
    return (f"it names another PostgreSQL cluster (system identifier {theirs}; the primary's "
            f"is {ours}): point it at a streaming replica of the primary (pg_basebackup -R), "
            "or leave it unset to read from the primary")


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
