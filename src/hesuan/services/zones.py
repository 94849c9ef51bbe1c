"""Zones (F16): designate, lift, extend, split and shrink sealed / controlled / precaution zones,
with their history; the status of the people in them changes in bulk, in the same transaction.

How a zone reaches people: its areas (region codes, buildings; a polygon is resolved to the grids
whose centre lies inside it) select people by home grid and address in one set-based UPDATE of
``person_status.zone_id/zone_kind/zone_colour``; the person is marked stale, and the status engine
decides again — people whose only special fact is the zone in one statement
(``refresh_zoned``), everyone else through ``StatusService.refresh``. Lifting, expiring,
splitting or shrinking clears the members of the old zone and re-applies every active zone that
overlaps it, weakest first, so each person ends in their strictest zone (a door-to-door team's
assignment follows onto the parts of the zone's kind). A zone's cadence (daily, say) shortens
its members' testing interval while it stands; live passes made untrue are revoked.

GeoJSON: zones import and export as a FeatureCollection; district (or any region's) boundaries
import and export too (``region_geo``), and grid centres are what polygons resolve against.

Imports: standard library, ``hesuan.domain``, ``hesuan.services``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hesuan.domain.access import Action, Principal, Target, area_for, authorize, region_prefix
from hesuan.domain.digits import is_digits
from hesuan.domain.errors import HesuanError, InvalidInput, NotFound, RuleViolation
from hesuan.domain.instants import check_instant, iso_utc
from hesuan.domain.json import Json, JsonObject
from hesuan.domain.zones import (
    Area,
    ZoneKind,
    ZoneRules,
    ZoneStatus,
    area_covers,
    areas_overlap,
    check_areas,
    check_parts,
    check_rules,
    check_times,
    default_rules,
    rank,
)
from hesuan.services.context import Deps
from hesuan.services.door_teams import follow_zone
from hesuan.services.fence_ports import PlaceRow
from hesuan.services.newcomers import apply_zone
from hesuan.services.ports import UnitOfWork
from hesuan.services.status import StatusService
from hesuan.services.zones_ports import Geometry, RegionShape, ZoneEvent, ZoneRecord

__all__ = ["FeatureOutcome", "ZoneChanges", "ZoneInput", "ZonePart", "ZoneService", "parse_area",
           "zone_view"]

_SCHEDULED = "scheduled"
_CACHE_SECONDS = 5.0


def parse_area(text: str) -> Area:
    """``140105001002003`` or ``140105001002003/3号楼``."""
    code, _, building = text.strip().partition("/")
    return Area(code.strip(), building.strip())


@dataclass(frozen=True, slots=True)
class ZoneInput:
    name: str
    kind: ZoneKind
    areas: Sequence[Area] = ()
    polygon: JsonObject | None = None
    starts_at: datetime | None = None
    planned_end: datetime | None = None
    rules: ZoneRules | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ZonePart:
    """One part of a split (or the smaller zone of a shrink)."""

    name: str | None = None
    kind: ZoneKind | None = None
    areas: Sequence[Area] = ()
    polygon: JsonObject | None = None
    rules: ZoneRules | None = None


@dataclass(frozen=True, slots=True)
class ZoneChanges:
    """What a tick of the zones' schedule did (``ZoneService.tick``)."""

    started: int  # scheduled zones whose start came
    expired: int  # zones whose planned end passed


@dataclass(frozen=True, slots=True)
class FeatureOutcome:
    """What became of one Feature of an imported FeatureCollection (``import_geojson``): its
    zone (``created``), or why not (``rejected``: the error's code, words and field)."""

    feature: int
    status: str  # created | rejected
    zone_id: str | None = None
    people: int | None = None
    reason: str | None = None
    message: str | None = None
    field: str | None = None

    def answer(self) -> dict[str, Json]:
        """The per-feature answer as the API and the command print it: the keys of its
        outcome only."""
        if self.status == "created":
            return {"feature": self.feature, "status": self.status, "id": self.zone_id,
                    "people": self.people}
        return {"feature": self.feature, "status": self.status, "reason": self.reason,
                "message": self.message, "field": self.field}


@dataclass(slots=True)
class _ActiveCache:
    at: float = 0.0
    zones: list[ZoneRecord] = field(default_factory=list)


def zone_view(z: ZoneRecord) -> dict[str, Any]:
    return {"id": z.id, "name": z.name, "kind": z.kind, "status": z.status,
            "starts_at": z.starts_at, "planned_end": z.planned_end, "ended_at": z.ended_at,
            "rules": z.rules.as_dict(), "areas": [a.label() for a in z.areas],
            "drawn_as_polygon": z.geometry is not None, "parent_id": z.parent_id,
            "people": z.people, "note": z.note, "created_by": z.created_by,
            "created_at": z.created_at, "end_reason": z.end_reason}


class ZoneService:
    def __init__(self, deps: Deps, status: StatusService, geometry: Geometry) -> None:
        self._d = deps
        self._status = status
        self._geo = geometry
        self._lock = threading.Lock()
        self._cache = _ActiveCache()

    # -- designate ---------------------------------------------------------------------------

    def designate(self, actor: Principal, z: ZoneInput) -> ZoneRecord:
        """Designate a zone; if it starts now, its people's status changes in this call."""
        name = z.name.strip()
        if not 1 <= len(name) <= 100:
            raise InvalidInput("name must be 1-100 characters", code="bad_name", field="name")
        rules = z.rules or default_rules(z.kind)
        check_rules(z.kind, rules)
        now = self._d.clock.now()
        start = z.starts_at or now
        check_times(start, z.planned_end, now)
        with self._d.uow() as uow:
            polygon, areas = self._resolve(uow, actor, z.areas, z.polygon, "areas")
            zid = self._d.new_id()
            status = ZoneStatus.ACTIVE.value if start <= now else _SCHEDULED
            uow.zones.add_zone(ZoneRecord(
                id=zid, name=name, kind=z.kind.value, status=status, starts_at=start,
                planned_end=z.planned_end, rules=rules, geometry=polygon, parent_id=None,
                areas=tuple(areas), note=z.note, created_by=actor.username, created_at=now),
                "polygon" if polygon else "list")
            self._event(uow, zid, "designate", actor, now, {
                "kind": z.kind.value, "areas": len(areas), "status": status,
                "planned_end": z.planned_end.isoformat() if z.planned_end else None})
            if status == ZoneStatus.ACTIVE.value:
                record = uow.zones.zone(zid)
                assert record is not None
                apply_zone(uow, record, now)
                # the zones it overlaps may have handed it people: they are counted again too
                overlapped = [o.id for o in uow.zones.all([ZoneStatus.ACTIVE.value], "",
                                                          100_000)
                              if o.id != zid and areas_overlap(o.areas, record.areas)]
                self._settle(uow, now, [zid, *overlapped], added=[zid])
            uow.audit_log.append(now, actor.username, "zone.designate", f"zone:{zid}",
                      {"kind": z.kind.value, "areas": len(areas)})
            uow.commit()
            out = self._get(uow, zid)
        self._invalidate()
        return out

    def _resolve(self, uow: UnitOfWork, actor: Principal, areas: Sequence[Area],
                 polygon: JsonObject | None, field: str,
                 ) -> tuple[JsonObject | None, list[Area]]:
        """Validate areas and polygon; a polygon becomes the grids whose centre is inside."""
        wanted = list(areas)
        geom = None
        if polygon is not None:
            geom = self._geo.check(polygon, field="polygon")
            points = uow.zones.grid_points(region_prefix(actor))
            inside = self._geo.inside(geom, [(p.code, p.lng, p.lat) for p in points])
            if not inside:
                raise RuleViolation("polygon: no grid centre (within your region) lies inside it;"
                                    " import grid centres (GeoJSON points) first",
                                    code="polygon_empty", field="polygon")
            wanted += [Area(code) for code in inside]
        kept = check_areas(wanted, field=field)
        if not kept:
            authorize(actor, Action.CHANGE_ZONES, Target(region=region_prefix(actor)),
                      field=field)
        for a in kept:
            authorize(actor, Action.CHANGE_ZONES, Target(region=a.region_code), field=field)
        known = uow.zones.existing_regions(a.region_code for a in kept)
        missing = [a.region_code for a in kept if a.region_code not in known]
        if missing:
            raise NotFound(f"{field}: no such region {missing[0]}"
                           + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                           code="unknown_region", field=field)
        return geom, kept

    # -- membership and status ---------------------------------------------------------------

    def _reapply(self, uow: UnitOfWork, ended: Sequence[ZoneRecord], now: datetime,
                 extra: Sequence[ZoneRecord] = ()) -> list[str]:
        """Clear the members of ``ended`` zones; apply every active zone overlapping them
        (and ``extra``), weakest first. Returns the ids of the zones applied."""
        uow.zones.clear_zone_members([z.id for z in ended], now)
        uow.zones.restore_cadence([z.id for z in ended if z.rules.cadence_hours], now)
        touched = [a for z in ended for a in z.areas]
        active = uow.zones.all([ZoneStatus.ACTIVE.value], "", 100_000)
        others = {z.id: z for z in active if areas_overlap(z.areas, touched)}
        others.update({z.id: z for z in extra})
        order = sorted(others.values(), key=lambda z: (rank(z.kind), z.starts_at, z.id))
        for z in order:
            apply_zone(uow, z, now)
        return [z.id for z in order]

    def _settle(self, uow: UnitOfWork, now: datetime, counted: Sequence[str],
                added: Sequence[str] = (), holders: Sequence[str] = ()) -> None:
        """Decide the stale statuses (zone fast path, then the engine), revoke untrue passes,
        and record each zone's member count."""
        zone_rules = [r for r in self._status.rules(uow)
                      if r.enabled and r.predicate == "in_zone"]
        if len(zone_rules) == 1:
            r = zone_rules[0]
            uow.zones.refresh_zoned(now, r.id, r.version, r.colour.value if r.colour else None)
        self._status.refresh(uow, now)
        if added:
            uow.zones.revoke_zone_passes(added, now)
        if holders:  # non-green passes of people the change made green again
            uow.zones.revoke_passes_now_green(holders, now)
        for zid, n in uow.zones.zone_member_counts(list(counted)).items():
            uow.zones.set_people(zid, n)

    # -- lift, expire, extend ----------------------------------------------------------------

    def _live(self, uow: UnitOfWork, actor: Principal, zone_id: str,
              statuses: Sequence[str] = (ZoneStatus.ACTIVE.value, _SCHEDULED)) -> ZoneRecord:
        z = uow.zones.zone(zone_id, for_update=True)
        if z is None:
            raise NotFound("no such zone", code="unknown_zone", field="zone_id")
        for a in z.areas:  # every part of the zone must be the actor's to change
            authorize(actor, Action.CHANGE_ZONES, Target(region=a.region_code),
                      field="zone_id")
        if z.status not in statuses:
            raise RuleViolation(f"the zone is {z.status}", code="zone_not_active",
                                field="zone_id")
        return z

    def lift(self, actor: Principal, zone_id: str, reason: str) -> ZoneRecord:
        """Lift a zone (解封): its people are restored in bulk, in this call."""
        reason = reason.strip()
        if not 1 <= len(reason) <= 200:
            raise InvalidInput("reason must be 1-200 characters", code="bad_reason",
                               field="reason")
        now = self._d.clock.now()
        with self._d.uow() as uow:
            z = self._live(uow, actor, zone_id)
            self._end(uow, z, ZoneStatus.LIFTED, actor.username, reason, now)
            uow.audit_log.append(now, actor.username, "zone.lift", f"zone:{zone_id}",
                                 {"reason": reason})
            uow.commit()
            out = self._get(uow, zone_id)
        self._invalidate()
        return out

    def _end(self, uow: UnitOfWork, z: ZoneRecord, status: ZoneStatus, by: str, reason: str,
             now: datetime) -> None:
        uow.zones.end_zone(z.id, status.value, now, by, reason)
        self._event(uow, z.id, status.value, None, now, {"reason": reason}, by)
        follow_zone(uow, z, [], self._d.new_id, by, now)  # its door teams' work is done
        if z.status == ZoneStatus.ACTIVE.value:
            holders = uow.zones.nongreen_pass_holders([z.id], now)
            applied = self._reapply(uow, [z], now)
            self._settle(uow, now, applied, holders=holders)

    def extend(self, actor: Principal, zone_id: str, planned_end: datetime | None) -> ZoneRecord:
        """Move a zone's planned end (None: until lifted)."""
        now = self._d.clock.now()
        with self._d.uow() as uow:
            z = self._live(uow, actor, zone_id)
            check_times(z.starts_at, planned_end, now)
            uow.zones.set_planned_end(zone_id, planned_end)
            self._event(uow, zone_id, "extend", actor, now, {
                "planned_end": planned_end.isoformat() if planned_end else None,
                "was": z.planned_end.isoformat() if z.planned_end else None})
            uow.audit_log.append(now, actor.username, "zone.extend", f"zone:{zone_id}", {})
            uow.commit()
            return self._get(uow, zone_id)

    def tick(self, actor: Principal) -> ZoneChanges:
        """Start scheduled zones whose time has come; expire zones whose planned end passed.
        Run by the scheduler; idempotent."""
        authorize(actor, Action.RUN_ZONE_CHANGES)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            start, end = uow.zones.zones_due(now)
            if not start and not end:
                return ZoneChanges(0, 0)
            # each read once, for update, and checked again: an officer may have ended it
            starting = [z for i in start if (z := uow.zones.zone(i, for_update=True))
                        is not None and z.status == _SCHEDULED]
            ending = [z for i in end if (z := uow.zones.zone(i, for_update=True))
                      is not None and z.status == ZoneStatus.ACTIVE.value]
            for z in starting:
                uow.zones.set_status(z.id, ZoneStatus.ACTIVE.value)
                self._event(uow, z.id, "start", None, now, {}, actor.username)
                apply_zone(uow, z, now)
            for z in ending:
                self._end(uow, z, ZoneStatus.EXPIRED, actor.username, "planned end", now)
            start, end = [z.id for z in starting], [z.id for z in ending]
            if start:
                self._settle(uow, now, start, added=start)
            uow.audit_log.append(now, actor.username, "zone.tick", "zones",
                      {"started": len(start), "expired": len(end)})
            uow.commit()
        self._invalidate()
        return ZoneChanges(len(start), len(end))

    # -- split and shrink (分区切割、划小单元) --------------------------------------------------

    def split(self, actor: Principal, zone_id: str, parts: Sequence[ZonePart]) -> list[ZoneRecord]:
        """Replace an active zone by parts (each its own kind and rules), all inside it."""
        if not 2 <= len(parts) <= 50:
            raise InvalidInput("parts: a split makes 2-50 zones", code="bad_parts",
                               field="parts")
        return self._replace(actor, zone_id, parts, shrink=False)

    def shrink(self, actor: Principal, zone_id: str, part: ZonePart) -> ZoneRecord:
        """Replace an active zone by a smaller one of the same kind and rules."""
        return self._replace(actor, zone_id, [part], shrink=True)[0]

    def _replace(self, actor: Principal, zone_id: str, parts: Sequence[ZonePart],
                 shrink: bool) -> list[ZoneRecord]:
        now = self._d.clock.now()
        verb = "shrink" if shrink else "split"
        with self._d.uow() as uow:
            parent = self._live(uow, actor, zone_id, (ZoneStatus.ACTIVE.value,))
            resolved: list[tuple[ZonePart, JsonObject | None, list[Area]]] = []
            for i, p in enumerate(parts):
                try:
                    geom, areas = self._resolve(uow, actor, p.areas, p.polygon,
                                                f"parts[{i}].areas")
                except HesuanError as exc:
                    if shrink:
                        raise
                    raise type(exc)(f"parts[{i}]: {exc.message}", code=exc.code,
                                    field=f"parts[{i}]") from None
                resolved.append((p, geom, areas))
            check_parts(list(parent.areas), [r[2] for r in resolved], shrink=shrink)
            children: list[str] = []
            for i, (p, geom, areas) in enumerate(resolved):
                kind = ZoneKind(parent.kind) if shrink or p.kind is None else p.kind
                rules = p.rules or (parent.rules if kind == parent.kind else default_rules(kind))
                check_rules(kind, rules)
                cid = self._d.new_id()
                name = (p.name or "").strip() or (
                    parent.name if shrink else f"{parent.name} ({i + 1})")
                uow.zones.add_zone(ZoneRecord(
                    id=cid, name=name[:100], kind=kind.value, status=ZoneStatus.ACTIVE.value,
                    starts_at=now, planned_end=parent.planned_end, rules=rules, geometry=geom,
                    parent_id=parent.id, areas=tuple(areas), note=parent.note,
                    created_by=actor.username, created_at=now), "polygon" if geom else "list")
                self._event(uow, cid, "designate", actor, now,
                            {"kind": kind.value, "areas": len(areas), "from": parent.id,
                             "by": verb})
                children.append(cid)
            status = ZoneStatus.SHRUNK if shrink else ZoneStatus.SPLIT
            uow.zones.end_zone(parent.id, status.value, now, actor.username, verb)
            self._event(uow, parent.id, status.value, actor, now, {"into": children})
            new = [z for z in (uow.zones.zone(c) for c in children) if z is not None]
            holders = uow.zones.nongreen_pass_holders([parent.id], now)
            follow_zone(uow, parent, new, self._d.new_id, actor.username, now)  # door teams
            applied = self._reapply(uow, [parent], now, new)
            self._settle(uow, now, applied, added=children, holders=holders)
            uow.audit_log.append(now, actor.username, f"zone.{verb}", f"zone:{parent.id}",
                      {"into": children})
            uow.commit()
            out = [self._get(uow, c) for c in children]
        self._invalidate()
        return out

    # -- reading -----------------------------------------------------------------------------

    def _get(self, uow: UnitOfWork, zone_id: str) -> ZoneRecord:
        z = uow.zones.zone(zone_id)
        if z is None:
            raise NotFound("no such zone", code="unknown_zone", field="zone_id")
        return z

    def get(self, actor: Principal, zone_id: str) -> tuple[ZoneRecord, list[ZoneEvent]]:
        """A zone and its history (designated, split, shrunk, extended, lifted …)."""
        authorize(actor, Action.READ_ZONES)  # the role first: a prefix says nothing of it
        with self._d.uow(readonly=True) as uow:
            z = self._get(uow, zone_id)
            own = region_prefix(actor)
            # a zone is seen by whoever it touches: an area inside their region, or over it
            if not any(own.startswith(a.region_code) or a.region_code.startswith(own)
                       for a in z.areas):
                authorize(actor, Action.READ_ZONES,
                          Target(region=z.areas[0].region_code if z.areas else "\0"),
                          field="zone_id")
            history = uow.zones.zone_events(zone_id)
        return z, history

    def list_zones(self, actor: Principal, *, active_only: bool = True, region: str = "",
             limit: int = 500) -> list[ZoneRecord]:
        region = area_for(actor, Action.READ_ZONES, region)
        statuses = [ZoneStatus.ACTIVE.value, _SCHEDULED] if active_only else None
        with self._d.uow(readonly=True) as uow:
            return uow.zones.all(statuses, region, limit)

    def active(self) -> list[ZoneRecord]:
        """The active zones (cached a few seconds; used on the fence-alert hot path)."""
        with self._lock:
            if time.monotonic() - self._cache.at < _CACHE_SECONDS:
                return self._cache.zones
        with self._d.uow(readonly=True) as uow:
            zs = uow.zones.all([ZoneStatus.ACTIVE.value], "", 100_000)
        with self._lock:
            self._cache = _ActiveCache(time.monotonic(), zs)
        return zs

    def _invalidate(self) -> None:
        with self._lock:
            self._cache = _ActiveCache()

    def zones_at(self, place: PlaceRow, active: Sequence[ZoneRecord]) -> frozenset[str]:
        """Active zones a place (venue, checkpoint, site) lies in: its region code inside an
        area, or its coordinates inside the zone's polygon."""
        out = set()
        for z in active:
            by_area = any(not a.building and area_covers(a, place.region_code, None)
                          for a in z.areas)
            if by_area or (z.geometry is not None and place.lat is not None
                           and place.lng is not None
                           and self._geo.inside(z.geometry, [("p", place.lng, place.lat)])):
                out.add(z.id)
        return frozenset(out)

    def _event(self, uow: UnitOfWork, zone_id: str, action: str, actor: Principal | None,
               now: datetime, detail: JsonObject, by: str | None = None) -> None:
        uow.zones.add_zone_event(ZoneEvent(
            id=self._d.new_id(), zone_id=zone_id, action=action,
            actor=by or (actor.username if actor else "system"), at=now, detail=detail))

    # -- GeoJSON -----------------------------------------------------------------------------

    def export_geojson(self, actor: Principal, *, active_only: bool = True,
                       region: str = "") -> dict[str, Any]:
        """Zones as a GeoJSON FeatureCollection: the drawn polygon, or the union of the known
        boundaries of its areas, or no geometry (the areas are listed in the properties)."""
        zs = self.list_zones(actor, active_only=active_only, region=region, limit=10_000)
        with self._d.uow(readonly=True) as uow:
            shapes = {r.code: r.geometry for r in uow.zones.region_geo("", ())
                      if r.geometry is not None}
        features = []
        for z in zs:
            geom = z.geometry
            if geom is None:
                parts = [shapes[a.region_code] for a in z.areas
                         if not a.building and a.region_code in shapes]
                geom = self._geo.union(parts) if len(parts) == len(z.areas) else None
            props = zone_view(z)
            for k in ("starts_at", "planned_end", "ended_at", "created_at"):
                props[k] = iso_utc(props[k]) if props[k] else None
            features.append({"type": "Feature", "id": z.id, "geometry": geom,
                             "properties": props})
        return {"type": "FeatureCollection", "features": features}

    def import_geojson(self, actor: Principal, collection: Any) -> list[FeatureOutcome]:
        """Designate one zone per Feature (properties: name, kind, areas, planned_end,
        starts_at, rules, note; geometry: a polygon or null). Answers per feature."""
        authorize(actor, Action.CHANGE_ZONES, Target(region=region_prefix(actor)))
        out: list[FeatureOutcome] = []
        for i, f in enumerate(_features(collection)):
            try:
                props = f.get("properties") or {}
                zi = _zone_input(props, f.get("geometry"))
                z = self.designate(actor, zi)
                out.append(FeatureOutcome(i, "created", zone_id=z.id, people=z.people))
            except HesuanError as exc:
                out.append(FeatureOutcome(i, "rejected", reason=exc.code, message=exc.message,
                                          field=exc.field))
        return out

    def import_boundaries(self, actor: Principal, collection: Any,
                          source: str = "geojson") -> int:
        """Region boundaries (Polygon/MultiPolygon) or centres (Point) from GeoJSON; the code is
        ``properties.code`` or ``properties.adcode``."""
        authorize(actor, Action.IMPORT_BOUNDARIES)
        now = self._d.clock.now()
        rows: list[RegionShape] = []
        for i, f in enumerate(_features(collection)):
            props = f.get("properties") or {}
            code = str(props.get("code") or props.get("adcode") or "").strip()
            if not is_digits(code) or len(code) not in (2, 4, 6, 9, 12, 15):
                raise InvalidInput(f"features[{i}].properties.code must be a region code",
                                   code="bad_region_code", field=f"features[{i}]")
            g = f.get("geometry") or {}
            if g.get("type") == "Point":
                lng, lat = _point(g.get("coordinates"), f"features[{i}].geometry")
                rows.append(RegionShape(code=code, lat=lat, lng=lng, geometry=None,
                                        source=source[:80], updated_at=now))
                continue
            geom = self._geo.check(g, field=f"features[{i}].geometry")
            centre = props.get("centroid") or props.get("center")
            lng, lat = (_point(centre, f"features[{i}].properties.centroid") if centre
                        else self._geo.centre(geom))
            rows.append(RegionShape(code=code, lat=lat, lng=lng, geometry=geom,
                                    source=source[:80], updated_at=now))
        with self._d.uow() as uow:
            n = uow.zones.upsert_region_geo(rows)
            uow.audit_log.append(now, actor.username, "region_geo.import", "regions",
                                 {"features": n})
            uow.commit()
        return n

    def export_boundaries(self, actor: Principal, *, level: int | None = 6,
                          region: str = "") -> dict[str, Any]:
        """Known boundaries (or centres) as a FeatureCollection; ``level`` is the code length
        (6: districts, 15: grid centres; None: all)."""
        with self._d.uow(readonly=True) as uow:
            rows = uow.zones.region_geo(region, () if level is None else (level,))
        features = []
        for r in rows:
            geom: Json = r.geometry or (
                {"type": "Point", "coordinates": [r.lng, r.lat]}
                if r.lat is not None else None)
            features.append({"type": "Feature", "id": r.code, "geometry": geom,
                             "properties": {"code": r.code, "name": r.name, "level": r.level,
                                            "centroid": [r.lng, r.lat], "source": r.source}})
        return {"type": "FeatureCollection", "features": features}


def _features(collection: Any) -> list[dict[str, Any]]:
    if isinstance(collection, dict) and collection.get("type") == "Feature":
        return [collection]
    if (not isinstance(collection, dict) or collection.get("type") != "FeatureCollection"
            or not isinstance(collection.get("features"), list)):
        raise InvalidInput("a GeoJSON FeatureCollection is required", code="bad_geojson",
                           field="geojson")
    feats = collection["features"]
    if len(feats) > 100_000 or not all(
            isinstance(f, dict) and isinstance(f.get("properties") or {}, dict)
            and isinstance(f.get("geometry") or {}, dict) for f in feats):
        raise InvalidInput("features must be at most 100,000 GeoJSON Features (properties and "
                           "geometry objects or null)", code="bad_geojson", field="features")
    out: list[dict[str, Any]] = feats
    return out


def _point(value: Any, field: str) -> tuple[float, float]:
    try:
        lng, lat = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise InvalidInput(f"{field} must be [longitude, latitude]", code="bad_geometry",
                           field=field) from None
    if not (-180 <= lng <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"{field} must be [longitude, latitude] in degrees",
                           code="bad_geometry", field=field)
    return lng, lat


def _zone_input(props: dict[str, Any], geometry: Any) -> ZoneInput:
    try:
        kind = ZoneKind(str(props.get("kind")))
    except ValueError:
        raise InvalidInput("properties.kind must be sealed, controlled or precaution",
                           code="bad_kind", field="kind") from None
    areas = props.get("areas") or []
    if not isinstance(areas, list) or not all(isinstance(a, str) for a in areas):
        raise InvalidInput("properties.areas must be a list of region codes",
                           code="bad_areas", field="areas")
    rules = None
    if isinstance(props.get("rules"), dict):
        base = default_rules(kind).as_dict()
        try:
            merged = base | props["rules"]
            if merged.get("cadence_hours") is not None:
                merged["cadence_hours"] = float(merged["cadence_hours"])
            if merged.get("colour") is not None and not isinstance(merged["colour"], str):
                raise ValueError("colour")
            rules = ZoneRules.from_dict(merged)
        except (ValueError, KeyError, TypeError):
            raise InvalidInput("properties.rules: cadence_hours must be a number, "
                               "sampling_mode, movement and colour known words",
                               code="bad_rules", field="rules") from None

    def time_of(key: str) -> datetime | None:
        v = props.get(key)
        if v in (None, ""):
            return None
        try:
            t = datetime.fromisoformat(str(v))
        except ValueError:
            raise InvalidInput(f"properties.{key} must be an ISO 8601 time",
                               code="bad_time", field=key) from None
        if t.tzinfo is None:
            raise InvalidInput(f"properties.{key} must carry a timezone", code="naive_time",
                               field=key)
        return check_instant(t, key)

    return ZoneInput(name=str(props.get("name") or ""), kind=kind,
                     areas=[parse_area(a) for a in areas],
                     polygon=geometry if geometry else None, starts_at=time_of("starts_at"),
                     planned_end=time_of("planned_end"), rules=rules,
                     note=str(props["note"])[:200] if props.get("note") else None)
