"""Monthly partitions, on PostgreSQL, of the tables that grow with every round: their names, the
bounds of each month, and their upkeep (docs/RETENTION.md).

Each table is partitioned by range of its key, whose text leads with the time the id was made
in milliseconds (48 bits, 12 hex digits):

- ``samples`` by ``tube_id`` and ``result_log`` by ``id``: ids the server makes
  (``bootstrap.new_id``: 32 lower-case hex digits, the first 12 the time);
- ``station_events`` by ``event_id``: the ids stations make, stored in the canonical UUID form
  (``domain.event_ids.canonical_event_id``: lower case, 8-4-4-4-12), whose first 12 hex digits
  are the time in a UUIDv7 (``time_ordered_id``). The column is collated ``"C"`` (bytes) so
  that no database collation can reorder ids against the bounds.

A month ``YYYY-MM`` (UTC) is the partition ``<table>_pYYYY_MM``: the keys from the 12 hex digits
of the month's first millisecond up to those of the next month's. Everything else lands in
``<table>_default``: ids that are not time-led (a station's UUIDv4, a lane's UUIDv5, an id of a
month with no partition yet). A random id may also fall in a month's range by chance; the
retention pass checks every row of a partition before dropping it, so that costs nothing.

PostgreSQL refuses a partition whose range holds rows of the default partition, so ``ensure``
makes each new month as a table of its own, moves that range's rows out of the default into
it, and then attaches it. The upkeep runs under one advisory lock, in the migration and at
every retention pass (``keep_ahead``: this month and the next ``MONTHS_AHEAD``).

Imports: SQLAlchemy and the standard library.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

__all__ = ["MONTHS_AHEAD", "PARTITIONED", "Layout", "Partition", "add_months", "bound",
           "default_name", "drop", "ensure", "is_partition", "keep_ahead", "lock_parents",
           "month_of", "months", "partition_name", "partitioned", "partitions"]

#: Months after the current one whose partitions always exist.
MONTHS_AHEAD = 2

#: The advisory lock of the upkeep (the migrations' is 74110011).
PARTITION_LOCK = 74110012


@dataclass(frozen=True, slots=True)
class Layout:
    """A partitioned table: its name, its key, and the key's form (True: a UUID's 8-4-4-4-12
    text; False: 32 hex digits)."""

    table: str
    key: str
    uuid_text: bool


#: The partitioned tables, in the order the station's writes take them (a pass that drops
#: partitions locks them in this order).
PARTITIONED = (
    Layout("station_events", "event_id", True),
    Layout("samples", "tube_id", False),
    Layout("result_log", "id", False),
)
_LAYOUT = {t.table: t for t in PARTITIONED}

_TABLES = "|".join(t.table for t in PARTITIONED)
_NAME = re.compile(rf"(?P<table>{_TABLES})_(?:p(?P<y>\d{{4}})_(?P<m>\d{{2}})|default)")


@dataclass(frozen=True, slots=True)
class Partition:
    """One month's partition of ``table``: ``month`` its first day (UTC)."""

    table: str
    name: str
    month: date

    @property
    def end(self) -> datetime:
        """The first instant after the month."""
        m = add_months(self.month, 1)
        return datetime(m.year, m.month, 1, tzinfo=UTC)

    @property
    def bounds(self) -> tuple[str, str]:
        return bound(self.table, self.month), bound(self.table, add_months(self.month, 1))


def month_of(at: datetime) -> date:
    at = at.astimezone(UTC)
    return date(at.year, at.month, 1)


def add_months(month: date, n: int) -> date:
    k = month.year * 12 + month.month - 1 + n
    return date(k // 12, k % 12 + 1, 1)


def months(first: date, last: date) -> Iterator[date]:
    """The months from ``first`` to ``last``, both included."""
    m = date(first.year, first.month, 1)
    while m <= last:
        yield m
        m = add_months(m, 1)


def bound(table: str, month: date) -> str:
    """The least key of ``table`` made in ``month``: the 12 hex digits of its first
    millisecond, in the key's form."""
    ms = int(datetime(month.year, month.month, 1, tzinfo=UTC).timestamp() * 1000)
    digits = f"{ms:012x}"
    return f"{digits[:8]}-{digits[8:]}" if _LAYOUT[table].uuid_text else digits


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def is_partition(name: str) -> bool:
    """Whether ``name`` is one of the partitions (which the schema does not declare)."""
    return _NAME.fullmatch(name) is not None


def partitioned(conn: Connection, table: str) -> bool:
    """Whether ``table`` is partitioned in this database (PostgreSQL, after migration 0014)."""
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE oid = to_regclass(:t) AND relkind = 'p')"),
        {"t": table}).scalar_one())


def partitions(conn: Connection, table: str) -> list[Partition]:
    """The month partitions of ``table``, by month (not the default)."""
    names = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass(:t)"), {"t": table}).scalars()
    out = []
    for name in names:
        if (m := _NAME.fullmatch(name)) and m["y"]:
            out.append(Partition(table, name, date(int(m["y"]), int(m["m"]), 1)))
    return sorted(out, key=lambda p: p.month)


def ensure(conn: Connection, wanted: Iterable[date],
           tables: Iterable[str] = tuple(_LAYOUT), lock_wait_ms: int | None = None) -> list[str]:
    """Make the partitions of the ``wanted`` months of ``tables`` that are missing (and the
    default partition), moving the rows of each new month's range out of the default first.
    The names of the partitions made.

    Attaching a month locks the default partition, so it waits for any transaction that
    holds the table, and every reader of the table waits behind it. With ``lock_wait_ms``
    (a retention pass) a month that cannot be attached within that time is left, with the
    table's later months, to a later pass: their rows wait in the default partition
    meanwhile. Without it (the migration) each month waits as long as it takes."""
    conn.execute(text(f"SELECT pg_advisory_xact_lock({PARTITION_LOCK})"))
    made = []
    wanted = sorted(set(wanted))
    for table in tables:
        default = default_name(table)
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": default}).scalar_one() is None:
            conn.exec_driver_sql(f"CREATE TABLE {default} PARTITION OF {table} DEFAULT")
        have = {p.month for p in partitions(conn, table)}
        for month in wanted:
            if month in have:
                continue
            if lock_wait_ms is None:
                _attach_month(conn, table, month)
            elif not _within(conn, lock_wait_ms,
                             functools.partial(_attach_month, conn, table, month)):
                break  # the table is held: its later months would wait for the same lock
            made.append(partition_name(table, month))
    return made


def _attach_month(conn: Connection, table: str, month: date) -> None:
    key, default, name = _LAYOUT[table].key, default_name(table), partition_name(table, month)
    lo, hi = bound(table, month), bound(table, add_months(month, 1))
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE {table})")
    conn.exec_driver_sql(
        f"WITH moved AS (DELETE FROM {default} WHERE {key} >= '{lo}' AND {key} < '{hi}' "
        f"RETURNING *) INSERT INTO {name} SELECT * FROM moved")
    conn.exec_driver_sql(f"ALTER TABLE {table} ATTACH PARTITION {name} "
                         f"FOR VALUES FROM ('{lo}') TO ('{hi}')")


def _within(conn: Connection, timeout_ms: int, statements: Callable[[], object]) -> bool:
    """``statements`` in a savepoint whose locks are waited for at most ``timeout_ms``; False
    (and nothing of them done) when that is not enough or would deadlock."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout_ms)}")
            statements()
            conn.exec_driver_sql("SET LOCAL lock_timeout = DEFAULT")
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) not in ("55P03", "40P01"):
            raise
        return False
    return True


def keep_ahead(conn: Connection, now: datetime, lock_wait_ms: int | None = None) -> list[str]:
    """``ensure`` this month's partitions and the next ``MONTHS_AHEAD`` months' (waiting at
    most ``lock_wait_ms`` for each), then analyse each partitioned table as a whole:
    autovacuum analyses partitions, never the table they make up, and the planner reads that
    table's own statistics for a join over all of it (a results batch's samples). ``ANALYZE``
    of a partitioned table analyses each partition too, reading a fixed sample of rows from
    each, whatever its size."""
    first = month_of(now)
    made = ensure(conn, months(first, add_months(first, MONTHS_AHEAD)),
                  lock_wait_ms=lock_wait_ms)
    conn.exec_driver_sql("ANALYZE " + ", ".join(t.table for t in PARTITIONED))
    return made


def lock_parents(conn: Connection, tables: Iterable[str], timeout_ms: int) -> bool:
    """Lock ``tables`` (partitioned ones), in ``PARTITIONED``'s order, as dropping a partition
    must (``ACCESS EXCLUSIVE``, to the end of the transaction), waiting at most ``timeout_ms``;
    False (and nothing locked) when that is not enough or would deadlock. Writers and readers
    of those tables wait from then to the commit."""
    names = [t.table for t in PARTITIONED if t.table in set(tables)]
    return _within(conn, timeout_ms, lambda: conn.exec_driver_sql(
        f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE"))


def drop(conn: Connection, partition: Partition) -> int:
    """Drop ``partition``; the rows it held. Dropped while attached, not detached first: a
    detached samples partition would be a table of its own whose foreign keys need triggers
    on ``tubes`` and ``people``, and making and dropping them locks those two tables for
    every reader until the commit; dropping the attached partition locks only its parent."""
    rows = int(conn.exec_driver_sql(f"SELECT count(*) FROM {partition.name}").scalar_one())
    conn.exec_driver_sql(f"DROP TABLE {partition.name}")
    return rows
