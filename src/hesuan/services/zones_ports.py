"""What the zones service needs from storage and geometry: regions' boundaries and grid centres,
zones, their areas, events and members (``ZoneRepository``, part of the ``UnitOfWork``, implemented
set-based by ``hesuan.adapters.db.zones_store``), and GeoJSON geometry (``Geometry``, shapely in
``hesuan.adapters.geo``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from hesuan.domain.json import Json, JsonObject
from hesuan.domain.zones import Area, ZoneRules

__all__ = ["GeoPoint", "Geometry", "RegionShape", "ZoneEvent", "ZoneRecord", "ZoneRepository"]


class Geometry(Protocol):
    """GeoJSON geometry in lon/lat (WGS-84 style)."""

    def check(self, geometry: Json, *, field: str) -> JsonObject:
        """A valid Polygon or MultiPolygon as a GeoJSON mapping; InvalidInput naming ``field``
        otherwise."""
    def inside(self, geometry: JsonObject,
               points: Sequence[tuple[str, float, float]]) -> list[str]:
        """Keys of the ``(key, lng, lat)`` points inside (or on the edge of) the geometry."""
    def covers(self, outer: JsonObject, inner: JsonObject) -> bool: ...
    def centre(self, geometry: JsonObject) -> tuple[float, float]:
        """A point inside the geometry (lng, lat)."""
    def union(self, geometries: Sequence[JsonObject]) -> JsonObject | None: ...


@dataclass(frozen=True, slots=True)
class GeoPoint:
    code: str
    lng: float
    lat: float


@dataclass(frozen=True, slots=True)
class RegionShape:
    """A region's boundary (a GeoJSON polygon) or, with no geometry, its centre; ``name`` and
    ``level`` come from the region's record when reading (None if the region is unknown)."""

    code: str
    lat: float | None
    lng: float | None
    geometry: JsonObject | None
    source: str | None
    updated_at: datetime
    name: str | None = None
    level: str | None = None


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    id: str
    name: str
    kind: str
    status: str
    starts_at: datetime
    planned_end: datetime | None
    rules: ZoneRules
    geometry: JsonObject | None
    parent_id: str | None
    areas: tuple[Area, ...]
    people: int | None = None
    ended_at: datetime | None = None
    note: str | None = None
    created_by: str = ""
    created_at: datetime | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """One step of a zone's history (designate, start, extend, lifted, split, …) and its detail,
    a JSON object whose keys depend on the step."""

    id: str
    zone_id: str
    action: str
    actor: str
    at: datetime
    detail: JsonObject


class ZoneRepository(Protocol):
    # -- regions and geometry --------------------------------------------------------------
    def existing_regions(self, codes: Iterable[str]) -> set[str]: ...
    def upsert_region_geo(self, rows: Sequence[RegionShape]) -> int:
        """Replace the shapes of these regions (``name`` and ``level`` are not written)."""
    def region_geo(self, prefix: str, lengths: Sequence[int]) -> list[RegionShape]:
        """Known shapes under ``prefix`` whose code has one of ``lengths`` (all if empty)."""
    def grid_points(self, prefix: str) -> list[GeoPoint]: ...

    # -- zones -----------------------------------------------------------------------------
    def add_zone(self, zone: ZoneRecord, source: str) -> None:
        """Store a new zone and its areas (``source``: how they were given, list or polygon)."""
    def zone(self, zone_id: str, *, for_update: bool = False) -> ZoneRecord | None:
        """The zone; ``for_update``: its row locked until the transaction ends (a change of
        it reads it so: two officers ending it at once, the second finds it ended)."""
    def all(self, statuses: Sequence[str] | None, prefix: str,
              limit: int) -> list[ZoneRecord]: ...
    def set_status(self, zone_id: str, status: str) -> None: ...
    def set_planned_end(self, zone_id: str, planned_end: datetime | None) -> None: ...
    def set_people(self, zone_id: str, people: int) -> None: ...
    def end_zone(self, zone_id: str, status: str, at: datetime, by: str, reason: str) -> None:
        """The zone ends (lifted, expired, split, shrunk): its status, when, by whom, why."""
    def add_zone_event(self, event: ZoneEvent) -> None: ...
    def zone_events(self, zone_id: str) -> list[ZoneEvent]: ...
    def zones_due(self, now: datetime) -> tuple[list[str], list[str]]:
        """(scheduled zones whose start has come, active zones whose planned end passed)."""
    def clear_zone_members(self, zone_ids: Sequence[str], now: datetime) -> int:
        """The members of these zones leave them."""
    def restore_cadence(self, zone_ids: Sequence[str], now: datetime) -> int:
        """The people of these zones' areas get their own policy's interval and due time."""
    def apply_zone_members(self, zone_id: str, status_kind: str | None, colour: str | None,
                           rank: int, now: datetime,
                           person_ids: Sequence[str] | None = None) -> int:
        """The people of the zone's areas (of ``person_ids`` only, when given) join it."""
    def apply_zone_cadence(self, zone_id: str, cadence_ms: int, start: datetime,
                           now: datetime, person_ids: Sequence[str] | None = None) -> int:
        """The people of the zone's areas whose interval is longer take the zone's."""
    def refresh_zoned(self, now: datetime, rule_id: str, rule_version: int,
                      colour: str | None) -> int: ...
    def revoke_zone_passes(self, zone_ids: Sequence[str], now: datetime) -> int: ...
    def nongreen_pass_holders(self, zone_ids: Sequence[str], now: datetime) -> list[str]: ...
    def revoke_passes_now_green(self, person_ids: Sequence[str], now: datetime) -> int: ...
    def zone_member_counts(self, zone_ids: Sequence[str]) -> dict[str, int]: ...
