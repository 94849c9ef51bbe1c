"""Storage of venues and venue checks. Mixed into ``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from hesuan.adapters.db.schema import venue_checks, venues

__all__ = ["VenueStoreMixin"]


class VenueStoreMixin:
    conn: Connection

    def add_venue(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(venues), row)

    def venue(self, venue_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(venues).where(venues.c.id == venue_id)).first()
        return None if r is None else dict(r._mapping)

    def venue_by_code(self, code: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(venues).where(venues.c.code == code)).first()
        return None if r is None else dict(r._mapping)

    def venues(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(
            select(venues).order_by(venues.c.name))]

    def add_venue_check(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(venue_checks), row)

    def venue_checks(self, venue_id: str, limit: int) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(
            select(venue_checks).where(venue_checks.c.venue_id == venue_id)
            .order_by(venue_checks.c.at.desc()).limit(limit))]
