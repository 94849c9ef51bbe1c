"""Hot statements through the database driver's own cursor, inside a SQLAlchemy connection's
transaction.

A single scan's group commit is a transaction of about fifteen small statements. Through
SQLAlchemy each costs three to five times SQLite's own work (execution context, result
metadata, row objects, against the driver's cursor for one indexed ``SELECT``), so the
statements every scan
pays for go here. They are plain SQL with ``:name`` parameters, already in the database's
values (timestamps as epoch ms), and rows come back as plain tuples with the values as stored.
Driver errors are raised as SQLAlchemy's own exception classes, so callers catch
``IntegrityError`` as before.

Imports: SQLAlchemy.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

__all__ = ["cursor", "driver_sql", "execute", "executemany", "fetch", "fetch_in", "one_of",
           "vals"]


def one_of(column: str, pg: bool) -> str:
    """SQL for "``column`` is one of the values bound as ``:vals``" (``vals``): an array on
    PostgreSQL, a JSON array on SQLite, one parameter whatever their number."""
    return f"{column} = ANY(:vals)" if pg else f"{column} IN (SELECT value FROM json_each(:vals))"


def vals(values: Sequence[Any], pg: bool) -> Any:
    """A list of values bound as one parameter, ``:vals``: an array on PostgreSQL (``= ANY``),
    a JSON array on SQLite (``json_each``), so that the statement is the same whatever their
    number (``one_of``; the unit of work's ``_member_of`` in SQLAlchemy's terms)."""
    return list(values) if pg else json.dumps(list(values))


@functools.lru_cache(maxsize=256)
def driver_sql(dialect: Dialect, sql: str) -> tuple[str, tuple[str, ...] | None]:
    """``sql`` in the driver's parameter style, and the parameter order if positional."""
    compiled = text(sql).compile(dialect=dialect)
    return compiled.string, tuple(compiled.positiontup or ()) if dialect.positional else None


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
