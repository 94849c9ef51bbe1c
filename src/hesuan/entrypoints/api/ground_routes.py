"""HTTP routes of the ground-level organisation: zones (and GeoJSON), grid rosters and coverage,
fence alerts from venue and checkpoint scans, the two lanes and site queues, door-to-door teams,
staff and shifts. Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.domain.errors import NotFound
from hesuan.domain.fence import AlertOutcome, PlaceKind
from hesuan.domain.regions import Level
from hesuan.domain.rosters import Outcome
from hesuan.domain.shifts import StaffRole, TeamKind
from hesuan.domain.zones import Movement, SamplingMode, ZoneKind, ZoneRules, default_rules
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Instant, Strict
from hesuan.services.fence import CheckpointKind, ScanInput
from hesuan.services.lanes import LaneEvent
from hesuan.services.zones import ZoneInput, ZonePart, parse_area, zone_view

__all__ = ["router"]

router = APIRouter()

AreaText = Annotated[str, Field(min_length=6, max_length=56,
                                description="region code, or grid code/building")]
Id = Annotated[str, Field(min_length=1, max_length=40)]
Note = Annotated[str | None, Field(default=None, max_length=200)]


# -- zones ---------------------------------------------------------------------------------------

class RulesIn(Strict):
    cadence_hours: float | None = Field(default=None, ge=4, le=168)
    sampling_mode: SamplingMode | None = None
    movement: Movement | None = None
    colour: Literal["red", "popup", "yellow"] | None = None


def _rules(kind: ZoneKind, r: RulesIn | None) -> ZoneRules | None:
    if r is None:
        return None
    base = default_rules(kind)
    return ZoneRules(r.cadence_hours if "cadence_hours" in r.model_fields_set
                     else base.cadence_hours,
                     r.sampling_mode or base.sampling_mode, r.movement or base.movement,
                     r.colour)


class ZoneIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: ZoneKind
    areas: list[AreaText] = Field(default_factory=list, max_length=5000)
    polygon: dict[str, Any] | None = Field(default=None,
                                           description="GeoJSON Polygon or MultiPolygon")
    starts_at: Instant | None = None
    planned_end: Instant | None = None
    rules: RulesIn | None = None
    note: Note = None


class PartIn(Strict):
    name: str | None = Field(default=None, max_length=100)
    kind: ZoneKind | None = None
    areas: list[AreaText] = Field(default_factory=list, max_length=5000)
    polygon: dict[str, Any] | None = None
    rules: RulesIn | None = None


def _part(p: PartIn) -> ZonePart:
    return ZonePart(p.name, p.kind, [parse_area(a) for a in p.areas], p.polygon,
                    _rules(p.kind, p.rules) if p.kind is not None else None)


class SplitIn(Strict):
    parts: list[PartIn] = Field(min_length=2, max_length=50)


class LiftIn(Strict):
    reason: str = Field(min_length=1, max_length=200)


class ExtendIn(Strict):
    planned_end: Instant | None


@router.post("/zones", tags=["zones"], status_code=201, openapi_extra=acts(Action.CHANGE_ZONES))
def designate_zone(me: Me, platform: PlatformDep, body: ZoneIn) -> dict[str, Any]:
    """Designate a sealed (封控), controlled (管控) or precaution (防范) zone; its people's
    status changes in this call when it starts now."""
    z = platform.zones.designate(me, ZoneInput(
        body.name, body.kind, [parse_area(a) for a in body.areas], body.polygon,
        body.starts_at, body.planned_end, _rules(body.kind, body.rules), body.note))
    return zone_view(z)


@router.get("/zones", tags=["zones"], openapi_extra=acts(Action.READ_ZONES))
def list_zones(me: Me, platform: PlatformDep, active_only: bool = True,
               region: Annotated[str, Query(max_length=15, pattern=r"^\d*$")] = "",
               ) -> list[dict[str, Any]]:
    return [zone_view(z) for z in platform.zones.list_zones(me, active_only=active_only,
                                                             region=region)]


@router.get("/zones.geojson", tags=["zones"], openapi_extra=acts(Action.READ_ZONES))
def export_zones(me: Me, platform: PlatformDep, active_only: bool = True) -> dict[str, Any]:
    return platform.zones.export_geojson(me, active_only=active_only)


@router.post("/zones/import", tags=["zones"], openapi_extra=acts(Action.CHANGE_ZONES))
def import_zones(me: Me, platform: PlatformDep,
                 body: Annotated[dict[str, Any], Body(description="FeatureCollection")],
                 ) -> list[dict[str, Any]]:
    return platform.zones.import_geojson(me, body)


@router.get("/zones/{zone_id}", tags=["zones"], openapi_extra=acts(Action.READ_ZONES))
def get_zone(me: Me, platform: PlatformDep, zone_id: str) -> dict[str, Any]:
    z, history = platform.zones.get(me, zone_id)
    return zone_view(z) | {"history": history, "geometry": z.geometry}


@router.post("/zones/{zone_id}/lift", tags=["zones"], openapi_extra=acts(Action.CHANGE_ZONES))
def lift_zone(me: Me, platform: PlatformDep, zone_id: str, body: LiftIn) -> dict[str, Any]:
    return zone_view(platform.zones.lift(me, zone_id, body.reason))


@router.post("/zones/{zone_id}/extend", tags=["zones"], openapi_extra=acts(Action.CHANGE_ZONES))
def extend_zone(me: Me, platform: PlatformDep, zone_id: str, body: ExtendIn) -> dict[str, Any]:
    return zone_view(platform.zones.extend(me, zone_id, body.planned_end))


@router.post("/zones/{zone_id}/split", tags=["zones"], openapi_extra=acts(Action.CHANGE_ZONES))
def split_zone(me: Me, platform: PlatformDep, zone_id: str,
               body: SplitIn) -> list[dict[str, Any]]:
    return [zone_view(z) for z in platform.zones.split(me, zone_id,
                                                       [_part(p) for p in body.parts])]


@router.post("/zones/{zone_id}/shrink", tags=["zones"], openapi_extra=acts(Action.CHANGE_ZONES))
def shrink_zone(me: Me, platform: PlatformDep, zone_id: str, body: PartIn) -> dict[str, Any]:
    return zone_view(platform.zones.shrink(me, zone_id, _part(body)))


@router.get("/regions/boundaries.geojson", tags=["zones"], openapi_extra=acts(Action.SIGNED_IN))
def export_boundaries(me: Me, platform: PlatformDep,
                      level: Annotated[int | None, Query(ge=2, le=15)] = 6) -> dict[str, Any]:
    """District (level 6) boundaries, or any level's, or grid centres (15)."""
    return platform.zones.export_boundaries(me, level=level)


@router.post("/regions/boundaries", tags=["zones"], openapi_extra=acts(Action.IMPORT_BOUNDARIES))
def import_boundaries(me: Me, platform: PlatformDep,
                      body: Annotated[dict[str, Any], Body(description="FeatureCollection")],
                      ) -> dict[str, int]:
    return {"imported": platform.zones.import_boundaries(me, body)}


# -- rosters and coverage ------------------------------------------------------------------------

Region = Annotated[str | None, Query(max_length=15, pattern=r"^\d*$")]


@router.get("/rosters/coverage", tags=["rosters"], openapi_extra=acts(Action.READ_COVERAGE))
def coverage(me: Me, platform: PlatformDep, region: Region = None,
             level: Literal["district", "street", "community", "grid"] = "grid",
             live: bool = False) -> dict[str, Any]:
    """应检尽检: due, sampled, exempt, outstanding and coverage (people, not tubes) by district,
    street, community and grid — the current round from the snapshot, or counted live."""
    return platform.rosters.coverage(me, region=region, level=Level(level), live=live)


@router.get("/rosters/coverage.xlsx", tags=["rosters"], response_class=Response,
            responses={200: {"content": {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}},
            openapi_extra=acts(Action.READ_COVERAGE))
def coverage_xlsx(me: Me, platform: PlatformDep, region: Region = None,
                  live: bool = False) -> Response:
    data = platform.rosters.export_xlsx(me, region=region, live=live)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                                     "spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="coverage.xlsx"'})


@router.get("/rosters/people", tags=["rosters"], openapi_extra=acts(Action.READ_ROSTER))
def roster_people(me: Me, platform: PlatformDep, region: Region = None,
                  which: Literal["outstanding", "sampled", "exempt", "due"] = "outstanding",
                  hours: Annotated[float, Query(gt=0, le=720)] = 96,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 500,
                  offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> dict[str, Any]:
    """The grid worker's list: masked names, address, household, masked phone, last outcome."""
    return platform.rosters.people(me, region=region, which=which,
                                   window=timedelta(hours=hours), limit=limit, offset=offset)


@router.post("/rosters/snapshot", tags=["rosters"], openapi_extra=acts(Action.REFRESH_COVERAGE))
def refresh_snapshot(me: Me, platform: PlatformDep) -> dict[str, Any]:
    return platform.rosters.refresh_snapshot(me)


class OutcomeIn(Strict):
    outcome: Outcome
    note: Note = None


@router.post("/people/{person_id}/roster-outcome", tags=["rosters"], status_code=201,
             openapi_extra=acts(Action.RECORD_ROSTER_OUTCOME))
def roster_outcome(me: Me, platform: PlatformDep, person_id: str,
                   body: OutcomeIn) -> dict[str, str]:
    """One tap: reached / refused / away / needs_door_to_door."""
    return {"id": platform.rosters.record_outcome(me, person_id, body.outcome, body.note)}


@router.post("/people/{person_id}/reveal-phone", tags=["rosters"],
             openapi_extra=acts(Action.REVEAL_PHONE))
def reveal_phone(me: Me, platform: PlatformDep, person_id: str) -> dict[str, str | None]:
    """The full phone number, on demand (the read is audited)."""
    return {"phone": platform.rosters.reveal_phone(me, person_id)}


# -- fence alerts --------------------------------------------------------------------------------

class CheckpointIn(Strict):
    code: str = Field(min_length=4, max_length=20)
    name: str = Field(min_length=1, max_length=100)
    kind: CheckpointKind
    region_code: str = Field(min_length=2, max_length=15, pattern=r"^\d+$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)


@router.post("/checkpoints", tags=["fence"], status_code=201,
             openapi_extra=acts(Action.REGISTER_CHECKPOINT))
def add_checkpoint(me: Me, platform: PlatformDep, body: CheckpointIn) -> dict[str, str]:
    return {"id": platform.fence.add_checkpoint(me, body.code, body.name, body.kind,
                                                body.region_code, body.lat, body.lng)}


class ScanIn(Strict):
    event_id: str = Field(min_length=1, max_length=36)
    place_kind: PlaceKind
    place_id: Id
    at: Instant
    code: str | None = Field(default=None, max_length=200, description="sampling code token")
    pass_: str | None = Field(default=None, alias="pass", max_length=4096,
                              description="status pass text, SP1:…")


class ScansIn(Strict):
    scans: list[ScanIn] = Field(min_length=1, max_length=1000)


@router.post("/fence/scans", tags=["fence"], openapi_extra=acts(Action.RECORD_PLACE_SCANS))
def fence_scans(me: Me, platform: PlatformDep, body: ScansIn) -> dict[str, Any]:
    """Scans from a venue or checkpoint device (sampling code or pass); per-scan outcome and
    the fence rules each scan broke (alerts are de-duplicated per person, rule and day)."""
    out = platform.fence.scan(me, [ScanInput(s.event_id, s.place_kind, s.place_id, s.at,
                                             s.code, s.pass_) for s in body.scans])
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for o in out:
        counts[o.status] += 1
    return counts | {"results": [asdict(o) for o in out]}


@router.get("/fence/alerts", tags=["fence"], openapi_extra=acts(Action.READ_FENCE_ALERTS))
def fence_alerts(me: Me, platform: PlatformDep,
                 status: Annotated[list[Literal["open", "acknowledged", "closed"]] | None,
                                   Query()] = None,
                 region: Region = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """The caller's inbox: a grid worker's grid, an officer's region."""
    return platform.fence.alerts(me, statuses=status or ["open", "acknowledged"],
                                 region=region, limit=limit)


class AckIn(Strict):
    note: Note = None


class CloseIn(Strict):
    outcome: AlertOutcome
    note: Note = None


@router.post("/fence/alerts/{alert_id}/acknowledge", tags=["fence"],
             openapi_extra=acts(Action.HANDLE_FENCE_ALERT))
def ack_alert(me: Me, platform: PlatformDep, alert_id: str, body: AckIn) -> dict[str, str]:
    platform.fence.acknowledge(me, alert_id, body.note)
    return {"status": "acknowledged"}


@router.post("/fence/alerts/{alert_id}/close", tags=["fence"],
             openapi_extra=acts(Action.HANDLE_FENCE_ALERT))
def close_alert(me: Me, platform: PlatformDep, alert_id: str, body: CloseIn) -> dict[str, str]:
    platform.fence.close(me, alert_id, body.outcome, body.note)
    return {"status": "closed"}


# -- lanes and site load -------------------------------------------------------------------------

class LaneEventIn(Strict):
    event_id: str = Field(min_length=1, max_length=36)
    kind: Literal["register", "swab", "open_tube", "sample", "seal_tube", "box_tube",
                  "seal_box"]
    site_id: Id
    at: Instant
    barcode: str | None = Field(default=None, max_length=40)
    code: str | None = Field(default=None, max_length=200)
    window: int | None = Field(default=None, ge=1, le=50)
    mode: int | None = Field(default=None, ge=1, le=20)
    box_code: str | None = Field(default=None, max_length=40)


class LaneBatchIn(Strict):
    events: list[LaneEventIn] = Field(min_length=1, max_length=1000)


@router.post("/lanes/batch", tags=["sampling"], openapi_extra=acts(Action.RECORD_STATION_EVENTS))
def lanes_batch(me: Me, platform: PlatformDep, body: LaneBatchIn) -> dict[str, Any]:
    """A station's ordered batch in two-lane mode: ``register`` (bind a person to the next
    tube), ``swab`` (a person, by code, or a whole tube, by barcode), and the spine's events."""
    out = platform.lanes.submit(me, [LaneEvent(e.event_id, e.kind, e.site_id, e.at, e.barcode,
                                               e.code, e.window, e.mode, e.box_code)
                                     for e in body.events])
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for o in out:
        counts[o.status] += 1
    return counts | {"results": [asdict(o) for o in out]}


@router.get("/sites/load", tags=["sampling"], openapi_extra=acts(Action.READ_SITES))
def sites_load(me: Me, platform: PlatformDep) -> list[dict[str, Any]]:
    """Every site: queue, swabs/min (per open and per staffed window), time per sample
    p50/p90, and the wait for someone arriving now."""
    return platform.lanes.load(me)


@router.get("/sites/{site_id}/load", tags=["sampling"], openapi_extra=acts(Action.READ_SITES))
def site_load(me: Me, platform: PlatformDep, site_id: str) -> dict[str, Any]:
    got = platform.lanes.load(me, [site_id])
    if not got:
        raise NotFound("no such site", code="unknown_site", field="site_id")
    return got[0]


# -- door-to-door teams --------------------------------------------------------------------------

class AssignIn(Strict):
    zone_id: str | None = Field(default=None, max_length=40)
    person_ids: list[Id] = Field(default_factory=list, max_length=100_000)
    household_pool: bool = True
    note: Note = None


@router.post("/door-teams/{site_id}/assignments", tags=["door-to-door"], status_code=201,
             openapi_extra=acts(Action.ASSIGN_TEAM))
def assign_team(me: Me, platform: PlatformDep, site_id: str, body: AssignIn) -> dict[str, Any]:
    return platform.teams.assign(me, site_id, zone_id=body.zone_id, person_ids=body.person_ids,
                                 household_pool=body.household_pool, note=body.note)


@router.get("/door-teams/{site_id}/route", tags=["door-to-door"],
            openapi_extra=acts(Action.READ_TEAM_ROUTE))
def team_route(me: Me, platform: PlatformDep, site_id: str) -> dict[str, Any]:
    return platform.teams.route(me, site_id)


class VisitIn(Strict):
    event_id: str = Field(min_length=1, max_length=36)
    barcode: str = Field(min_length=1, max_length=40)
    at: Instant
    scanned: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=20,
        description="the sampling code (HS1:...) or resident ID number scanned for each "
                    "member sampled")
    single_barcodes: dict[Id, Annotated[str, Field(max_length=40)]] = Field(
        default_factory=dict, max_length=20)


@router.post("/door-teams/{site_id}/households/{household_id}/visit", tags=["door-to-door"],
             openapi_extra=acts(Action.VISIT_HOUSEHOLD))
def visit_household(me: Me, platform: PlatformDep, site_id: str, household_id: str,
                    body: VisitIn) -> dict[str, Any]:
    """One tube per household (一户一管): open, fill with the household, seal."""
    return platform.teams.visit_household(me, site_id, body.event_id, household_id,
                                          body.barcode, body.at, scanned=body.scanned,
                                          single_barcodes=body.single_barcodes)


# -- teams, staff, shifts ------------------------------------------------------------------------

PlaceKindLit = Literal["site", "checkpoint", "region"]


class TeamIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    kind: TeamKind
    place_kind: PlaceKindLit
    place_id: Id


class MoveIn(Strict):
    to_kind: PlaceKindLit
    to_id: Id
    note: Note = None


class StaffIn(Strict):
    name: str = Field(min_length=1, max_length=60)
    role: StaffRole
    team_id: str | None = Field(default=None, max_length=40)


class ShiftStartIn(Strict):
    staff_id: Id
    place_kind: PlaceKindLit = "site"
    place_id: Id
    window: int | None = Field(default=None, ge=1, le=50)
    at: Instant | None = None


class ShiftEndIn(Strict):
    staff_id: Id
    at: Instant | None = None


@router.post("/teams", tags=["staff"], status_code=201, openapi_extra=acts(Action.MANAGE_TEAMS))
def add_team(me: Me, platform: PlatformDep, body: TeamIn) -> dict[str, str]:
    return {"id": platform.teams.add_team(me, body.name, body.kind, body.place_kind,
                                          body.place_id)}


@router.get("/teams", tags=["staff"], openapi_extra=acts(Action.READ_TEAMS))
def list_teams(me: Me, platform: PlatformDep) -> list[dict[str, Any]]:
    return platform.teams.teams(me)


@router.post("/teams/{team_id}/move", tags=["staff"], openapi_extra=acts(Action.MANAGE_TEAMS))
def move_team(me: Me, platform: PlatformDep, team_id: str, body: MoveIn) -> dict[str, Any]:
    """Move a team to a site, a checkpoint (支援交通卡口) or a district."""
    return platform.teams.move_team(me, team_id, body.to_kind, body.to_id, body.note)


@router.post("/staff", tags=["staff"], status_code=201, openapi_extra=acts(Action.REGISTER_STAFF))
def add_staff(me: Me, platform: PlatformDep, body: StaffIn) -> dict[str, str]:
    return {"id": platform.teams.add_staff(me, body.name, body.role, body.team_id)}


@router.post("/shifts/start", tags=["staff"], status_code=201,
             openapi_extra=acts(Action.MANAGE_SHIFTS))
def start_shift(me: Me, platform: PlatformDep, body: ShiftStartIn) -> dict[str, str]:
    return {"id": platform.teams.start_shift(me, body.staff_id, body.place_kind, body.place_id,
                                             body.window, body.at)}


@router.post("/shifts/end", tags=["staff"], openapi_extra=acts(Action.MANAGE_SHIFTS))
def end_shift(me: Me, platform: PlatformDep, body: ShiftEndIn) -> dict[str, str]:
    platform.teams.end_shift(me, body.staff_id, body.at)
    return {"status": "ended"}


@router.get("/shifts/board/{place_id}", tags=["staff"], openapi_extra=acts(Action.READ_SITE_BOARD))
def shift_board(me: Me, platform: PlatformDep, place_id: str) -> dict[str, Any]:
    """Who is on, since when, when each must rotate and why; staffed windows."""
    return platform.teams.board(me, place_id)
