"""The base of the SQL repositories: each works on its unit of work's connection, inside its
transaction, and shares these few helpers.

Imports: SQLAlchemy, ``hesuan.adapters.db``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.sql_helpers import chunks, select_in, select_in_expanding

if TYPE_CHECKING:
    from hesuan.adapters.db.store import SqlUnitOfWork

__all__ = ["SqlRepository"]

#: Values per statement of ``_in``: a bounded statement, and (bytes on SQLite, one bound
#: variable each) under SQLite's default limit of 32,766 bound variables.
_IN_CHUNK = 10000


class SqlRepository:
    """One kind of stored thing, read and written on a unit of work's connection."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow
        self.conn: Connection = uow.conn
        self._pg: bool = uow.pg
        self._engine: Engine = uow.engine

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which knows ``ON CONFLICT``."""
        return postgresql.insert(table) if self._pg else sqlite.insert(table)

    def _in(self, column: Any, values: Iterable[Any], *cols: Any,
            where: Any = None) -> list[Any]:
        """The rows (``cols``) whose ``column`` is one of ``values``, and ``where`` holds: the
        values bound as one parameter (``select_in``), bytes on SQLite one each
        (``select_in_expanding``: JSON carries no bytes)."""
        vals = list(dict.fromkeys(values))
        out: list[Any] = []
        bound: Any
        for part in chunks(vals, _IN_CHUNK):
            if not self._pg and isinstance(part[0], bytes):
                stmt, bound = select_in_expanding(column, cols), part
            else:
                stmt = select_in(column, cols, self._pg)
                bound = sql_helpers.vals(part, self._pg)
            if where is not None:
                stmt = stmt.where(where)
            out.extend(self.conn.execute(stmt, {"vals": bound}).all())
        return out

    def _changed(self, stmt: Any, params: Any) -> int:
        """Run an UPDATE and return how many rows it changed. SQLite's driver reports no
        rowcount for a statement that does not start with UPDATE, nor summed over an
        executemany; its change counter does."""
        if self._pg:
            return int(self.conn.execute(stmt, params).rowcount)
        raw: Any = self.conn.connection.driver_connection
        before = raw.total_changes
        self.conn.execute(stmt, params)
        return int(raw.total_changes - before)
