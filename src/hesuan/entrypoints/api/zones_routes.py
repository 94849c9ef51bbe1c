"""HTTP routes of zones: designate, list, export and import (GeoJSON), lift, extend, split and
shrink a sealed, controlled or precaution zone, and the region boundaries drawn beside them.
Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.domain.zones import Movement, SamplingMode, ZoneKind, ZoneRules, default_rules
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.entrypoints.api.schemas import Instant, Note, Strict
from hesuan.services.zones import ZoneInput, ZonePart, parse_area, zone_view

__all__ = ["router"]

router = APIRouter(tags=["zones"])

AreaText = Annotated[str, Field(min_length=6, max_length=56,
                                description="region code, or grid code/building")]


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


@router.post("/zones", status_code=201, openapi_extra=acts(Action.CHANGE_ZONES))
def designate_zone(me: Me, platform: PlatformDep, body: ZoneIn) -> dict[str, Any]:
    """Designate a sealed (封控), controlled (管控) or precaution (防范) zone; its people's
    status changes in this call when it starts now."""
    z = platform.zones.designate(me, ZoneInput(
        body.name, body.kind, [parse_area(a) for a in body.areas], body.polygon,
        body.starts_at, body.planned_end, _rules(body.kind, body.rules), body.note))
    return zone_view(z)


@router.get("/zones", openapi_extra=acts(Action.READ_ZONES))
def list_zones(me: Me, platform: PlatformDep, active_only: bool = True,
               region: Annotated[str, Query(max_length=15, pattern=r"^\d*$")] = "",
               ) -> list[dict[str, Any]]:
    return [zone_view(z) for z in platform.zones.list_zones(me, active_only=active_only,
                                                             region=region)]


@router.get("/zones.geojson", openapi_extra=acts(Action.READ_ZONES))
def export_zones(me: Me, platform: PlatformDep, active_only: bool = True) -> dict[str, Any]:
    return platform.zones.export_geojson(me, active_only=active_only)


@router.post("/zones/import", openapi_extra=acts(Action.CHANGE_ZONES))
def import_zones(me: Me, platform: PlatformDep,
                 body: Annotated[dict[str, Any], Body(description="FeatureCollection")],
                 ) -> list[dict[str, Any]]:
    return [o.answer() for o in platform.zones.import_geojson(me, body)]


@router.get("/zones/{zone_id}", openapi_extra=acts(Action.READ_ZONES))
def get_zone(me: Me, platform: PlatformDep, zone_id: str) -> dict[str, Any]:
    z, history = platform.zones.get(me, zone_id)
    return zone_view(z) | {"history": [asdict(e) for e in history], "geometry": z.geometry}


@router.post("/zones/{zone_id}/lift", openapi_extra=acts(Action.CHANGE_ZONES))
def lift_zone(me: Me, platform: PlatformDep, zone_id: str, body: LiftIn) -> dict[str, Any]:
    return zone_view(platform.zones.lift(me, zone_id, body.reason))


@router.post("/zones/{zone_id}/extend", openapi_extra=acts(Action.CHANGE_ZONES))
def extend_zone(me: Me, platform: PlatformDep, zone_id: str, body: ExtendIn) -> dict[str, Any]:
    return zone_view(platform.zones.extend(me, zone_id, body.planned_end))


@router.post("/zones/{zone_id}/split", openapi_extra=acts(Action.CHANGE_ZONES))
def split_zone(me: Me, platform: PlatformDep, zone_id: str,
               body: SplitIn) -> list[dict[str, Any]]:
    return [zone_view(z) for z in platform.zones.split(me, zone_id,
                                                       [_part(p) for p in body.parts])]


@router.post("/zones/{zone_id}/shrink", openapi_extra=acts(Action.CHANGE_ZONES))
def shrink_zone(me: Me, platform: PlatformDep, zone_id: str, body: PartIn) -> dict[str, Any]:
    return zone_view(platform.zones.shrink(me, zone_id, _part(body)))


@router.get("/regions/boundaries.geojson", openapi_extra=acts(Action.SIGNED_IN))
def export_boundaries(me: Me, platform: PlatformDep,
                      level: Annotated[int | None, Query(ge=2, le=15)] = 6) -> dict[str, Any]:
    """District (level 6) boundaries, or any level's, or grid centres (15)."""
    return platform.zones.export_boundaries(me, level=level)


@router.post("/regions/boundaries", openapi_extra=acts(Action.IMPORT_BOUNDARIES))
def import_boundaries(me: Me, platform: PlatformDep,
                      body: Annotated[dict[str, Any], Body(description="FeatureCollection")],
                      ) -> dict[str, int]:
    return {"imported": platform.zones.import_boundaries(me, body)}
