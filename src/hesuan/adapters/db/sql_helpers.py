"""The SQL helpers every repository shares: statements built once, IN lists (chunks of values,
named bind marks, one bound parameter whatever the number of values), bulk INSERT and UPDATE
through the driver, epoch-millisecond columns, and the index range of the grids under a region.

Imports: the standard library, SQLAlchemy, ``hesuan.adapters.db.driver`` and ``schema``.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
)

from hesuan.adapters.db import driver
from hesuan.adapters.db.schema import Timestamp, from_ms, to_ms

__all__ = ["CHUNK", "cached_text", "chunks", "from_ms_or_none", "grid_range", "in_marks",
           "insert_many",
           "iso_ms", "select_in", "select_in_expanding", "update_many"]

#: Values per IN list: far below either backend's limit on bound parameters.
CHUNK = 5000


def from_ms_or_none(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def chunks(values: Sequence[Any], n: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


def in_marks(values: Sequence[Any], prefix: str = "v") -> tuple[str, dict[str, Any]]:
    """``":v0, :v1, ..."`` and its parameters, for ``IN (...)`` in a text statement."""
    return (", ".join(f":{prefix}{i}" for i in range(len(values))),
            {f"{prefix}{i}": v for i, v in enumerate(values)})


def grid_range(region_code: str) -> tuple[str, str]:
    """The 15-digit grid codes under a region: an index range, on both backends."""
    pad = 15 - len(region_code)
    return region_code + "0" * pad, region_code + "9" * pad


#: ``text()`` parses its SQL for parameters each time it is built: each statement is built once.
cached_text = functools.lru_cache(maxsize=256)(text)


def iso_ms(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC (``...Z``), for reports and alert details."""
    return None if ms is None else from_ms(ms).isoformat().replace("+00:00", "Z")



def _member_of(column: Any, pg: bool) -> Any:
    """``column`` is one of the values bound as ``:vals`` — one parameter, whatever the number
    of values: an array on PostgreSQL (``= ANY``), a JSON array on SQLite (``json_each``).
    SQLAlchemy's expanding ``IN`` rendered a new statement of up to 1,000 placeholders every
    call, which SQLite then prepared afresh."""
    if pg:
        return column == func.any(bindparam("vals"))
    return column.in_(select(literal_column("value")).select_from(
        func.json_each(bindparam("vals"))).scalar_subquery())


@functools.lru_cache(maxsize=128)
def select_in(column: Any, cols: tuple[Any, ...], pg: bool) -> Any:
    """SELECT cols WHERE column is one of :vals, built once per shape."""
    return select(*cols).where(_member_of(column, pg))


@functools.lru_cache(maxsize=32)
def select_in_expanding(column: Any, cols: tuple[Any, ...]) -> Any:
    """SELECT cols WHERE column IN (:vals, ...), for values JSON cannot carry (bytes)."""
    return select(*cols).where(column.in_(bindparam("vals", expanding=True)))


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows (all with the same keys). On SQLite by the driver's executemany: the
    statement is compiled once per shape and the rows go as plain tuples, skipping
    SQLAlchemy's per-row parameter processing, which cost as much as SQLite's own work on a
    station batch. PostgreSQL keeps SQLAlchemy's multi-row
    VALUES ("insertmanyvalues"), which measured the same. Timestamps become epoch ms."""
    if not rows:
        return
    if not conn.dialect.positional:
        conn.execute(insert(table), list(rows))
        return
    sql, names, stamps = _insert_sql(conn.dialect, table, tuple(rows[0]))
    driver.cursor(conn, sql, _tuples(rows, names, stamps), many=True).close()


def _tuples(rows: Sequence[dict[str, Any]], names: tuple[str, ...],
            stamps: Iterable[str]) -> list[tuple[Any, ...]]:
    """The rows as the driver's parameter tuples in ``names`` order, with the datetimes of the
    ``stamps`` columns as epoch ms."""
    get = operator.itemgetter(*names)
    at = [i for i, k in enumerate(names) if k in stamps]
    if len(names) == 1:
        return [(get(r),) for r in rows] if not at else [
            (to_ms(v) if isinstance(v := get(r), datetime) else v,) for r in rows]
    if not at:
        return [get(r) for r in rows]
    out = []
    for r in rows:
        t = list(get(r))
        for i in at:
            if isinstance(v := t[i], datetime):
                t[i] = to_ms(v)
        out.append(tuple(t))
    return out


@functools.lru_cache(maxsize=64)
def _insert_sql(dialect: Dialect, table: Table,
                cols: tuple[str, ...]) -> tuple[str, tuple[str, ...], frozenset[str]]:
    compiled = insert(table).values({k: bindparam(k) for k in cols}).compile(dialect=dialect)
    stamps = frozenset(k for k in cols if isinstance(table.c[k].type, Timestamp))
    return compiled.string, tuple(compiled.positiontup or cols), stamps


def update_many(conn: Connection, table: Table, rows: dict[str, dict[str, Any]]) -> None:
    """UPDATE by primary key ``id`` for many rows, one executemany per set of columns, through
    the driver (``driver.executemany``); each value goes through its column type's bind processing
    (timestamps to epoch ms, booleans) as SQLAlchemy would do it."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row_id, values in rows.items():
        keys = tuple(sorted(values))
        if keys:
            groups[keys].append(values | {"id": row_id})
    for keys, params in groups.items():
        procs = [(k, p) for k in keys
                 if (p := table.c[k].type.bind_processor(conn.dialect)) is not None]
        if procs:
            params = [r | {k: p(r[k]) for k, p in procs} for r in params]
        q = conn.dialect.identifier_preparer.quote
        sets = ", ".join(f"{q(k)} = :{k}" for k in keys)
        driver.executemany(conn, f"UPDATE {q(table.name)} SET {sets} WHERE id = :id", params)
