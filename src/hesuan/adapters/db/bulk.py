"""Bulk loading of a whole population (the synthetic city generator, large imports).

The normal path (``SqlUnitOfWork.insert_people``) checks every row against the people already
stored; a city of millions is instead streamed in as prepared rows, in the column order of
``PEOPLE_COLUMNS`` (the same fields as ``services.ports.NewPerson`` plus ``created_at`` in epoch
milliseconds), with a ``person_status`` row ("none") for each person.

* SQLite: rows are written by worker processes into small *shard* files (no indexes, no
  journal), and the loader copies each shard into the database with one
  ``INSERT ... SELECT`` — the copy runs inside SQLite, not in Python. While the people table is
  empty its secondary indexes are dropped and rebuilt once at the end (a sort instead of millions
  of random B-tree inserts); the database is switched out of WAL for the load and back after.
  A load that is interrupted leaves a database to throw away (``--fresh``).
* PostgreSQL: each worker ``COPY``s its rows straight into the tables.

Imports: SQLAlchemy, ``sqlite3``/``psycopg`` (the drivers), ``hesuan.adapters.db``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.engine import make_url

from hesuan.adapters.db import status_sql
from hesuan.adapters.db.schema import boxes, households, people, sites, tubes, users

__all__ = [
    "PEOPLE_COLUMNS",
    "BulkPeopleLoader",
    "ShardWriter",
    "accounts",
    "copy_people_pg",
    "insert_households",
    "insert_sites",
    "insert_users",
    "last_serials",
    "last_tube_opened",
    "people_count",
    "person_ids",
    "read_roster",
]

PEOPLE_COLUMNS: tuple[str, ...] = (
    "id", "id_kind", "id_hash", "id_enc", "id_last4", "name_enc", "name_masked", "phone_enc",
    "phone_hash", "grid_code", "household_id", "address", "groups", "birth_year", "language",
    "created_at",
)
_COLS = ", ".join(PEOPLE_COLUMNS)
_MARKS = ", ".join("?" for _ in PEOPLE_COLUMNS)
#: Tables whose secondary (non-unique, non-key) indexes are rebuilt after a load into empty tables.
_REINDEXED = ("people", "person_status")


def people_count(engine: Engine) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(people)).scalar_one())


def read_roster(engine: Engine) -> list[tuple[str, str, str | None, str]]:
    """(id, grid code, household id, groups) of every person, in id order (the simulator's
    population; no personal data)."""
    with engine.connect() as c:
        return [(r[0], r[1], r[2], r[3]) for r in c.execute(
            select(people.c.id, people.c.grid_code, people.c.household_id, people.c.groups)
            .order_by(people.c.id))]


def accounts(engine: Engine) -> list[tuple[str, str, str | None]]:
    """(username, role, scope) of every active user, by role then name."""
    with engine.connect() as c:
        return [(r[0], r[1], r[2]) for r in c.execute(
            select(users.c.username, users.c.role, users.c.scope)
            .where(users.c.active.is_(True)).order_by(users.c.role, users.c.username))]


def person_ids(engine: Engine, n: int) -> list[str]:
    """The first ``n`` people's ids (in id order): the demo prints their sampling codes."""
    with engine.connect() as c:
        return [r[0] for r in c.execute(select(people.c.id).order_by(people.c.id).limit(n))]


def last_serials(engine: Engine) -> tuple[int, int]:
    """The highest tube and box serial numbers in use (barcode without its check digit), so a
    simulated round on a database that already has tubes uses fresh barcodes."""
    with engine.connect() as c:
        tube = c.execute(select(func.max(tubes.c.barcode))).scalar_one_or_none()
        box = c.execute(select(func.max(boxes.c.code))).scalar_one_or_none()
    return (int(tube[:12]) if tube else 0, int(box[2:11]) if box else 0)


def last_tube_opened(engine: Engine) -> datetime | None:
    """When the latest tube in the database was opened (None: no tube yet)."""
    with engine.connect() as c:
        return c.execute(select(func.max(tubes.c.opened_at))).scalar_one_or_none()


def insert_households(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert households' locations in one transaction (rows as the ``households`` table)."""
    with engine.begin() as c:
        for i in range(0, len(rows), 5000):
            c.execute(insert(households), list(rows[i : i + 5000]))


def insert_sites(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many sampling sites in one transaction (rows as the ``sites`` table)."""
    with engine.begin() as c:
        for i in range(0, len(rows), 2000):
            c.execute(insert(sites), list(rows[i : i + 2000]))


def insert_users(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many users in one transaction (rows as the ``users`` table)."""
    with engine.begin() as c:
        c.execute(insert(users), list(rows))


class ShardWriter:
    """A throw-away SQLite file holding one slice of the population (written by a worker)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self._con = sqlite3.connect(path, isolation_level=None)
        self._con.execute("PRAGMA journal_mode=OFF")
        self._con.execute("PRAGMA synchronous=OFF")
        self._con.execute(f"CREATE TABLE people ({_COLS})")
        self._con.execute("BEGIN")

    def write(self, rows: Iterable[tuple[Any, ...]]) -> None:
        self._con.executemany(f"INSERT INTO people VALUES ({_MARKS})", rows)

    def close(self) -> None:
        self._con.execute("COMMIT")
        self._con.close()


def copy_people_pg(url: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY prepared people rows and their status rows into PostgreSQL (one transaction)."""
    import psycopg

    u = make_url(url).set(drivername="postgresql")
    with psycopg.connect(u.render_as_string(hide_password=False)) as con, con.cursor() as cur:
        with cur.copy(f"COPY people ({_COLS}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        with cur.copy("COPY person_status (person_id, test_state, updated_at) FROM STDIN") as cp:
            for r in rows:
                cp.write_row((r[0], "none", r[-1]))


class BulkPeopleLoader:
    """Prepares a database for a population load and restores it afterwards.

    Use as a context manager; on SQLite call ``load_shard`` for each shard file. The engine's
    pooled connections must not be in use during the load (the journal mode changes)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._con: sqlite3.Connection | None = None
        self._indexes: list[str] = []
        self.loaded = 0

    def __enter__(self) -> Self:
        if not self.sqlite:
            return self
        self._engine.dispose()
        db = make_url(self._engine.url).database
        if not db or db == ":memory:":
            raise ValueError("bulk loading needs a SQLite file database")
        con = sqlite3.connect(db, isolation_level=None, timeout=60)
        con.execute("PRAGMA journal_mode=DELETE")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-1048576")  # 1 GiB: the id_hash index stays in memory
        con.execute("PRAGMA temp_store=MEMORY")
        empty = con.execute("SELECT NOT EXISTS (SELECT 1 FROM people)").fetchone()[0]
        if empty:
            marks = ", ".join("?" for _ in _REINDEXED)
            found = con.execute(
                f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({marks})", _REINDEXED).fetchall()
            for name, sql in found:
                con.execute(f'DROP INDEX "{name}"')
                self._indexes.append(sql)
        self._con = con
        return self

    def load_shard(self, path: Path) -> int:
        """Copy one shard into people and person_status, then delete the shard file."""
        con = self._con
        assert con is not None, "load_shard needs a SQLite loader inside its with-block"
        con.execute("ATTACH DATABASE ? AS shard", (str(path),))
        try:
            con.execute("BEGIN")
            n = con.execute(f"INSERT INTO main.people ({_COLS}) SELECT {_COLS} FROM shard.people"
                            ).rowcount
            con.execute("INSERT INTO main.person_status (person_id, test_state, updated_at) "
                        f"SELECT id, {status_sql.NO_TEST_STATE}, created_at FROM shard.people")
            con.execute("COMMIT")
        finally:
            con.execute("DETACH DATABASE shard")
        path.unlink(missing_ok=True)
        self.loaded += n
        return int(n)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if not self.sqlite:
            if exc_type is None:
                # the planner's statistics for the tables just filled: without them PostgreSQL
                # guesses a large share of person_status stale and scans the whole table on
                # every station transaction's status refresh
                with self._engine.connect() as c:
                    c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                        "ANALYZE people, person_status")
            return
        con = self._con
        if con is None:
            return
        try:
            if con.in_transaction:
                con.execute("ROLLBACK")
            for sql in self._indexes:
                con.execute(sql)
            con.execute("PRAGMA journal_mode=WAL")
        finally:
            con.close()
            self._con = None
