"""Storage of venues and venue checks. A repository of ``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``.
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import insert, select

from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import venue_checks, venues
from hesuan.services.status_ports import VenueCheckRow, VenueRow

__all__ = ["SqlVenues"]


class SqlVenues(SqlRepository):

    def add_venue(self, row: VenueRow) -> None:
        self.conn.execute(insert(venues), asdict(row))

    def venue(self, venue_id: str) -> VenueRow | None:
        r = self.conn.execute(select(venues).where(venues.c.id == venue_id)).first()
        return None if r is None else VenueRow(**r._mapping)

    def venue_by_code(self, code: str) -> VenueRow | None:
        r = self.conn.execute(select(venues).where(venues.c.code == code)).first()
        return None if r is None else VenueRow(**r._mapping)

    def all(self) -> list[VenueRow]:
        return [VenueRow(**r._mapping) for r in self.conn.execute(
            select(venues).order_by(venues.c.name))]

    def add_venue_check(self, row: VenueCheckRow) -> None:
        self.conn.execute(insert(venue_checks), asdict(row))

    def venue_checks(self, venue_id: str, limit: int) -> list[VenueCheckRow]:
        return [VenueCheckRow(**r._mapping) for r in self.conn.execute(
            select(venue_checks).where(venue_checks.c.venue_id == venue_id)
            .order_by(venue_checks.c.at.desc()).limit(limit))]
