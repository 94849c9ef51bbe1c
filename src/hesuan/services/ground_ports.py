"""Ports of the ground-level organisation (issue 5): zones, rosters, fence alerts, door-to-door
teams, site lanes, staff and shifts — what those services need from storage and geometry.

``GroundStore`` is part of the ``UnitOfWork`` (one transaction); the SQL adapter implements it
set-based (``hesuan.adapters.db.ground_store``). ``Geometry`` is GeoJSON geometry (shapely in
``hesuan.adapters.geo``).

Imports: standard library and ``hesuan.domain`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hesuan.domain.fence import ScanPerson
from hesuan.domain.rosters import Counts
from hesuan.domain.shifts import Span
from hesuan.domain.zones import Area, ZoneRules

__all__ = [
    "GeoPoint",
    "Geometry",
    "GroundStore",
    "LaneEntry",
    "PlaceRow",
    "RosterPerson",
    "ScanFacts",
    "ShiftRow",
    "ZoneRecord",
]


class Geometry(Protocol):
    """GeoJSON geometry in lon/lat (WGS-84 style)."""

    def check(self, geometry: Any, *, field: str) -> dict[str, Any]:
        """A valid Polygon or MultiPolygon as a GeoJSON mapping; InvalidInput naming ``field``
        otherwise."""
    def inside(self, geometry: dict[str, Any],
               points: Sequence[tuple[str, float, float]]) -> list[str]:
        """Keys of the ``(key, lng, lat)`` points inside (or on the edge of) the geometry."""
    def covers(self, outer: dict[str, Any], inner: dict[str, Any]) -> bool: ...
    def centre(self, geometry: dict[str, Any]) -> tuple[float, float]:
        """A point inside the geometry (lng, lat)."""
    def union(self, geometries: Sequence[dict[str, Any]]) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class GeoPoint:
    code: str
    lng: float
    lat: float


@dataclass(frozen=True, slots=True)
class ZoneRecord:
    id: str
    name: str
    kind: str
    status: str
    starts_at: datetime
    planned_end: datetime | None
    rules: ZoneRules
    geometry: dict[str, Any] | None
    parent_id: str | None
    areas: tuple[Area, ...]
    people: int | None = None
    ended_at: datetime | None = None
    note: str | None = None
    created_by: str = ""
    created_at: datetime | None = None
    end_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceRow:
    kind: str  # venue | checkpoint
    id: str
    name: str
    region_code: str
    lat: float | None
    lng: float | None


@dataclass(frozen=True, slots=True)
class RosterPerson:
    id: str
    name_masked: str
    grid_code: str
    household_id: str | None
    address: str | None
    last_sampled_at: datetime | None
    exempt_until: datetime | None
    exempt_reason: str | None
    colour: str
    zone_kind: str | None
    phone_enc: bytes | None
    outcome: str | None = None
    outcome_at: datetime | None = None


@dataclass(slots=True)
class LaneEntry:
    event_id: str
    site_id: str
    window: int | None
    barcode: str
    person_id: str
    registered_at: datetime
    swabbed_at: datetime | None = None
    swab_event_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShiftRow:
    id: str
    staff_id: str
    staff_name: str
    role: str
    team_id: str | None
    place_kind: str
    place_id: str
    window: int | None
    started_at: datetime
    ended_at: datetime | None


@dataclass(slots=True)
class ScanFacts:
    """A scanned person's facts for the fence rules, with their home grid."""

    grid_code: str
    name_masked: str
    person: ScanPerson = field(default_factory=ScanPerson)


class GroundStore(Protocol):
    # -- regions and geometry --------------------------------------------------------------
    def existing_regions(self, codes: Iterable[str]) -> set[str]: ...
    def upsert_region_geo(self, rows: Sequence[dict[str, Any]]) -> int: ...
    def region_geo(self, prefix: str, lengths: Sequence[int]) -> list[dict[str, Any]]: ...
    def grid_points(self, prefix: str) -> list[GeoPoint]: ...

    # -- zones -----------------------------------------------------------------------------
    def add_zone(self, row: dict[str, Any], areas: Sequence[Area], source: str) -> None: ...
    def zone(self, zone_id: str) -> ZoneRecord | None: ...
    def zones(self, statuses: Sequence[str] | None, prefix: str,
              limit: int) -> list[ZoneRecord]: ...
    def update_zone(self, zone_id: str, values: dict[str, Any]) -> None: ...
    def add_zone_event(self, row: dict[str, Any]) -> None: ...
    def zone_events(self, zone_id: str) -> list[dict[str, Any]]: ...
    def zones_due(self, now: datetime) -> tuple[list[str], list[str]]:
        """(scheduled zones whose start has come, active zones whose planned end passed)."""
    def clear_zone_members(self, zone_ids: Sequence[str], now: datetime,
                           restore_cadence: bool) -> int: ...
    def apply_zone_members(self, zone_id: str, status_kind: str | None, colour: str | None,
                           rank: int, now: datetime, cadence_ms: int | None = None,
                           start: datetime | None = None) -> int: ...
    def refresh_zoned(self, now: datetime, rule_id: str, rule_version: int,
                      colour: str | None) -> int: ...
    def revoke_zone_passes(self, zone_ids: Sequence[str], now: datetime) -> int: ...
    def nongreen_pass_holders(self, zone_ids: Sequence[str], now: datetime) -> list[str]: ...
    def revoke_passes_now_green(self, person_ids: Sequence[str], now: datetime) -> int: ...
    def zone_member_counts(self, zone_ids: Sequence[str]) -> dict[str, int]: ...

    # -- rosters ---------------------------------------------------------------------------
    def coverage_by_grid(self, prefix: str, since: datetime,
                         as_of: datetime) -> dict[str, Counts]: ...
    def save_coverage_snapshot(self, rows: dict[str, Counts], since: datetime,
                               as_of: datetime) -> None: ...
    def coverage_snapshot(self, prefix: str) -> tuple[dict[str, Counts], datetime, datetime] | None:
        """(grid counts, since, as_of) of the latest snapshot, or None."""
    def roster_people(self, prefix: str, since: datetime, as_of: datetime, which: str,
                      limit: int, offset: int) -> list[RosterPerson]: ...
    def add_roster_outcome(self, row: dict[str, Any]) -> None: ...
    def region_names(self, codes: Sequence[str]) -> dict[str, str]: ...

    # -- places and fence alerts -----------------------------------------------------------
    def add_checkpoint(self, row: dict[str, Any]) -> None: ...
    def places(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PlaceRow]: ...
    def scan_facts(self, person_ids: Iterable[str]) -> dict[str, ScanFacts]:
        """Facts of those of the people a fence rule can fire for (anyone else is absent)."""
    def tests_since(self, person_ids: Sequence[str],
                    since: dict[str, datetime]) -> dict[str, list[datetime]]: ...
    def known_scans(self, event_ids: Iterable[str]) -> set[str]: ...
    def person_for_pass_hash(self, id_hashes: Iterable[str]) -> dict[str, str]: ...
    def record_scans(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def upsert_fence_alerts(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert new alerts; a second scan the same day bumps the existing alert's count.
        Returns how many alerts are new."""
    def fence_alerts(self, prefix: str, grid: str | None, statuses: Sequence[str],
                     limit: int) -> list[dict[str, Any]]: ...
    def fence_alert(self, alert_id: str) -> dict[str, Any] | None: ...
    def update_fence_alert(self, alert_id: str, values: dict[str, Any]) -> None: ...
    def purge_scans(self, before: datetime) -> int: ...

    # -- door-to-door teams ----------------------------------------------------------------
    def add_assignment(self, row: dict[str, Any], person_ids: Sequence[str]) -> int: ...
    def assignments(self, site_id: str, open_only: bool) -> list[dict[str, Any]]: ...
    def assignment(self, assignment_id: str) -> dict[str, Any] | None: ...
    def update_assignment(self, assignment_id: str, values: dict[str, Any]) -> None: ...
    def route(self, assignment_ids: Sequence[str], since: datetime) -> list[dict[str, Any]]:
        """One row per person of the assignments: household, grid, address, sampled since."""
    def household_members(self, household_id: str) -> list[dict[str, Any]]: ...
    def on_route(self, assignment_ids: Sequence[str], person_ids: Sequence[str]) -> set[str]:
        """Those of ``person_ids`` whom the assignments reach (listed, or in their zone)."""

    # -- site lanes ------------------------------------------------------------------------
    def lane_pending(self, site_id: str, person_ids: Iterable[str] | None = None,
                     barcodes: Iterable[str] | None = None) -> list[LaneEntry]: ...
    def pending_for_people(self, person_ids: Iterable[str]) -> dict[str, LaneEntry]: ...
    def add_lane_entries(self, rows: Sequence[LaneEntry]) -> None: ...
    def mark_swabbed(self, rows: Sequence[tuple[str, datetime, str, int | None]]) -> None:
        """(registration event id, swabbed at, swab event id, window)."""
    def record_lane_events(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def queue_lengths(self, site_ids: Sequence[str] | None, since: datetime) -> dict[str, int]:
        """People registered and not yet swabbed, for sites that used the two lanes since
        ``since`` (or have anyone waiting)."""
    def recent_swabs(self, site_ids: Sequence[str] | None, since: datetime,
                     until: datetime) -> dict[str, list[tuple[int | None, datetime]]]: ...

    # -- staff and shifts ------------------------------------------------------------------
    def add_team(self, row: dict[str, Any]) -> None: ...
    def team(self, team_id: str) -> dict[str, Any] | None: ...
    def teams(self) -> list[dict[str, Any]]: ...
    def move_team(self, team_id: str, move: dict[str, Any]) -> None: ...
    def team_moves(self, team_id: str) -> list[dict[str, Any]]: ...
    def add_staff(self, row: dict[str, Any]) -> None: ...
    def staff_member(self, staff_id: str) -> dict[str, Any] | None: ...
    def staff_spans(self, staff_id: str, since: datetime) -> list[Span]: ...
    def spans_of(self, staff_ids: Sequence[str], since: datetime) -> dict[str, list[Span]]: ...
    def open_shift(self, staff_id: str) -> ShiftRow | None: ...
    def add_shift(self, row: dict[str, Any]) -> None: ...
    def end_shift(self, shift_id: str, at: datetime, by: str) -> None: ...
    def shifts_on(self, place_ids: Sequence[str] | None) -> list[ShiftRow]: ...
