"""Storage of zones (the ``ZoneRepository`` port): regions' boundaries and grid centres, zones,
their areas, events and members. A repository of ``SqlUnitOfWork``.

Set-based where it matters: designating or lifting a zone is a handful of UPDATE statements over
``person_status`` joined to the zone's areas (index range scans on ``people.grid_code``), and the
people whose only special fact is their zone get their status in one statement
(``refresh_zoned``), exactly as the rule engine would decide it.

Imports: SQLAlchemy, ``hesuan.adapters.db``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy import update as sa_update

from hesuan.adapters.db import sql_helpers, status_sql
from hesuan.adapters.db.repository import SqlRepository
from hesuan.adapters.db.schema import (
    region_geo,
    regions,
    to_ms,
    zone_areas,
    zone_events,
    zones,
)
from hesuan.adapters.db.sql_helpers import chunks, grid_range, member_of, one_of
from hesuan.domain.zones import KIND_RANK, Area, ZoneRules
from hesuan.services.zones_ports import GeoPoint, RegionShape, ZoneEvent, ZoneRecord

__all__ = ["SqlZones"]

# How strict the zone a person is in is (``domain.zones.KIND_RANK``; 0: none)
_RANK_SQL = ("(CASE WHEN zone_id IS NULL THEN 0 "
             + " ".join(f"WHEN zone_kind = {status_sql.lit(k)} THEN {r}"
                        for k, r in KIND_RANK.items()) + " ELSE 1 END)")


# A person's registration, for the first due time of one never sampled
_REGISTERED = "(SELECT r.created_at FROM people r WHERE r.id = person_status.person_id)"


def _area_people(zones_where: str) -> str:
    """The ids of the people whose home lies in an area of the zones ``zones_where`` picks
    (a condition on ``zone_areas a``): index range scans on ``people.grid_code``."""
    return ("SELECT p.id FROM zone_areas a JOIN people p ON p.grid_code BETWEEN a.grid_lo AND "
            "a.grid_hi AND (a.building = '' OR substr(COALESCE(p.address, ''), 1, "
            f"length(a.building)) = a.building) WHERE {zones_where}")

class SqlZones(SqlRepository):

    # -- regions and geometry --------------------------------------------------------------

    def existing_regions(self, codes: Iterable[str]) -> set[str]:
        return {r[0] for r in self._in(regions.c.code, codes, regions.c.code)}

    def upsert_region_geo(self, rows: Sequence[RegionShape]) -> int:
        for part in chunks(list(rows), 1000):
            codes = [r.code for r in part]
            self.conn.execute(delete(region_geo).where(member_of(region_geo.c.code, self._pg)),
                              {"vals": sql_helpers.vals(codes, self._pg)})
            self.conn.execute(insert(region_geo), [
                {"code": r.code, "lat": r.lat, "lng": r.lng, "geometry": r.geometry,
                 "source": r.source, "updated_at": r.updated_at} for r in part])
        return len(rows)

    def region_geo(self, prefix: str, lengths: Sequence[int]) -> list[RegionShape]:
        stmt = select(region_geo.c.code, region_geo.c.lat, region_geo.c.lng,
                      region_geo.c.geometry, region_geo.c.source, region_geo.c.updated_at,
                      regions.c.name, regions.c.level).outerjoin(
            regions, regions.c.code == region_geo.c.code).order_by(region_geo.c.code)
        if prefix:
            stmt = stmt.where(region_geo.c.code.like(f"{prefix}%"))
        return [RegionShape(code=r.code, lat=r.lat, lng=r.lng, geometry=r.geometry,
                            source=r.source, updated_at=r.updated_at, name=r.name,
                            level=r.level)
                for r in self.conn.execute(stmt) if not lengths or len(r.code) in lengths]

    def grid_points(self, prefix: str) -> list[GeoPoint]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        rows = self.conn.execute(text(
            "SELECT code, lng, lat FROM region_geo WHERE code BETWEEN :lo AND :hi "
            "AND length(code) = 15 AND lat IS NOT NULL AND lng IS NOT NULL"),
            {"lo": lo, "hi": hi})
        return [GeoPoint(r[0], float(r[1]), float(r[2])) for r in rows]

    # -- zones -----------------------------------------------------------------------------

    def add_zone(self, zone: ZoneRecord, source: str) -> None:
        self.conn.execute(insert(zones), {
            "id": zone.id, "name": zone.name, "kind": zone.kind, "status": zone.status,
            "starts_at": zone.starts_at, "planned_end": zone.planned_end,
            "ended_at": zone.ended_at, "rules": zone.rules.as_dict(),
            "geometry": zone.geometry, "parent_id": zone.parent_id, "note": zone.note,
            "people": zone.people, "created_by": zone.created_by,
            "created_at": zone.created_at, "end_reason": zone.end_reason})
        self._add_areas(zone.id, zone.areas, source)

    def _add_areas(self, zone_id: str, areas: Sequence[Area], source: str) -> None:
        rows = []
        for a in areas:
            lo, hi = grid_range(a.region_code)
            rows.append({"zone_id": zone_id, "region_code": a.region_code,
                         "building": a.building, "grid_lo": lo, "grid_hi": hi,
                         "source": source})
        for part in chunks(rows, 1000):
            self.conn.execute(insert(zone_areas), list(part))

    def _records(self, rows: Sequence[Any]) -> list[ZoneRecord]:
        areas: dict[str, list[Area]] = defaultdict(list)
        for zid, code, building in self._in(zone_areas.c.zone_id, [r.id for r in rows],
                                            zone_areas.c.zone_id, zone_areas.c.region_code,
                                            zone_areas.c.building):
            areas[zid].append(Area(code, building or ""))
        return [ZoneRecord(
            id=r.id, name=r.name, kind=r.kind, status=r.status, starts_at=r.starts_at,
            planned_end=r.planned_end, rules=ZoneRules.from_dict(r.rules),
            geometry=r.geometry, parent_id=r.parent_id, areas=tuple(sorted(areas[r.id])),
            people=r.people, ended_at=r.ended_at, note=r.note, created_by=r.created_by,
            created_at=r.created_at, end_reason=r.end_reason) for r in rows]

    def zone(self, zone_id: str, *, for_update: bool = False) -> ZoneRecord | None:
        stmt = select(zones).where(zones.c.id == zone_id)
        if for_update:
            stmt = stmt.with_for_update()
        r = self.conn.execute(stmt).first()
        return None if r is None else self._records([r])[0]

    def all(self, statuses: Sequence[str] | None, prefix: str,
              limit: int) -> list[ZoneRecord]:
        stmt = select(zones).order_by(zones.c.created_at.desc(), zones.c.id).limit(limit)
        params: dict[str, Any] = {}
        if statuses:
            stmt = stmt.where(member_of(zones.c.status, self._pg))
            params["vals"] = sql_helpers.vals(statuses, self._pg)
        if prefix:  # zones with an area under the prefix, or over it
            lo, hi = grid_range(prefix)
            stmt = stmt.where(zones.c.id.in_(
                select(zone_areas.c.zone_id).where(
                    zone_areas.c.grid_lo <= hi, zone_areas.c.grid_hi >= lo)))
        return self._records(self.conn.execute(stmt, params).all())

    def _update(self, zone_id: str, **values: Any) -> None:
        self.conn.execute(sa_update(zones).where(zones.c.id == zone_id).values(**values))

    def set_status(self, zone_id: str, status: str) -> None:
        self._update(zone_id, status=status)

    def set_planned_end(self, zone_id: str, planned_end: datetime | None) -> None:
        self._update(zone_id, planned_end=planned_end)

    def set_people(self, zone_id: str, people: int) -> None:
        self._update(zone_id, people=people)

    def end_zone(self, zone_id: str, status: str, at: datetime, by: str, reason: str) -> None:
        self._update(zone_id, status=status, ended_at=at, ended_by=by, end_reason=reason)

    def add_zone_event(self, event: ZoneEvent) -> None:
        self.conn.execute(insert(zone_events), {
            "id": event.id, "zone_id": event.zone_id, "action": event.action,
            "actor": event.actor, "at": event.at, "detail": event.detail})

    def zone_events(self, zone_id: str) -> list[ZoneEvent]:
        """In time order; within one millisecond, in the order of a zone's life."""
        life = {"designate": 0, "start": 1, "extend": 2}
        rows = [ZoneEvent(id=r.id, zone_id=r.zone_id, action=r.action, actor=r.actor, at=r.at,
                          detail=r.detail) for r in self.conn.execute(
            select(zone_events).where(zone_events.c.zone_id == zone_id))]
        return sorted(rows, key=lambda e: (e.at, life.get(e.action, 3), e.id))

    def zones_due(self, now: datetime) -> tuple[list[str], list[str]]:
        n = to_ms(now)
        start = [r[0] for r in self.conn.execute(text(
            "SELECT id FROM zones WHERE status = 'scheduled' AND starts_at <= :n "
            "ORDER BY starts_at"), {"n": n})]
        end = [r[0] for r in self.conn.execute(text(
            "SELECT id FROM zones WHERE status = 'active' AND planned_end IS NOT NULL "
            "AND planned_end <= :n ORDER BY planned_end"), {"n": n})]
        return start, end

    def clear_zone_members(self, zone_ids: Sequence[str], now: datetime) -> int:
        """One UPDATE: the members of these zones leave them and are marked stale."""
        if not zone_ids:
            return 0
        return sql_helpers.execute(self.conn, (
            "UPDATE person_status SET zone_id = NULL, zone_kind = NULL, zone_colour = NULL, "
            "status_valid_until = :now WHERE zone_id IS NOT NULL AND "
            f"{one_of('zone_id', self._pg)}"),
            {"vals": sql_helpers.vals(zone_ids, self._pg), "now": to_ms(now)})

    def restore_cadence(self, zone_ids: Sequence[str], now: datetime) -> int:
        """One UPDATE: the people of these zones' areas get their own policy's interval back
        and the due time it sets (``assign_policies``: ``domain.cadence.first_due`` for the
        never sampled; no policy, none due), but an arrival's open follow-up keeps its due
        time (``domain.arrivals``); marked stale."""
        if not zone_ids:
            return 0

        def own(column: str) -> str:
            return (f"(SELECT q.{column} FROM policies q WHERE q.id = "
                    "person_status.policy_id AND q.version = person_status.policy_version)")

        iv = own("interval_ms")
        return sql_helpers.execute(self.conn, (
            f"UPDATE person_status SET interval_ms = {iv}, next_due_at = CASE "
            f"WHEN {status_sql.follow_up_open()} THEN next_due_at "
            f"WHEN last_sampled_at IS NOT NULL THEN last_sampled_at + {iv} "
            f"ELSE {status_sql.first_due(own('valid_from'), _REGISTERED, iv)} END, "
            "status_valid_until = :now WHERE "
            f"person_id IN ({_area_people(one_of('a.zone_id', self._pg))})"),
            {"vals": sql_helpers.vals(zone_ids, self._pg), "now": to_ms(now)})

    def apply_zone_members(self, zone_id: str, status_kind: str | None, colour: str | None,
                           rank: int, now: datetime,
                           person_ids: Sequence[str] | None = None) -> int:
        """One UPDATE: the people of the zone's areas (of ``person_ids`` only, when given) not
        already in a stricter zone join it, and are marked stale."""
        params: dict[str, Any] = {"z": zone_id, "k": status_kind, "c": colour, "rank": rank,
                                  "now": to_ms(now)}
        return int(self.conn.execute(text(
            "UPDATE person_status SET zone_id = :z, zone_kind = :k, zone_colour = :c, "
            f"status_valid_until = :now WHERE person_id IN ({_area_people('a.zone_id = :z')}) "
            f"AND {_RANK_SQL} < :rank{self._whom(person_ids, params)}"), params).rowcount)

    def apply_zone_cadence(self, zone_id: str, cadence_ms: int, start: datetime,
                           now: datetime, person_ids: Sequence[str] | None = None) -> int:
        """One UPDATE: the people of the zone's areas (of ``person_ids`` only, when given)
        whose interval is longer take the zone's, due from the zone's start or their later
        sample (the never sampled: ``domain.cadence.first_due``, from a later registration),
        but an arrival's open follow-up keeps its due time (``domain.arrivals``) and the
        zone's interval counts after its tests; marked stale."""
        params: dict[str, Any] = {"z": zone_id, "cad": cadence_ms, "start": to_ms(start),
                                  "now": to_ms(now)}
        first = status_sql.first_due(":start", _REGISTERED, ":cad")
        return int(self.conn.execute(text(
            "UPDATE person_status SET interval_ms = :cad, next_due_at = CASE "
            f"WHEN {status_sql.follow_up_open()} THEN next_due_at "
            f"WHEN last_sampled_at IS NULL THEN {first} "
            "WHEN last_sampled_at < :start THEN :start + :cad ELSE last_sampled_at + :cad END, "
            f"status_valid_until = :now WHERE person_id IN ({_area_people('a.zone_id = :z')}) "
            "AND (interval_ms IS NULL OR interval_ms > :cad)"
            f"{self._whom(person_ids, params)}"), params).rowcount)

    def _whom(self, person_ids: Sequence[str] | None, params: dict[str, Any]) -> str:
        """`` AND`` the row is one of ``person_ids`` (bound in ``params``), or nothing."""
        if person_ids is None:
            return ""
        params["vals"] = sql_helpers.vals(list(person_ids), self._pg)
        return " AND " + one_of("person_id", self._pg)

    def refresh_zoned(self, now: datetime, rule_id: str, rule_version: int,
                      colour: str | None) -> int:
        """Stale people whose only special fact is a sealed or controlled zone: the zone rule's
        colour, reason ``in_zone``, the zone as the evidence — what the engine decides."""
        return int(self.conn.execute(text(
            f"UPDATE person_status SET colour = {status_sql.zone_colour(':colour')}, "
            "reasons = :reason, rule_id = :rid, rule_version = :rv, "
            f"evidence = {status_sql.zone_evidence(self._pg)}, status_at = :now, "
            f"status_valid_until = {status_sql.valid_until_due()} "
            f"WHERE status_valid_until <= :now AND {status_sql.ZONED_PLAIN}"),
            {"now": to_ms(now), "colour": colour, "rid": rule_id, "rv": rule_version,
             "reason": status_sql.REASON_OF["in_zone"]}).rowcount)

    def revoke_zone_passes(self, zone_ids: Sequence[str], now: datetime) -> int:
        """Revoke live green passes of people now in a sealed or controlled zone."""
        if not zone_ids:
            return 0
        return sql_helpers.execute(self.conn, (
            "UPDATE passes SET revoked_at = :now, revoke_reason = 'zone' WHERE revoked_at IS "
            f"NULL AND expires_at > :now AND colour = {status_sql.GREEN} AND person_id IN "
            "(SELECT person_id "
            f"FROM person_status WHERE zone_id IS NOT NULL AND {one_of('zone_id', self._pg)} "
            "AND zone_kind IS NOT NULL)"),
            {"vals": sql_helpers.vals(zone_ids, self._pg), "now": to_ms(now)})

    def nongreen_pass_holders(self, zone_ids: Sequence[str], now: datetime) -> list[str]:
        """Members of these zones who hold a live pass that is not green."""
        if not zone_ids:
            return []
        return [r[0] for r in sql_helpers.fetch(self.conn, (
            "SELECT DISTINCT x.person_id FROM person_status ps JOIN passes x ON x.person_id = "
            f"ps.person_id WHERE ps.zone_id IS NOT NULL AND {one_of('ps.zone_id', self._pg)} "
            f"AND x.revoked_at IS NULL AND x.expires_at > :now AND x.colour <> {status_sql.GREEN}"),
            {"vals": sql_helpers.vals(zone_ids, self._pg), "now": to_ms(now)})]

    def revoke_passes_now_green(self, person_ids: Sequence[str], now: datetime) -> int:
        """Revoke the live non-green passes of those of these people who are green now."""
        n = 0
        sql = ("UPDATE passes SET revoked_at = :now, revoke_reason = 'zone_lifted' WHERE "
               f"revoked_at IS NULL AND expires_at > :now AND colour <> {status_sql.GREEN} "
               "AND person_id IN (SELECT person_id FROM person_status WHERE "
               f"{one_of('person_id', self._pg)} AND colour = {status_sql.GREEN})")
        for part in chunks(list(person_ids)):
            n += sql_helpers.execute(self.conn, sql, {
                "vals": sql_helpers.vals(part, self._pg), "now": to_ms(now)})
        return n

    def zone_member_counts(self, zone_ids: Sequence[str]) -> dict[str, int]:
        if not zone_ids:
            return {}
        got = {r[0]: int(r[1]) for r in sql_helpers.fetch(self.conn, (
            "SELECT zone_id, count(*) FROM person_status WHERE zone_id IS NOT NULL AND "
            f"{one_of('zone_id', self._pg)} GROUP BY zone_id"),
            {"vals": sql_helpers.vals(zone_ids, self._pg)})}
        return {z: got.get(z, 0) for z in zone_ids}
