"""Zones on the web (``/web/zones``): active and scheduled zones with their rules and people; an
officer designates one from areas picked in the hierarchy (districts and streets listed, any
code typed) or drawn on the district map, extends or lifts it (``ZoneService``).

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.errors import InvalidInput, NotFound
from hesuan.domain.local_time import as_local, local
from hesuan.domain.regions import Level
from hesuan.domain.zones import ZoneKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, redirect, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.entrypoints.web.snapshots import snapshots
from hesuan.services.zones import ZoneInput, parse_area, zone_view

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _zones_page(request: Request, me: Principal, **extra: Any) -> Response:
    platform = platform_of(request)
    zones = [zone_view(z) for z in platform.zones.list_zones(me)]
    officer = me.role in (Role.HEALTH_OFFICER, Role.ADMIN)
    hierarchy = None
    if officer:
        cov = snapshots(request).get(
            me, "hierarchy",
            lambda: platform.analytics.coverage(me, level=Level.STREET))
        hierarchy = [{"code": d.code, "name": d.name,
                      "streets": [s for s in cov.streets if s.parent_code == d.code]}
                     for d in cov.districts]
    now = local(platform.deps.clock.now())
    return render(request, "zones.html", me, zones=zones, officer=officer,
                  hierarchy=hierarchy, kinds=[k.value for k in ZoneKind],
                  default_end=(now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"), **extra)


@router.get("/web/zones", openapi_extra=acts(Action.READ_ZONES))
def zones_page(request: Request, me: WebMe) -> Response:
    return _zones_page(request, me)


def _when(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return as_local(datetime.strptime(value, "%Y-%m-%dT%H:%M"))
    except ValueError:
        raise InvalidInput(f"{field} must be a date and time", code="bad_time",
                           field=field) from None


@router.post("/web/zones", openapi_extra=acts(Action.CHANGE_ZONES))
def designate_zone(request: Request, me: WebMe, form: SignedForm) -> Response:
    platform = platform_of(request)
    try:
        try:
            kind = ZoneKind(text(form, "kind", max_len=12))
        except ValueError:
            raise InvalidInput("kind: choose sealed, controlled or precaution",
                               code="bad_reason", field="kind") from None
        picked = [v for v in form.getlist("area") if isinstance(v, str) and v.strip()]
        typed = text(form, "areas", max_len=20_000).replace(",", "\n").split()
        polygon_text = text(form, "polygon", max_len=100_000)
        polygon = json.loads(polygon_text) if polygon_text else None
        zone = platform.zones.designate(me, ZoneInput(
            name=text(form, "name", max_len=100), kind=kind,
            areas=[parse_area(a) for a in [*picked, *typed]], polygon=polygon,
            planned_end=_when(text(form, "planned_end", max_len=16), "planned_end"),
            note=text(form, "note", max_len=200) or None))
    except json.JSONDecodeError:
        return _zones_page(request, me, error=error_text(
            request, InvalidInput("polygon is not GeoJSON", code="bad_polygon")))
    except FORM_ERRORS as exc:
        return _zones_page(request, me, error=error_text(request, exc))
    return _zones_page(request, me, done={"name": zone.name, "people": zone.people})


@router.post("/web/zones/{zone_id}/{action}", openapi_extra=acts(Action.CHANGE_ZONES))
def zone_action(request: Request, me: WebMe, form: SignedForm, zone_id: str,
                action: str) -> Response:
    zones = platform_of(request).zones
    try:
        if action == "lift":
            zones.lift(me, zone_id, text(form, "reason", max_len=200) or "lifted")
        elif action == "extend":
            zones.extend(me, zone_id, _when(text(form, "planned_end", max_len=16),
                                            "planned_end"))
        else:
            raise NotFound("no such action", code="not_found")
    except FORM_ERRORS as exc:
        return _zones_page(request, me, error=error_text(request, exc))
    return redirect("/web/zones")
