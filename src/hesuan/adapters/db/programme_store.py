"""Storage of the end of the programme: the requests to close it, and the destruction of every
row of personal data (docs/RETENTION.md). A repository of ``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from hesuan.adapters.db.engine import BUSY_TIMEOUT_MS
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import metadata, people, programme_closures, regions, users
from hesuan.domain.json import JsonObject
from hesuan.domain.programme import ClosureStatus
from hesuan.domain.regions import Level
from hesuan.services.retention_ports import ClosureRow

__all__ = ["SqlCompactor", "SqlProgramme", "stored_name"]


def stored_name(engine: Engine) -> bytes | None:
    """One person's encrypted name, to check at start that the keys read the stored personal
    data; None when the database holds no people."""
    with engine.connect() as c:
        value = c.execute(select(people.c.name_enc).limit(1)).scalar()
    return None if value is None else bytes(value)


class SqlProgramme(SqlRepository):

    def city_code(self) -> str | None:
        return self.conn.execute(select(regions.c.code).where(regions.c.level == Level.CITY)
                                 .order_by(regions.c.code).limit(1)).scalar()

    def add_closure(self, row: ClosureRow) -> None:
        self.conn.execute(insert(programme_closures), asdict(row))

    def closure(self, closure_id: str) -> ClosureRow | None:
        r = self.conn.execute(select(programme_closures)
                              .where(programme_closures.c.id == closure_id)).first()
        return None if r is None else ClosureRow(**r._mapping)

    def closures(self) -> list[ClosureRow]:
        return [ClosureRow(**r._mapping) for r in self.conn.execute(
            select(programme_closures).order_by(programme_closures.c.requested_at.desc()))]

    def closed(self) -> bool:
        return self.conn.execute(select(programme_closures.c.id).where(
            programme_closures.c.status == ClosureStatus.CLOSED.value).limit(1)).first() is not None

    def decide_closure(self, closure_id: str, status: str, decided_by: str,
                       decided_at: datetime) -> None:
        self.conn.execute(update(programme_closures)
                          .where(programme_closures.c.id == closure_id)
                          .values(status=status, decided_by=decided_by, decided_at=decided_at))

    def set_certificate(self, closure_id: str, certificate: JsonObject) -> None:
        self.conn.execute(update(programme_closures)
                          .where(programme_closures.c.id == closure_id)
                          .values(certificate=certificate))

    def destroy(self, tables: Sequence[str]) -> Mapping[str, int]:
        """Every row of ``tables``, and how many each held. SQLite: one DELETE per table,
        children before parents (the schema's foreign keys), the freed pages overwritten with
        zeros (``secure_delete``). PostgreSQL: the tables locked, counted, and emptied by one
        TRUNCATE, which gives each table (each partition, each index) new empty files and
        removes the old ones at the commit, instead of leaving every row behind as a dead
        version for a vacuum to clear."""
        wanted = set(tables)
        if unknown := wanted - set(metadata.tables):
            raise ValueError(f"no such tables: {sorted(unknown)}")
        order = [t for t in reversed(metadata.sorted_tables) if t.name in wanted]
        if self._pg:
            names = ", ".join(f'"{t.name}"' for t in order)
            self.conn.exec_driver_sql(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
            counts = {t.name: int(self.conn.execute(select(func.count()).select_from(t))
                                  .scalar_one()) for t in order}
            self.conn.exec_driver_sql(f"TRUNCATE {names}")
            return counts
        self.conn.execute(text("PRAGMA secure_delete = ON"))
        return {t.name: int(self.conn.execute(delete(t)).rowcount) for t in order}


    def destroy_accounts(self, roles: Sequence[str]) -> int:
        return int(self.conn.execute(delete(users).where(users.c.role.in_(list(roles))))
                   .rowcount)


#: How long the close's WAL checkpoint waits for readers to finish (ms).
_CHECKPOINT_WAIT_MS = 5000


class SqlCompactor:
    """The ``StoreCompactor`` port. SQLite: ``VACUUM`` rebuilds the file from the live rows,
    then the WAL is checkpointed and truncated (its frames held the rows before they were
    deleted). PostgreSQL: ``VACUUM (FULL)`` rewrites each table into a new file and removes the
    old one, dead rows and all."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def compact(self, tables: Sequence[str]) -> str | None:
        unknown = set(tables) - set(metadata.tables)
        if unknown:
            raise ValueError(f"no such tables: {sorted(unknown)}")
        try:
            if self._engine.dialect.name == "sqlite":
                raw = self._engine.raw_connection()  # no BEGIN: VACUUM runs outside one
                try:
                    driver: Any = raw.driver_connection
                    driver.execute("VACUUM")
                    driver.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS}")
                    try:
                        busy, frames, moved = driver.execute(
                            "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    finally:  # the pooled connection's own wait again
                        driver.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                finally:
                    raw.close()
                if busy:  # SQLite answers, it does not raise: the WAL keeps the old pages
                    return (f"another connection (a reader, a backup) held the WAL: {moved} of "
                            f"{frames} frames checkpointed, the file not truncated; run "
                            "PRAGMA wal_checkpoint(TRUNCATE) once it has closed")
            else:
                with self._engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("VACUUM (FULL) " + ", ".join(
                        f'"{t}"' for t in sorted(tables)))
        except DBAPIError as exc:
            return f"{type(exc.orig).__name__}: {exc.orig}"
        return None
