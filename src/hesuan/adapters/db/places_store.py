"""Storage of regions (district to grid), sampling sites and labs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict

from sqlalchemy import insert, select

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    labs,
    regions,
    sites,
)
from hesuan.adapters.db.sql_helpers import (
    chunks,
)
from hesuan.services.people_ports import LabRow, NewLab, NewSite, RegionRow, SiteRow

__all__ = ["SqlPlaces"]



class SqlPlaces(SqlRepository):
    """Regions, sites and labs."""

    def upsert_regions(self, rows: Sequence[RegionRow]) -> None:
        stmt = self._insert(regions)
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={"name": stmt.excluded.name, "level": stmt.excluded.level,
                  "parent_code": stmt.excluded.parent_code})
        for part in chunks([asdict(r) for r in rows], 2000):
            self.conn.execute(stmt, list(part))

    def grid_codes(self) -> set[str]:
        return {r[0] for r in self.conn.execute(
            select(regions.c.code).where(regions.c.level == "grid"))}

    def region(self, code: str) -> RegionRow | None:
        r = self.conn.execute(select(regions).where(regions.c.code == code)).first()
        return None if r is None else RegionRow(**r._mapping)

    def add_site(self, row: NewSite) -> None:
        self.conn.execute(insert(sites), asdict(row))

    def sites(self, ids: Iterable[str] | None = None) -> list[SiteRow]:
        if ids is None:
            return [SiteRow(*r) for r in sql_helpers.fetch(self.conn, _SITES + "ORDER BY name", {})]
        return [SiteRow(*r) for r in sql_helpers.fetch_in(self.conn, _SITES_IN[self._pg], ids,
                                                     self._pg)]

    def add_lab(self, row: NewLab) -> None:
        self.conn.execute(insert(labs), asdict(row))

    def labs(self) -> list[LabRow]:
        return [LabRow(*r) for r in self.conn.execute(_LABS.order_by(labs.c.name))]

    def lab(self, lab_id: str) -> LabRow | None:
        r = self.conn.execute(_LABS.where(labs.c.id == lab_id)).first()
        return None if r is None else LabRow(*r)


_LABS = select(labs.c.id, labs.c.name, labs.c.region_code, labs.c.daily_capacity)

_SITES = ("SELECT id, name, kind, region_code, lat, lng, opening_hours, windows, status "
          "FROM sites ")


_SITES_IN = {pg: _SITES + "WHERE " + sql_helpers.one_of("id", pg) for pg in (False, True)}
