"""The SQL helpers every repository shares. Hot statements run on the database driver's own
cursor inside a SQLAlchemy connection's transaction (``fetch``, ``fetch_in``, ``execute``,
``executemany``): plain SQL with ``:name`` parameters already in the database's values
(timestamps as epoch ms), rows back as plain tuples, driver errors raised as SQLAlchemy's own
classes so that callers catch ``IntegrityError`` as before. Through SQLAlchemy a small statement
costs three to five times SQLite's own work; a single scan's transaction runs about fifteen.

Also: statements built once, lists of values (one bound parameter whatever their number:
``one_of`` and ``vals`` in SQL text, ``member_of`` and ``select_in`` in SQLAlchemy's terms; on
PostgreSQL in the binary format), bulk INSERT and UPDATE through the driver (on PostgreSQL one
statement of arrays a table), writes sent as one stream (``pipelined``), epoch-millisecond
columns, and the index range of the grids under a region.

Imports: the standard library, SQLAlchemy, ``hesuan.adapters.db.schema``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    Dialect,
    Float,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError

from hesuan.adapters.db.schema import Timestamp, from_ms, to_ms

__all__ = [
    "CHUNK",
    "TableRow",
    "as_stored",
    "cached_text",
    "chunks",
    "cursor",
    "driver_sql",
    "execute",
    "executemany",
    "fetch",
    "fetch_in",
    "from_ms_or_none",
    "grid_range",
    "insert_many",
    "iso_ms",
    "member_of",
    "one_of",
    "pipelined",
    "select_in",
    "select_in_expanding",
    "update_many",
    "vals",
]

#: Values per IN list: far below either backend's limit on bound parameters.
CHUNK = 5000


def from_ms_or_none(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def chunks(values: Sequence[Any], n: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


def grid_range(region_code: str) -> tuple[str, str]:
    """The 15-digit grid codes under a region: an index range, on both backends."""
    pad = 15 - len(region_code)
    return region_code + "0" * pad, region_code + "9" * pad


#: ``text()`` parses its SQL for parameters each time it is built: each statement is built once.
cached_text = functools.lru_cache(maxsize=256)(text)


def iso_ms(ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC (``...Z``), for reports and alert details."""
    return None if ms is None else from_ms(ms).isoformat().replace("+00:00", "Z")


def member_of(column: Any, pg: bool, name: str = "vals") -> Any:
    """``column`` is one of the values bound as ``:vals`` (or ``name``; ``vals``) — one
    parameter, whatever the number of values: an array on PostgreSQL (``= ANY``), a JSON array
    on SQLite (``json_each``). SQLAlchemy's expanding ``IN`` rendered a new statement of up to
    1,000 placeholders every call, which SQLite then prepared afresh."""
    if pg:
        return column == func.any(bindparam(name))
    return column.in_(select(literal_column("value")).select_from(
        func.json_each(bindparam(name))).scalar_subquery())


@functools.lru_cache(maxsize=128)
def select_in(column: Any, cols: tuple[Any, ...], pg: bool) -> Any:
    """SELECT cols WHERE column is one of :vals, built once per shape."""
    return select(*cols).where(member_of(column, pg))


@functools.lru_cache(maxsize=32)
def select_in_expanding(column: Any, cols: tuple[Any, ...]) -> Any:
    """SELECT cols WHERE column IN (:vals, ...), for values JSON cannot carry (bytes on
    SQLite): the one exception to a list bound as one parameter."""
    return select(*cols).where(column.in_(bindparam("vals", expanding=True)))


class TableRow(Protocol):
    """A row that goes to the driver as it is: a NamedTuple whose fields are its table's
    columns."""

    @property
    def _fields(self) -> tuple[str, ...]: ...
    def _asdict(self) -> dict[str, Any]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def __getitem__(self, i: int, /) -> Any: ...


def insert_many(conn: Connection, table: Table, rows: Sequence[TableRow]) -> None:
    """INSERT rows (all of one NamedTuple type, its fields the columns), compiled once per
    shape, the rows going to the driver as they are (a copy with timestamps as epoch ms where
    they hold any), without SQLAlchemy's per-row parameter processing, which cost as much as
    SQLite's own work on a station batch. SQLite: the driver's executemany. PostgreSQL: one
    statement for all the rows, each column bound as one array (``INSERT … SELECT FROM
    unnest``): one execution of the statement, not one a row, which on a partitioned table
    also sets up the routing of rows to partitions once instead of once a row."""
    if not rows:
        return
    if not conn.dialect.positional:
        sql, stamps = _unnest_insert_sql(conn.dialect, table, rows[0]._fields)
        cursor(conn, sql, _columns(as_stored(rows, stamps))).close()
        return
    sql, order, stamps = _insert_sql(conn.dialect, table, rows[0]._fields)
    if order is not None:
        get = operator.itemgetter(*order)
        params: Sequence[Iterable[Any]] = [get(r) for r in rows]  # in bind order
    else:
        params = rows
    cursor(conn, sql, as_stored(params, stamps), many=True).close()


def _columns(rows: Sequence[Iterable[Any]]) -> list[list[Any]]:
    """``rows`` (at least one) turned into their columns: one list a column, bound as an
    array."""
    return [list(c) for c in zip(*rows, strict=True)]


#: The array element type each kind of column is bound as on PostgreSQL (``unnest``); the
#: INSERT or UPDATE casts it to the column's own type on assignment.
_ARRAY_OF: dict[type[Any], str] = {
    String: "varchar", Text: "text", Boolean: "boolean", Integer: "bigint",
    SmallInteger: "bigint", BigInteger: "bigint", Timestamp: "bigint", Float: "float8",
}


def _array_type(table: Table, column: str) -> str:
    kind = type(table.c[column].type)
    for base, name in _ARRAY_OF.items():
        if issubclass(kind, base):
            return name + "[]"
    raise TypeError(f"{table.name}.{column}: no array binding for {kind.__name__}")


def _unnest(dialect: Dialect, table: Table, cols: tuple[str, ...]) -> str:
    """``unnest(CAST(%b AS type[]), …) AS v(col, …)``: the bound columns as a set of rows."""
    q = dialect.identifier_preparer.quote
    arrays = ", ".join(f"CAST(%b AS {_array_type(table, k)})" for k in cols)  # binary format
    return f"unnest({arrays}) AS v({', '.join(q(k) for k in cols)})"


@functools.lru_cache(maxsize=64)
def _unnest_insert_sql(dialect: Dialect, table: Table, cols: tuple[str, ...],
                       ) -> tuple[str, tuple[int, ...]]:
    q = dialect.identifier_preparer.quote
    names = ", ".join(q(k) for k in cols)
    return (f"INSERT INTO {q(table.name)} ({names}) SELECT {names} FROM "
            f"{_unnest(dialect, table, cols)}", _stamps(table, cols))


def _stamps(table: Table, cols: Sequence[str]) -> tuple[int, ...]:
    """The positions in ``cols`` of ``Timestamp`` columns (bound as epoch ms)."""
    return tuple(i for i, k in enumerate(cols) if isinstance(table.c[k].type, Timestamp))


def as_stored(rows: Sequence[Iterable[Any]], stamps: Sequence[int]) -> Sequence[Any]:
    """``rows`` with the datetimes at the positions ``stamps`` as epoch ms (``Timestamp``
    columns); the rows themselves when there are none."""
    if not stamps:
        return rows
    out = []
    for r in rows:
        t = list(r)
        for i in stamps:
            if (v := t[i]) is not None:
                t[i] = to_ms(v)
        out.append(t)
    return out


@functools.lru_cache(maxsize=64)
def _insert_sql(dialect: Dialect, table: Table, cols: tuple[str, ...],
                ) -> tuple[str, tuple[int, ...] | None, tuple[int, ...]]:
    """The INSERT in the driver's terms, the order of ``cols`` it binds (None: as given) and
    the positions of its timestamps."""
    compiled = insert(table).values({k: bindparam(k) for k in cols}).compile(dialect=dialect)
    bound = tuple(compiled.positiontup or cols)
    return (compiled.string, None if bound == cols else tuple(cols.index(k) for k in bound),
            _stamps(table, bound))


def update_many(conn: Connection, table: Table, rows: Sequence[TableRow],
                kept_if_none: frozenset[str] = frozenset()) -> None:
    """UPDATE by primary key ``id`` for many rows (all of one NamedTuple type: the columns to
    set, then ``id``), timestamps as epoch ms. The columns ``kept_if_none`` keep their stored
    value where a row holds None. SQLite: one executemany through the driver's cursor.
    PostgreSQL: one ``UPDATE … FROM unnest(arrays)``, the rows of one id first folded into
    one (what they leave one after the other)."""
    if not rows:
        return
    fields = rows[0]._fields
    sql, stamps = _update_sql(conn.dialect, table, fields, kept_if_none)
    if not conn.dialect.positional:
        folded = _fold_by_id(rows, fields, kept_if_none)
        cursor(conn, sql, _columns(as_stored(folded, stamps))).close()
        return
    cursor(conn, sql, as_stored(rows, stamps), many=True).close()


def _fold_by_id(rows: Sequence[TableRow], fields: tuple[str, ...],
                kept_if_none: frozenset[str]) -> Sequence[Any]:
    """One row an id: a later row's values over an earlier one's, except a None in a column
    ``kept_if_none``, which keeps the earlier value."""
    by_id: dict[Any, list[Any]] = {}
    kept = [i for i, k in enumerate(fields) if k in kept_if_none]
    for r in rows:
        if (seen := by_id.get(r[-1])) is None:
            by_id[r[-1]] = list(r)
            continue
        new = list(r)
        for i in kept:
            if new[i] is None:
                new[i] = seen[i]
        by_id[r[-1]] = new
    return rows if len(by_id) == len(rows) else list(by_id.values())


@functools.lru_cache(maxsize=32)
def _update_sql(dialect: Dialect, table: Table, cols: tuple[str, ...],
                kept_if_none: frozenset[str]) -> tuple[str, tuple[int, ...]]:
    """The UPDATE by ``id`` in the driver's terms and the positions of its timestamps: a row of
    parameters on SQLite, the columns of ``unnest`` (``v``) on PostgreSQL."""
    if cols[-1] != "id":
        raise ValueError(f"an update row binds its id last: {cols}")
    q = dialect.identifier_preparer.quote
    t = q(table.name)
    pg = not dialect.positional
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    value = {k: f"v.{q(k)}" if pg else mark for k in cols}
    sets = ", ".join(f"{q(k)} = COALESCE({value[k]}, {t}.{q(k)})" if k in kept_if_none
                     else f"{q(k)} = {value[k]}" for k in cols[:-1])
    where = (f"FROM {_unnest(dialect, table, cols)} WHERE {t}.id = v.id" if pg
             else f"WHERE id = {mark}")
    return f"UPDATE {t} SET {sets} {where}", _stamps(table, cols)


def one_of(column: str, pg: bool, name: str = "vals") -> str:
    """SQL for "``column`` is one of the values bound as ``:vals``" (or ``:name``, for a second
    list in the same statement; ``vals``): an array on PostgreSQL, a JSON array on SQLite, one
    parameter whatever their number."""
    return (f"{column} = ANY(:{name})" if pg
            else f"{column} IN (SELECT value FROM json_each(:{name}))")


def vals(values: Sequence[Any], pg: bool) -> Any:
    """A list of values bound as one parameter, ``:vals``: an array on PostgreSQL (``= ANY``),
    a JSON array on SQLite (``json_each``), so that the statement is the same whatever their
    number (``one_of`` in SQL text, ``member_of`` in SQLAlchemy's terms)."""
    return list(values) if pg else json.dumps(list(values))


@functools.lru_cache(maxsize=256)
def driver_sql(dialect: Dialect, sql: str) -> tuple[str, tuple[str, ...] | None]:
    """``sql`` in the driver's parameter style, and the parameter order if positional. On
    PostgreSQL a list of values (``= ANY(:vals)``, ``CAST(:x AS type[])``) is bound in the
    binary format: the driver's text format quotes each element in Python, which cost more
    of a station batch's CPU than any statement."""
    compiled = text(sql).compile(dialect=dialect)
    if dialect.positional:
        return compiled.string, tuple(compiled.positiontup or ())
    return _ARRAY_PARAM.sub(r"\1b", compiled.string), None


#: A bound list on PostgreSQL (psycopg's ``%(name)s``): as ``= ANY(...)`` or cast to an array.
_ARRAY_PARAM = re.compile(r"(?:(?<=ANY\()|(?<=CAST\())(%\(\w+\))s(?=\)| AS \w+\[\]\))")


def _run(conn: Connection, sql: str, params: Any, many: bool) -> Any:
    stmt, order = driver_sql(conn.dialect, sql)
    if order is not None:
        params = ([tuple(p[k] for k in order) for p in params] if many
                  else tuple(params[k] for k in order))
    return cursor(conn, stmt, params, many)


def cursor(conn: Connection, stmt: str, params: Any, many: bool = False) -> Any:
    """The driver's cursor after running ``stmt``, already in the driver's own parameter style
    with ``params`` to match (for statements SQLAlchemy compiled once)."""
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    dbapi = conn.dialect.loaded_dbapi
    try:
        (cur.executemany if many else cur.execute)(stmt, params)
    except dbapi.Error as exc:
        cur.close()
        raise DBAPIError.instance(stmt, params, exc, dbapi.Error,
                                  dialect=conn.dialect) from exc
    return cur


@contextlib.contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """The block's statements, on PostgreSQL, sent one after another without waiting for each
    one's answer (the driver's pipeline mode): the server works through them while the block
    builds the next, and a statement's error is raised when the block ends, as SQLAlchemy's
    class. For writes whose answers the block does not read. SQLite: as they are."""
    if conn.dialect.name != "postgresql":
        yield
        return
    dbapi = conn.dialect.loaded_dbapi
    try:
        with conn.connection.driver_connection.pipeline():  # type: ignore[union-attr]
            yield
    except dbapi.Error as exc:
        raise DBAPIError.instance("(pipelined statements)", None, exc, dbapi.Error,
                                  dialect=conn.dialect) from exc


def fetch(conn: Connection, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of a read."""
    cur = _run(conn, sql, params, many=False)
    try:
        return list(cur.fetchall())
    finally:
        cur.close()


def fetch_in(conn: Connection, sql: str, values: Iterable[Any], pg: bool,
             params: Mapping[str, Any] | None = None,
             chunk: int = 10_000) -> list[tuple[Any, ...]]:
    """The rows of a read whose ``:vals`` (``one_of``) are ``values``, without repeats, bound
    ``chunk`` at a time."""
    distinct = list(dict.fromkeys(values))
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(distinct), chunk):
        out.extend(fetch(conn, sql, {**(params or {}), "vals": vals(distinct[i:i + chunk], pg)}))
    return out


def execute(conn: Connection, sql: str, params: Mapping[str, Any]) -> int:
    """A write; the number of rows it changed."""
    cur = _run(conn, sql, params, many=False)
    try:
        return int(cur.rowcount)
    finally:
        cur.close()


def executemany(conn: Connection, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """One statement for many rows, by the driver's ``executemany``."""
    if rows:
        _run(conn, sql, rows, many=True).close()
