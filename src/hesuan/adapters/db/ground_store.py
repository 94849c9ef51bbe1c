"""Storage of the ground-level organisation (the ``GroundStore`` port): zones and their members,
coverage counts and rosters, places and fence alerts, door-to-door assignments, site lanes,
teams, staff and shifts. Mixed into ``SqlUnitOfWork``.

Set-based where it matters: designating or lifting a zone is a handful of UPDATE statements over
``person_status`` joined to the zone's areas (index range scans on ``people.grid_code``), and the
people whose only special fact is their zone get their status in one statement
(``refresh_zoned``), exactly as the rule engine would decide it. Coverage is one grouped query.

Imports: SQLAlchemy, ``hesuan.adapters.db.schema``, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError

from hesuan.adapters.db import status_sql
from hesuan.adapters.db.engine import write_race
from hesuan.adapters.db.schema import (
    checkpoints,
    coverage_grid,
    fence_alerts,
    fence_scans,
    from_ms,
    lane_entries,
    people,
    person_status,
    region_geo,
    regions,
    roster_outcomes,
    shifts,
    staff,
    station_events,
    team_assignments,
    team_moves,
    team_targets,
    teams,
    to_ms,
    venues,
    zone_areas,
    zone_events,
    zones,
)
from hesuan.domain.fence import ScanPerson
from hesuan.domain.rosters import Counts
from hesuan.domain.shifts import Span
from hesuan.domain.zones import KIND_RANK, Area, ZoneRules
from hesuan.services.ground_ports import (
    GeoPoint,
    LaneEntry,
    PlaceRow,
    RosterPerson,
    ScanFacts,
    ShiftRow,
    ZoneRecord,
)

__all__ = ["GroundStoreMixin"]

_CHUNK = 5000
# How strict the zone a person is in is (``domain.zones.KIND_RANK``; 0: none)
_RANK_SQL = ("(CASE WHEN zone_id IS NULL THEN 0 "
             + " ".join(f"WHEN zone_kind = {status_sql.lit(k)} THEN {r}"
                        for k, r in KIND_RANK.items()) + " ELSE 1 END)")


def _dt(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


def _chunks(values: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), n):
        yield values[i:i + n]


def grid_range(region_code: str) -> tuple[str, str]:
    """The 15-digit grid codes under a region: an index range, on both backends."""
    pad = 15 - len(region_code)
    return region_code + "0" * pad, region_code + "9" * pad


class GroundStoreMixin:
    conn: Connection
    _pg: bool

    def _marks(self, values: Sequence[Any], prefix: str = "v") -> tuple[str, dict[str, Any]]:
        return (", ".join(f":{prefix}{i}" for i in range(len(values))),
                {f"{prefix}{i}": v for i, v in enumerate(values)})

    # -- regions and geometry --------------------------------------------------------------

    def existing_regions(self, codes: Iterable[str]) -> set[str]:
        vals = list(dict.fromkeys(codes))
        out: set[str] = set()
        for part in _chunks(vals):
            out.update(r[0] for r in self.conn.execute(
                select(regions.c.code).where(regions.c.code.in_(part))))
        return out

    def upsert_region_geo(self, rows: Sequence[dict[str, Any]]) -> int:
        for part in _chunks(list(rows), 1000):
            codes = [r["code"] for r in part]
            self.conn.execute(delete(region_geo).where(region_geo.c.code.in_(codes)))
            self.conn.execute(insert(region_geo), list(part))
        return len(rows)

    def region_geo(self, prefix: str, lengths: Sequence[int]) -> list[dict[str, Any]]:
        stmt = select(region_geo, regions.c.name, regions.c.level).outerjoin(
            regions, regions.c.code == region_geo.c.code).order_by(region_geo.c.code)
        if prefix:
            stmt = stmt.where(region_geo.c.code.like(f"{prefix}%"))
        rows = [dict(r._mapping) for r in self.conn.execute(stmt)]
        return [r for r in rows if not lengths or len(r["code"]) in lengths]

    def grid_points(self, prefix: str) -> list[GeoPoint]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        rows = self.conn.execute(text(
            "SELECT code, lng, lat FROM region_geo WHERE code BETWEEN :lo AND :hi "
            "AND length(code) = 15 AND lat IS NOT NULL AND lng IS NOT NULL"),
            {"lo": lo, "hi": hi})
        return [GeoPoint(r[0], float(r[1]), float(r[2])) for r in rows]

    # -- zones -----------------------------------------------------------------------------

    def add_zone(self, row: dict[str, Any], areas: Sequence[Area], source: str) -> None:
        self.conn.execute(insert(zones), row)
        self._add_areas(row["id"], areas, source)

    def _add_areas(self, zone_id: str, areas: Sequence[Area], source: str) -> None:
        rows = []
        for a in areas:
            lo, hi = grid_range(a.region_code)
            rows.append({"zone_id": zone_id, "region_code": a.region_code,
                         "building": a.building, "grid_lo": lo, "grid_hi": hi,
                         "source": source})
        for part in _chunks(rows, 1000):
            self.conn.execute(insert(zone_areas), list(part))

    def _records(self, rows: Sequence[Any]) -> list[ZoneRecord]:
        ids = [r.id for r in rows]
        areas: dict[str, list[Area]] = defaultdict(list)
        for part in _chunks(ids):
            for zid, code, building in self.conn.execute(
                    select(zone_areas.c.zone_id, zone_areas.c.region_code, zone_areas.c.building)
                    .where(zone_areas.c.zone_id.in_(part))):
                areas[zid].append(Area(code, building or ""))
        return [ZoneRecord(
            id=r.id, name=r.name, kind=r.kind, status=r.status, starts_at=r.starts_at,
            planned_end=r.planned_end, rules=ZoneRules.from_dict(r.rules),
            geometry=r.geometry, parent_id=r.parent_id, areas=tuple(sorted(areas[r.id])),
            people=r.people, ended_at=r.ended_at, note=r.note, created_by=r.created_by,
            created_at=r.created_at, end_reason=r.end_reason) for r in rows]

    def zone(self, zone_id: str) -> ZoneRecord | None:
        r = self.conn.execute(select(zones).where(zones.c.id == zone_id)).first()
        return None if r is None else self._records([r])[0]

    def zones(self, statuses: Sequence[str] | None, prefix: str,
              limit: int) -> list[ZoneRecord]:
        stmt = select(zones).order_by(zones.c.created_at.desc(), zones.c.id).limit(limit)
        if statuses:
            stmt = stmt.where(zones.c.status.in_(list(statuses)))
        if prefix:  # zones with an area under the prefix, or over it
            lo, hi = grid_range(prefix)
            stmt = stmt.where(zones.c.id.in_(
                select(zone_areas.c.zone_id).where(
                    zone_areas.c.grid_lo <= hi, zone_areas.c.grid_hi >= lo)))
        return self._records(self.conn.execute(stmt).all())

    def update_zone(self, zone_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(sa_update(zones).where(zones.c.id == zone_id).values(**values))

    def add_zone_event(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(zone_events), row)

    def zone_events(self, zone_id: str) -> list[dict[str, Any]]:
        """In time order; within one millisecond, in the order of a zone's life."""
        life = {"designate": 0, "start": 1, "extend": 2}
        rows = [dict(r._mapping) for r in self.conn.execute(
            select(zone_events).where(zone_events.c.zone_id == zone_id))]
        return sorted(rows, key=lambda r: (r["at"], life.get(r["action"], 3), r["id"]))

    def zones_due(self, now: datetime) -> tuple[list[str], list[str]]:
        n = to_ms(now)
        start = [r[0] for r in self.conn.execute(text(
            "SELECT id FROM zones WHERE status = 'scheduled' AND starts_at <= :n "
            "ORDER BY starts_at"), {"n": n})]
        end = [r[0] for r in self.conn.execute(text(
            "SELECT id FROM zones WHERE status = 'active' AND planned_end IS NOT NULL "
            "AND planned_end <= :n ORDER BY planned_end"), {"n": n})]
        return start, end

    def clear_zone_members(self, zone_ids: Sequence[str], now: datetime,
                           restore_cadence: bool) -> int:
        """One UPDATE: the members of these zones leave them, are marked stale, and (when a
        zone set their cadence) get their own policy's interval back."""
        if not zone_ids:
            return 0
        marks, params = self._marks(list(zone_ids), "z")
        params["now"] = to_ms(now)
        extra = ""
        if restore_cadence:
            cases = " ".join(
                f"WHEN '{str(pid).replace(chr(39), '')}:{int(ver)}' THEN {int(iv)}"
                for pid, ver, iv in self.conn.execute(
                    text("SELECT id, version, interval_ms FROM policies")))
            iv = (f"(CASE policy_id || ':' || policy_version {cases} ELSE NULL END)" if cases
                  else "NULL")
            extra = (f", interval_ms = CASE WHEN arrival_at IS NULL THEN {iv} ELSE interval_ms "
                     "END, next_due_at = CASE WHEN arrival_at IS NULL AND last_sampled_at IS NOT "
                     f"NULL AND {iv} IS NOT NULL THEN last_sampled_at + {iv} ELSE next_due_at END")
        return int(self.conn.execute(text(
            "UPDATE person_status SET zone_id = NULL, zone_kind = NULL, zone_colour = NULL, "
            f"status_valid_until = :now{extra} WHERE zone_id IS NOT NULL AND zone_id IN "
            f"({marks})"), params).rowcount)

    def apply_zone_members(self, zone_id: str, status_kind: str | None, colour: str | None,
                           rank: int, now: datetime, cadence_ms: int | None = None,
                           start: datetime | None = None) -> int:
        """One UPDATE: the people of the zone's areas not already in a stricter zone join it,
        are marked stale, and take the zone's cadence if it has one (and it is shorter)."""
        params: dict[str, Any] = {"z": zone_id, "k": status_kind, "c": colour, "rank": rank,
                                  "now": to_ms(now)}
        extra = ""
        if cadence_ms is not None:
            params |= {"cad": cadence_ms, "start": to_ms(start or now)}
            shorter = "arrival_at IS NULL AND (interval_ms IS NULL OR interval_ms > :cad)"
            extra = (f", interval_ms = CASE WHEN {shorter} THEN :cad ELSE interval_ms END, "
                     f"next_due_at = CASE WHEN {shorter} THEN (CASE WHEN last_sampled_at IS NULL "
                     "OR last_sampled_at < :start THEN :start + :cad ELSE last_sampled_at + :cad "
                     "END) ELSE next_due_at END")
        return int(self.conn.execute(text(
            "UPDATE person_status SET zone_id = :z, zone_kind = :k, zone_colour = :c, "
            f"status_valid_until = :now{extra} WHERE person_id IN (SELECT p.id FROM zone_areas a "
            "JOIN people p ON p.grid_code BETWEEN a.grid_lo AND a.grid_hi AND (a.building = '' "
            "OR substr(COALESCE(p.address, ''), 1, length(a.building)) = a.building) "
            f"WHERE a.zone_id = :z) AND {_RANK_SQL} < :rank"), params).rowcount)

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
        marks, params = self._marks(list(zone_ids), "z")
        params["now"] = to_ms(now)
        return int(self.conn.execute(text(
            "UPDATE passes SET revoked_at = :now, revoke_reason = 'zone' WHERE revoked_at IS "
            "NULL AND expires_at > :now AND colour = 'green' AND person_id IN (SELECT person_id "
            f"FROM person_status WHERE zone_id IS NOT NULL AND zone_id IN ({marks}) "
            "AND zone_kind IS NOT NULL)"), params).rowcount)

    def nongreen_pass_holders(self, zone_ids: Sequence[str], now: datetime) -> list[str]:
        """Members of these zones who hold a live pass that is not green."""
        if not zone_ids:
            return []
        marks, params = self._marks(list(zone_ids), "z")
        params["now"] = to_ms(now)
        return [r[0] for r in self.conn.execute(text(
            "SELECT DISTINCT x.person_id FROM person_status ps JOIN passes x ON x.person_id = "
            f"ps.person_id WHERE ps.zone_id IS NOT NULL AND ps.zone_id IN ({marks}) AND "
            "x.revoked_at IS NULL AND x.expires_at > :now AND x.colour <> 'green'"), params)]

    def revoke_passes_now_green(self, person_ids: Sequence[str], now: datetime) -> int:
        """Revoke the live non-green passes of those of these people who are green now."""
        n = 0
        for part in _chunks(list(person_ids)):
            marks, params = self._marks(list(part), "p")
            params["now"] = to_ms(now)
            n += int(self.conn.execute(text(
                "UPDATE passes SET revoked_at = :now, revoke_reason = 'zone_lifted' WHERE "
                "revoked_at IS NULL AND expires_at > :now AND colour <> 'green' AND person_id "
                f"IN (SELECT person_id FROM person_status WHERE person_id IN ({marks}) AND "
                "colour = 'green')"), params).rowcount)
        return n

    def zone_member_counts(self, zone_ids: Sequence[str]) -> dict[str, int]:
        if not zone_ids:
            return {}
        marks, params = self._marks(list(zone_ids), "z")
        got = {r[0]: int(r[1]) for r in self.conn.execute(text(
            "SELECT zone_id, count(*) FROM person_status WHERE zone_id IS NOT NULL AND "
            f"zone_id IN ({marks}) GROUP BY zone_id"), params)}
        return {z: got.get(z, 0) for z in zone_ids}

    # -- rosters ---------------------------------------------------------------------------

    def coverage_by_grid(self, prefix: str, since: datetime,
                         as_of: datetime) -> dict[str, Counts]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        rows = self.conn.execute(text(
            "SELECT p.grid_code, count(*), "
            "SUM(CASE WHEN ps.last_sampled_at > :since AND ps.last_sampled_at <= :as_of "
            "  THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN (ps.last_sampled_at IS NULL OR ps.last_sampled_at <= :since OR "
            "  ps.last_sampled_at > :as_of) AND ps.exempt_until > :as_of THEN 1 ELSE 0 END) "
            "FROM people p JOIN person_status ps ON ps.person_id = p.id "
            "WHERE p.grid_code BETWEEN :lo AND :hi GROUP BY p.grid_code"),
            {"since": to_ms(since), "as_of": to_ms(as_of), "lo": lo, "hi": hi})
        return {r[0]: Counts.of(int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in rows}

    def save_coverage_snapshot(self, rows: dict[str, Counts], since: datetime,
                               as_of: datetime) -> None:
        self.conn.execute(delete(coverage_grid))
        data = [{"grid_code": g, "due": c.due, "sampled": c.sampled, "exempt": c.exempt,
                 "since": since, "as_of": as_of} for g, c in rows.items()]
        for part in _chunks(data):
            self.conn.execute(insert(coverage_grid), list(part))

    def coverage_snapshot(self, prefix: str) -> tuple[dict[str, Counts], datetime,
                                                      datetime] | None:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        rows = self.conn.execute(select(coverage_grid).where(
            coverage_grid.c.grid_code.between(lo, hi))).all()
        if not rows:
            head = self.conn.execute(select(coverage_grid.c.since, coverage_grid.c.as_of)
                                     .limit(1)).first()
            return None if head is None else ({}, head[0], head[1])
        return ({r.grid_code: Counts.of(r.due, r.sampled, r.exempt) for r in rows},
                rows[0].since, rows[0].as_of)

    def roster_people(self, prefix: str, since: datetime, as_of: datetime, which: str,
                      limit: int, offset: int) -> list[RosterPerson]:
        lo, hi = grid_range(prefix) if prefix else ("0" * 15, "9" * 15)
        sampled = "(ps.last_sampled_at > :since AND ps.last_sampled_at <= :as_of)"
        exempt = f"(NOT {sampled} OR ps.last_sampled_at IS NULL) AND ps.exempt_until > :as_of"
        cond = {"sampled": sampled, "exempt": exempt,
                "outstanding": f"(ps.last_sampled_at IS NULL OR NOT {sampled}) AND "
                               "(ps.exempt_until IS NULL OR ps.exempt_until <= :as_of)",
                "due": "1 = 1"}[which]
        rows = self.conn.execute(text(
            "SELECT p.id, p.name_masked, p.grid_code, p.household_id, p.address, "
            "ps.last_sampled_at, ps.exempt_until, ps.exempt_reason, ps.colour, ps.zone_kind, "
            "p.phone_enc, "
            "(SELECT o.outcome FROM roster_outcomes o WHERE o.person_id = p.id "
            " ORDER BY o.at DESC LIMIT 1), "
            "(SELECT max(o.at) FROM roster_outcomes o WHERE o.person_id = p.id) "
            "FROM people p JOIN person_status ps ON ps.person_id = p.id "
            f"WHERE p.grid_code BETWEEN :lo AND :hi AND {cond} "
            "ORDER BY p.grid_code, p.address, p.household_id, p.id LIMIT :lim OFFSET :off"),
            {"since": to_ms(since), "as_of": to_ms(as_of), "lo": lo, "hi": hi, "lim": limit,
             "off": offset})
        return [RosterPerson(r[0], r[1], r[2], r[3], r[4], _dt(r[5]), _dt(r[6]), r[7], r[8],
                             r[9], r[10], r[11], _dt(r[12])) for r in rows]

    def add_roster_outcome(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(roster_outcomes), row)

    def region_names(self, codes: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in _chunks(list(dict.fromkeys(codes))):
            out.update((r[0], r[1]) for r in self.conn.execute(
                select(regions.c.code, regions.c.name).where(regions.c.code.in_(part))))
        return out

    # -- places and fence alerts -----------------------------------------------------------

    def add_checkpoint(self, row: dict[str, Any]) -> None:
        try:
            self.conn.execute(insert(checkpoints), row)
        except IntegrityError as exc:
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def places(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PlaceRow]:
        want = list(dict.fromkeys(keys))
        out: dict[tuple[str, str], PlaceRow] = {}
        for kind, table in (("venue", venues), ("checkpoint", checkpoints)):
            ids = [i for k, i in want if k == kind]
            for part in _chunks(ids):
                for r in self.conn.execute(select(
                        table.c.id, table.c.name, table.c.region_code, table.c.lat,
                        table.c.lng).where(table.c.id.in_(part))):
                    out[(kind, r[0])] = PlaceRow(kind, r[0], r[1], r[2], r[3], r[4])
        return out

    def scan_facts(self, person_ids: Iterable[str]) -> dict[str, ScanFacts]:
        """Facts of the scanned people who have anything a fence rule looks at (a zone, red,
        a re-test, an arrival); everyone else is left out (no rule can fire for them). One
        primary-key probe per person on ``person_status``, ``people`` only for those found."""
        ids = list(dict.fromkeys(person_ids))
        ps = person_status.c
        special = ((ps.zone_kind.isnot(None)) | (ps.colour == "red")
                   | ps.test_state.in_(["positive", "pending_retest"])
                   | ps.open_recall_id.isnot(None) | ps.arrival_at.isnot(None))
        found: dict[str, Any] = {}
        for part in _chunks(ids):
            for r in self.conn.execute(
                    select(ps.person_id, ps.zone_id, ps.zone_kind, ps.colour, ps.rule_id,
                           ps.test_state, ps.open_recall_id, ps.arrival_at)
                    .where(ps.person_id.in_(part), special)):
                found[r[0]] = r
        out: dict[str, ScanFacts] = {}
        for part in _chunks(list(found)):
            for pid, grid, masked in self.conn.execute(
                    select(people.c.id, people.c.grid_code, people.c.name_masked)
                    .where(people.c.id.in_(part))):
                r = found[pid]
                out[pid] = ScanFacts(grid, masked, ScanPerson(
                    zone_id=r[1], zone_kind=r[2], colour=r[3], rule_id=r[4], test_state=r[5],
                    open_recall=r[6] is not None, arrival_at=r[7]))
        return out

    def tests_since(self, person_ids: Sequence[str],
                    since: dict[str, datetime]) -> dict[str, list[datetime]]:
        out: dict[str, list[datetime]] = defaultdict(list)
        for part in _chunks(list(person_ids)):
            marks, params = self._marks(list(part), "p")
            params["lo"] = min(to_ms(since[p]) for p in part)
            for pid, at in self.conn.execute(text(
                    f"SELECT person_id, sampled_at FROM samples WHERE person_id IN ({marks}) "
                    "AND sampled_at >= :lo"), params):
                if at >= to_ms(since[pid]):
                    out[pid].append(from_ms(at))
        return dict(out)

    def known_scans(self, event_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for part in _chunks(list(dict.fromkeys(event_ids))):
            out.update(r[0] for r in self.conn.execute(
                select(fence_scans.c.event_id).where(fence_scans.c.event_id.in_(part))))
        return out

    def person_for_pass_hash(self, id_hashes: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in _chunks(list(dict.fromkeys(id_hashes))):
            marks, params = self._marks(list(part), "h")
            out.update((r[0], r[1]) for r in self.conn.execute(text(
                f"SELECT id_hash, person_id FROM passes WHERE id_hash IN ({marks})"), params))
        return out

    def record_scans(self, rows: Sequence[dict[str, Any]]) -> None:
        """One driver-level executemany (the scan path's hot spot: no per-row bind
        processing); the same transaction as the rest of the unit of work."""
        if not rows:
            return
        cols = ("event_id", "place_kind", "place_id", "person_id", "via", "at", "received_at",
                "actor", "alerts")
        data = [tuple(to_ms(r[c]) if c in ("at", "received_at") else r[c] for c in cols)
                for r in rows]
        mark = "%s" if self._pg else "?"
        sql = (f"INSERT INTO fence_scans ({', '.join(cols)}) VALUES "
               f"({', '.join([mark] * len(cols))})")
        raw: Any = self.conn.connection.driver_connection
        try:
            cur = raw.cursor()
            try:
                cur.executemany(sql, data)
            finally:
                cur.close()
        except Exception as exc:  # the driver's own error (sqlite3 / psycopg), not wrapped
            if (race := write_race(exc)) is not None:
                raise race from exc
            raise

    def upsert_fence_alerts(self, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        existing: dict[tuple[str, str, str], str] = {}
        for part in _chunks(list({r["person_id"] for r in rows})):
            for aid, pid, rule, day in self.conn.execute(
                    select(fence_alerts.c.id, fence_alerts.c.person_id, fence_alerts.c.rule,
                           fence_alerts.c.day).where(fence_alerts.c.person_id.in_(part))):
                existing[(pid, rule, day)] = aid
        fresh: dict[tuple[str, str, str], dict[str, Any]] = {}
        bumps: dict[str, list[int]] = {}
        for r in rows:
            key = (r["person_id"], r["rule"], r["day"])
            at = to_ms(r["last_scan_at"])
            if key in existing:
                b = bumps.setdefault(existing[key], [0, at])
                b[0] += 1
                b[1] = max(b[1], at)
            elif key in fresh:
                fresh[key]["scans"] += 1
                fresh[key]["last_scan_at"] = max(fresh[key]["last_scan_at"], r["last_scan_at"])
            else:
                fresh[key] = dict(r)
        if fresh:
            try:
                self.conn.execute(insert(fence_alerts), list(fresh.values()))
            except IntegrityError as exc:
                if (race := write_race(exc)) is not None:
                    raise race from exc
                raise
        if bumps:
            self.conn.execute(text(
                "UPDATE fence_alerts SET scans = scans + :n, last_scan_at = CASE WHEN "
                "last_scan_at < :at THEN :at ELSE last_scan_at END WHERE id = :id"),
                [{"id": k, "n": v[0], "at": v[1]} for k, v in bumps.items()])
        return len(fresh)

    def fence_alerts(self, prefix: str, grid: str | None, statuses: Sequence[str],
                     limit: int) -> list[dict[str, Any]]:
        stmt = (select(fence_alerts, people.c.name_masked, people.c.address)
                .join(people, people.c.id == fence_alerts.c.person_id)
                .order_by(fence_alerts.c.raised_at.desc(), fence_alerts.c.id).limit(limit))
        if grid is not None:
            stmt = stmt.where(fence_alerts.c.grid_code == grid)
        elif prefix:
            lo, hi = grid_range(prefix)
            stmt = stmt.where(fence_alerts.c.grid_code.between(lo, hi))
        if statuses:
            stmt = stmt.where(fence_alerts.c.status.in_(list(statuses)))
        return [dict(r._mapping) for r in self.conn.execute(stmt)]

    def fence_alert(self, alert_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(fence_alerts).where(fence_alerts.c.id == alert_id)).first()
        return None if r is None else dict(r._mapping)

    def update_fence_alert(self, alert_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(sa_update(fence_alerts).where(fence_alerts.c.id == alert_id)
                          .values(**values))

    def purge_scans(self, before: datetime) -> int:
        return int(self.conn.execute(delete(fence_scans).where(fence_scans.c.at < before))
                   .rowcount)

    # -- door-to-door teams ----------------------------------------------------------------

    def add_assignment(self, row: dict[str, Any], person_ids: Sequence[str]) -> int:
        self.conn.execute(insert(team_assignments), row)
        ids = list(dict.fromkeys(person_ids))
        for part in _chunks(ids):
            self.conn.execute(insert(team_targets), [
                {"assignment_id": row["id"], "person_id": p} for p in part])
        return len(ids)

    def assignments(self, site_id: str, open_only: bool) -> list[dict[str, Any]]:
        stmt = select(team_assignments).where(team_assignments.c.site_id == site_id).order_by(
            team_assignments.c.created_at)
        if open_only:
            stmt = stmt.where(team_assignments.c.status == "open")
        return [dict(r._mapping) for r in self.conn.execute(stmt)]

    def assignment(self, assignment_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(team_assignments).where(
            team_assignments.c.id == assignment_id)).first()
        return None if r is None else dict(r._mapping)

    def update_assignment(self, assignment_id: str, values: dict[str, Any]) -> None:
        self.conn.execute(sa_update(team_assignments).where(
            team_assignments.c.id == assignment_id).values(**values))

    def route(self, assignment_ids: Sequence[str], since: datetime) -> list[dict[str, Any]]:
        if not assignment_ids:
            return []
        marks, params = self._marks(list(assignment_ids), "a")
        params["since"] = to_ms(since)
        people_sql = (
            f"SELECT t.person_id AS pid FROM team_targets t WHERE t.assignment_id IN ({marks}) "
            f"UNION SELECT ps.person_id FROM person_status ps JOIN team_assignments a ON "
            f"a.zone_id = ps.zone_id WHERE ps.zone_id IS NOT NULL AND a.id IN ({marks})")
        rows = self.conn.execute(text(
            "SELECT p.id, p.household_id, p.grid_code, p.address, p.name_masked, p.groups, "
            "ps.last_sampled_at, ps.open_recall_id, ps.exempt_until "
            f"FROM ({people_sql}) w JOIN people p ON p.id = w.pid "
            "JOIN person_status ps ON ps.person_id = p.id "
            "ORDER BY p.grid_code, p.address, p.household_id, p.id"), params)
        return [{"person_id": r[0], "household_id": r[1], "grid_code": r[2], "address": r[3],
                 "name": r[4], "groups": r[5],
                 "sampled": r[6] is not None and r[6] >= params["since"],
                 "last_sampled_at": _dt(r[6]), "open_recall": r[7] is not None,
                 "exempt_until": _dt(r[8])} for r in rows]

    def on_route(self, assignment_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        if not assignment_ids or not person_ids:
            return set()
        marks, params = self._marks(list(assignment_ids), "a")
        pmarks, pparams = self._marks(list(person_ids), "p")
        rows = self.conn.execute(text(
            f"SELECT t.person_id FROM team_targets t WHERE t.assignment_id IN ({marks}) "
            f"AND t.person_id IN ({pmarks}) "
            f"UNION SELECT ps.person_id FROM person_status ps JOIN team_assignments a ON "
            f"a.zone_id = ps.zone_id WHERE a.id IN ({marks}) AND ps.person_id IN ({pmarks})"),
            params | pparams)
        return {str(r[0]) for r in rows}

    def household_members(self, household_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            select(people.c.id, people.c.grid_code, people.c.groups, people.c.name_masked,
                   person_status.c.open_recall_id)
            .join(person_status, person_status.c.person_id == people.c.id)
            .where(people.c.household_id == household_id).order_by(people.c.id))
        return [{"person_id": r[0], "grid_code": r[1], "groups": r[2], "name": r[3],
                 "open_recall": r[4] is not None} for r in rows]

    # -- site lanes ------------------------------------------------------------------------

    def _lane(self, r: Any) -> LaneEntry:
        return LaneEntry(r.event_id, r.site_id, r.window, r.barcode, r.person_id,
                         r.registered_at, r.swabbed_at, r.swab_event_id)

    def lane_pending(self, site_id: str, person_ids: Iterable[str] | None = None,
                     barcodes: Iterable[str] | None = None) -> list[LaneEntry]:
        stmt = select(lane_entries).where(lane_entries.c.site_id == site_id,
                                          lane_entries.c.swabbed_at.is_(None))
        if person_ids is not None:
            stmt = stmt.where(lane_entries.c.person_id.in_(list(person_ids)))
        if barcodes is not None:
            stmt = stmt.where(lane_entries.c.barcode.in_(list(barcodes)))
        return [self._lane(r) for r in self.conn.execute(
            stmt.order_by(lane_entries.c.registered_at))]

    def pending_for_people(self, person_ids: Iterable[str]) -> dict[str, LaneEntry]:
        out: dict[str, LaneEntry] = {}
        for part in _chunks(list(dict.fromkeys(person_ids))):
            for r in self.conn.execute(select(lane_entries).where(
                    lane_entries.c.person_id.in_(part), lane_entries.c.swabbed_at.is_(None))):
                out[r.person_id] = self._lane(r)
        return out

    def add_lane_entries(self, rows: Sequence[LaneEntry]) -> None:
        if rows:
            self.conn.execute(insert(lane_entries), [
                {"event_id": e.event_id, "site_id": e.site_id, "window": e.window,
                 "barcode": e.barcode, "person_id": e.person_id,
                 "registered_at": e.registered_at} for e in rows])

    def mark_swabbed(self, rows: Sequence[tuple[str, datetime, str, int | None]]) -> None:
        if rows:
            self.conn.execute(text(
                "UPDATE lane_entries SET swabbed_at = :at, swab_event_id = :ev, "
                "swab_window = :w WHERE event_id = :id AND swabbed_at IS NULL"),
                [{"id": i, "at": to_ms(at), "ev": ev, "w": w} for i, at, ev, w in rows])

    def record_lane_events(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(station_events), list(rows))

    def queue_lengths(self, site_ids: Sequence[str] | None, since: datetime) -> dict[str, int]:
        params: dict[str, Any] = {"since": to_ms(since)}
        where = ""
        if site_ids is not None:
            if not site_ids:
                return {}
            marks, p2 = self._marks(list(site_ids), "s")
            params |= p2
            where = f"site_id IN ({marks}) AND "
        return {r[0]: int(r[1]) for r in self.conn.execute(text(
            "SELECT site_id, SUM(CASE WHEN swabbed_at IS NULL THEN 1 ELSE 0 END) "
            f"FROM lane_entries WHERE {where}(swabbed_at IS NULL OR swabbed_at >= :since) "
            "GROUP BY site_id"), params)}

    def recent_swabs(self, site_ids: Sequence[str] | None, since: datetime,
                     until: datetime) -> dict[str, list[tuple[int | None, datetime]]]:
        """Swab times by site with the window that swabbed: the two-lane swab window when
        known, otherwise the window the tube was opened at."""
        params: dict[str, Any] = {"since": to_ms(since), "until": to_ms(until),
                                  "open_from": to_ms(since) - 6 * 3600 * 1000}
        where = ""
        if site_ids is not None:
            if not site_ids:
                return {}
            marks, p2 = self._marks(list(site_ids), "s")
            params |= p2
            where = f"AND t.site_id IN ({marks})"
        rows = self.conn.execute(text(
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

    # -- staff and shifts ------------------------------------------------------------------

    def add_team(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(teams), row)

    def team(self, team_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(teams).where(teams.c.id == team_id)).first()
        return None if r is None else dict(r._mapping)

    def teams(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(select(teams).order_by(teams.c.name))]

    def move_team(self, team_id: str, move: dict[str, Any]) -> None:
        self.conn.execute(insert(team_moves), move)
        self.conn.execute(sa_update(teams).where(teams.c.id == team_id).values(
            place_kind=move["to_kind"], place_id=move["to_id"]))

    def team_moves(self, team_id: str) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(
            select(team_moves).where(team_moves.c.team_id == team_id).order_by(team_moves.c.at))]

    def add_staff(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(staff), row)

    def staff_member(self, staff_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(select(staff).where(staff.c.id == staff_id)).first()
        return None if r is None else dict(r._mapping)

    def staff_spans(self, staff_id: str, since: datetime) -> list[Span]:
        return self.spans_of([staff_id], since).get(staff_id, [])

    def spans_of(self, staff_ids: Sequence[str], since: datetime) -> dict[str, list[Span]]:
        out: dict[str, list[Span]] = defaultdict(list)
        for part in _chunks(list(staff_ids)):
            for sid, a, b in self.conn.execute(
                    select(shifts.c.staff_id, shifts.c.started_at, shifts.c.ended_at)
                    .where(shifts.c.staff_id.in_(part),
                           (shifts.c.ended_at.is_(None)) | (shifts.c.ended_at >= since))
                    .order_by(shifts.c.started_at)):
                out[sid].append(Span(a, b))
        return dict(out)

    def _shift_rows(self, where: Any) -> list[ShiftRow]:
        rows = self.conn.execute(
            select(shifts.c.id, shifts.c.staff_id, staff.c.name, staff.c.role, staff.c.team_id,
                   shifts.c.place_kind, shifts.c.place_id, shifts.c.window,
                   shifts.c.started_at, shifts.c.ended_at)
            .join(staff, staff.c.id == shifts.c.staff_id).where(where)
            .order_by(shifts.c.place_id, shifts.c.window, shifts.c.started_at))
        return [ShiftRow(id=r[0], staff_id=r[1], staff_name=r[2], role=r[3], team_id=r[4],
                         place_kind=r[5], place_id=r[6], window=r[7], started_at=r[8],
                         ended_at=r[9]) for r in rows]

    def open_shift(self, staff_id: str) -> ShiftRow | None:
        got = self._shift_rows((shifts.c.staff_id == staff_id) & shifts.c.ended_at.is_(None))
        return got[0] if got else None

    def add_shift(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(shifts), row)

    def end_shift(self, shift_id: str, at: datetime, by: str) -> None:
        self.conn.execute(sa_update(shifts).where(shifts.c.id == shift_id)
                          .values(ended_at=at, ended_by=by))

    def shifts_on(self, place_ids: Sequence[str] | None) -> list[ShiftRow]:
        where: Any = shifts.c.ended_at.is_(None)
        if place_ids is not None:
            where = where & shifts.c.place_id.in_(list(place_ids))
        return self._shift_rows(where)
