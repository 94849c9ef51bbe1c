"""HTTP routes of places: regions (upserted in bulk), sampling sites and labs, listed and
added.

Imports: FastAPI, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from fastapi import APIRouter

from hesuan.domain.access import Action
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api import schemas as s
from hesuan.entrypoints.api.deps import Me, PlatformDep
from hesuan.services.people_ports import LabRow, SiteRow
from hesuan.services.places import LabInput, RegionInput, SiteInput

__all__ = ["router"]

router = APIRouter(tags=["places"])


@router.post("/regions", openapi_extra=acts(Action.DEFINE_REGIONS))
def add_regions(me: Me, platform: PlatformDep, body: s.RegionsIn) -> dict[str, int]:
    n = platform.places.add_regions(me, [RegionInput(r.code, r.level, r.name, r.parent_code)
                                         for r in body.regions])
    return {"upserted": n}


@router.get("/sites", openapi_extra=acts(Action.READ_SITES))
def list_sites(me: Me, platform: PlatformDep) -> list[SiteRow]:
    return platform.places.sites()


@router.post("/sites", status_code=201, openapi_extra=acts(Action.CREATE_SITE))
def add_site(me: Me, platform: PlatformDep, body: s.SiteIn) -> s.Created:
    return s.Created(id=platform.places.add_site(me, SiteInput(
        name=body.name, kind=body.kind, region_code=body.region_code,
        opening_hours=body.opening_hours, windows=body.windows, lat=body.lat, lng=body.lng)))


@router.get("/labs", openapi_extra=acts(Action.READ_LABS))
def list_labs(me: Me, platform: PlatformDep) -> list[LabRow]:
    return platform.places.labs(me)


@router.post("/labs", status_code=201, openapi_extra=acts(Action.CREATE_LAB))
def add_lab(me: Me, platform: PlatformDep, body: s.LabIn) -> s.Created:
    return s.Created(id=platform.places.add_lab(me, LabInput(body.name, body.region_code,
                                                             body.daily_capacity)))
