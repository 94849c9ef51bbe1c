"""Storage of the lanes (the ``LaneRepository`` port): the two lanes' entries, lane events, queue
lengths and recent swabs. A repository of ``SqlUnitOfWork``.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text

from hesuan.adapters.db import sql_helpers
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    from_ms,
    lane_entries,
    station_events,
    to_ms,
)
from hesuan.adapters.db.sql_helpers import member_of
from hesuan.domain.sampling import TubeStatus
from hesuan.services.lanes_ports import LaneEntry, LaneLapse, LaneSwab
from hesuan.services.sampling_ports import StationEventRow

__all__ = ["WAITING_SQL", "SqlLanes"]

#: A registration waiting for its swab: not swabbed, not lapsed (its person barred from the
#: tube at a swab), its tube still open (one sealed before the swab lapses: the person
#: registers again, and is out of the queue), and the person not sampled into it otherwise (at
#: a window of the single lane); a condition on ``lane_entries`` named ``entries``.
WAITING_SQL = ("{entries}.swabbed_at IS NULL AND {entries}.lapsed_at IS NULL AND EXISTS "
               "(SELECT 1 FROM tubes t WHERE "
               "t.barcode = {entries}.barcode AND t.status = "
               f"'{TubeStatus.OPEN.value}' AND NOT EXISTS (SELECT 1 FROM samples s "
               "WHERE s.tube_id = t.id AND s.person_id = {entries}.person_id))")
_WAITING = text(WAITING_SQL.format(entries="lane_entries"))
_HOLD_PEOPLE = ("SELECT id FROM people WHERE " + sql_helpers.one_of("id", True)
                + " ORDER BY id FOR UPDATE")


class SqlLanes(SqlRepository):

    # -- site lanes ------------------------------------------------------------------------

    def _lane(self, r: Any) -> LaneEntry:
        return LaneEntry(r.event_id, r.site_id, r.window, r.barcode, r.person_id,
                         r.registered_at, r.swabbed_at, r.swab_event_id)

    def lane_pending(self, site_id: str, person_ids: Iterable[str] | None = None,
                     barcodes: Iterable[str] | None = None) -> list[LaneEntry]:
        stmt = select(lane_entries).where(lane_entries.c.site_id == site_id, _WAITING)
        params: dict[str, Any] = {}
        if person_ids is not None:
            stmt = stmt.where(member_of(lane_entries.c.person_id, self._pg, name="people"))
            params["people"] = sql_helpers.vals(list(person_ids), self._pg)
        if barcodes is not None:
            stmt = stmt.where(member_of(lane_entries.c.barcode, self._pg, name="barcodes"))
            params["barcodes"] = sql_helpers.vals(list(barcodes), self._pg)
        return [self._lane(r) for r in self.conn.execute(
            stmt.order_by(lane_entries.c.registered_at), params)]

    def pending_for_people(self, person_ids: Iterable[str], *,
                           for_update: bool = False) -> dict[str, LaneEntry]:
        ids = sorted(set(person_ids))
        if for_update and self._pg:
            # their people rows locked, in one order (SQLite has one writer)
            sql_helpers.fetch_in(self.conn, _HOLD_PEOPLE, ids, self._pg)
        return {r.person_id: self._lane(r) for r in self._in(
            lane_entries.c.person_id, ids, *lane_entries.c,
            where=_WAITING)}

    def add_lane_entries(self, rows: Sequence[LaneEntry]) -> None:
        if rows:
            self.conn.execute(insert(lane_entries), [
                {"event_id": e.event_id, "site_id": e.site_id, "window": e.window,
                 "barcode": e.barcode, "person_id": e.person_id,
                 "registered_at": e.registered_at} for e in rows])

    def mark_swabbed(self, rows: Sequence[LaneSwab]) -> None:
        if rows:
            self.conn.execute(text(
                "UPDATE lane_entries SET swabbed_at = :at, swab_event_id = :ev, "
                "swab_window = :w WHERE event_id = :id AND swabbed_at IS NULL"),
                [{"id": i, "at": to_ms(at), "ev": ev, "w": w} for i, at, ev, w in rows])

    def lapse(self, rows: Sequence[LaneLapse]) -> None:
        if rows:
            self.conn.execute(text(
                "UPDATE lane_entries SET lapsed_at = :at, lapse_reason = :why "
                "WHERE event_id = :id AND swabbed_at IS NULL AND lapsed_at IS NULL"),
                [{"id": i, "at": to_ms(at), "why": why} for i, at, why in rows])

    def record_lane_events(self, rows: Sequence[StationEventRow]) -> None:
        if rows:
            self.conn.execute(insert(station_events), [r._asdict() for r in rows])

    def queue_lengths(self, site_ids: Sequence[str] | None, since: datetime) -> dict[str, int]:
        params: dict[str, Any] = {"since": to_ms(since)}
        found = _of_sites(site_ids, "site_id", params, self._pg)
        if found is None:
            return {}
        where = f"{found} AND " if found else ""
        return {r[0]: int(r[1]) for r in sql_helpers.fetch(self.conn, (
            "SELECT site_id, SUM(CASE WHEN "
            f"{WAITING_SQL.format(entries='lane_entries')} THEN 1 ELSE 0 END) "
            f"FROM lane_entries WHERE {where}(swabbed_at IS NULL OR swabbed_at >= :since) "
            "GROUP BY site_id"), params)}

    def recent_swabs(self, site_ids: Sequence[str] | None, since: datetime,
                     until: datetime) -> dict[str, list[tuple[int | None, datetime]]]:
        """Swab times by site with the window that swabbed: the two-lane swab window when
        known, otherwise the window the tube was opened at."""
        params: dict[str, Any] = {"since": to_ms(since), "until": to_ms(until),
                                  "open_from": to_ms(since) - 6 * 3600 * 1000}
        found = _of_sites(site_ids, "t.site_id", params, self._pg)
        if found is None:
            return {}
        where = f"AND {found}" if found else ""
        rows = sql_helpers.fetch(self.conn, (
            "SELECT t.site_id, COALESCE(l.swab_window, t.window), s.sampled_at "
            "FROM tubes t JOIN samples s ON s.tube_id = t.id "
            "LEFT JOIN lane_entries l ON l.person_id = s.person_id AND l.barcode = t.barcode "
            "  AND l.swabbed_at = s.sampled_at "
            "WHERE t.first_sampled_at >= :open_from AND t.first_sampled_at <= :until "
            f"AND s.sampled_at >= :since AND s.sampled_at <= :until {where}"), params)
        out: dict[str, list[tuple[int | None, datetime]]] = defaultdict(list)
        for site, window, at in rows:
            out[site].append((window, from_ms(at)))
        return dict(out)


def _of_sites(site_ids: Sequence[str] | None, column: str, params: dict[str, Any],
              pg: bool) -> str | None:
    """The condition keeping rows to ``site_ids`` on ``column`` (its values bound into
    ``params``): "" for every site (None given), None when no site is asked for."""
    if site_ids is None:
        return ""
    if not site_ids:
        return None
    params["vals"] = sql_helpers.vals(site_ids, pg)
    return sql_helpers.one_of(column, pg)
