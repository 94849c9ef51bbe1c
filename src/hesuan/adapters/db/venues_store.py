"""Storage of venues and venue checks. A repository of ``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import to_ms, venue_checks, venues
from hesuan.adapters.db.sql_helpers import cached_text

__all__ = ["SqlVenues"]


class SqlVenues(SqlRepository):

    def add_venue(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(venues), row)

    def venue(self, venue_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(venues).where(venues.c.id == venue_id)).first()
        return None if r is None else dict(r._mapping)

    def venue_by_code(self, code: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(venues).where(venues.c.code == code)).first()
        return None if r is None else dict(r._mapping)

    def all(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(
            select(venues).order_by(venues.c.name))]

    def add_venue_check(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(venue_checks), row)

    def venue_checks(self, venue_id: str, limit: int) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(
            select(venue_checks).where(venue_checks.c.venue_id == venue_id)
            .order_by(venue_checks.c.at.desc()).limit(limit))]

    def purge_venue_checks(self, before: datetime) -> int:
        return int(self.conn.execute(cached_text("DELETE FROM venue_checks WHERE at < :t"),
                                     {"t": to_ms(before)}).rowcount)
