"""The ground-level organisation (issue 5) on the web: the grid worker's roster of outstanding
people, fence alerts, and zones.

- Roster (``/web/roster``): who is outstanding (or sampled, exempt, due) in my grid — or, for an
  officer, in an area they choose — with masked names, address, household, masked phone
  (revealed on demand, audited), colour, zone and the last outcome; one tap records "reached /
  refused / away / needs door-to-door"; the Excel workbook to print (``RosterService``).
- Alerts (``/web/alerts``): fence alerts of my grid or region (who, what rule, where, when),
  acknowledged and closed with an outcome (``FenceService``).
- Zones (``/web/zones``): active and scheduled zones with their rules and people; an officer
  designates one from areas picked in the hierarchy (districts and streets listed, any code
  typed) or drawn on the district map, extends or lifts it (``ZoneService``).

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
from hesuan.domain.fence import AlertOutcome
from hesuan.domain.local_time import as_local, local
from hesuan.domain.regions import Level
from hesuan.domain.rosters import Outcome
from hesuan.domain.zones import ZoneKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, redirect, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.entrypoints.web.snapshots import snapshots
from hesuan.services.zones import ZoneInput, parse_area, zone_view

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_WHICH = ("outstanding", "exempt", "sampled", "due")


def _region(me: Principal, asked: str | None) -> str | None:
    """The area of a roster: the grid worker's grid; for an officer the area they ask for
    (a region code), else their own region."""
    if me.role is Role.GRID_WORKER:
        return me.scope
    if asked and asked.isdigit() and len(asked) <= 15:
        return asked
    return me.scope


# -- roster --------------------------------------------------------------------------------


def _roster_page(request: Request, me: Principal, region: str | None, which: str,
                 **extra: Any) -> Response:
    platform = platform_of(request)
    people: dict[str, Any] | None = None
    error = extra.pop("error", None)
    try:
        if region and len(region) >= 9:  # a community or a grid: a list one can walk
            people = platform.rosters.people(me, region=region, which=which, limit=500)
    except FORM_ERRORS as exc:
        error = error_text(request, exc)
    coverage = snapshots(request).get(
        me, f"roster-coverage:{region}",
        lambda: platform.rosters.coverage(me, region=region, level=Level.GRID))
    return render(request, "roster.html", me, region=region, which=which, whiches=_WHICH,
                  people=people, coverage=coverage, error=error, **extra)


@router.get("/web/roster", openapi_extra=acts(Action.READ_ROSTER))
def roster_page(request: Request, me: WebMe, region: str | None = None,
                which: str = "outstanding") -> Response:
    return _roster_page(request, me, _region(me, region),
                        which if which in _WHICH else "outstanding")


@router.post("/web/roster/{person_id}/outcome", openapi_extra=acts(Action.RECORD_ROSTER_OUTCOME))
def roster_outcome(request: Request, me: WebMe, form: SignedForm, person_id: str) -> Response:
    region = _region(me, text(form, "region", max_len=15))
    try:
        outcome = Outcome(text(form, "outcome", max_len=20))
    except ValueError:
        raise InvalidInput("outcome: choose one", code="bad_reason", field="outcome") from None
    platform_of(request).rosters.record_outcome(me, person_id, outcome,
                                                text(form, "note", max_len=200) or None)
    return redirect(f"/web/roster?region={region or ''}&which="
                    f"{text(form, 'which', max_len=12) or 'outstanding'}#p-{person_id}")


@router.post("/web/roster/{person_id}/phone", openapi_extra=acts(Action.REVEAL_PHONE))
def roster_phone(request: Request, me: WebMe, form: SignedForm, person_id: str) -> Response:
    region = _region(me, text(form, "region", max_len=15))
    phone = platform_of(request).rosters.reveal_phone(me, person_id)
    which = text(form, "which", max_len=12) or "outstanding"
    return _roster_page(request, me, region, which if which in _WHICH else "outstanding",
                        revealed={"person_id": person_id, "phone": phone})


@router.get("/web/roster.xlsx", openapi_extra=acts(Action.READ_ROSTER))
def roster_xlsx(request: Request, me: WebMe, region: str | None = None) -> Response:
    area = _region(me, region)
    data = platform_of(request).rosters.export_xlsx(me, region=area)
    name = f"roster-{area or 'city'}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store"})


# -- fence alerts --------------------------------------------------------------------------


@router.get("/web/alerts", openapi_extra=acts(Action.READ_FENCE_ALERTS))
def alerts_page(request: Request, me: WebMe, closed: bool = False) -> Response:
    statuses = ("open", "acknowledged", "closed") if closed else ("open", "acknowledged")
    alerts = platform_of(request).fence.alerts(me, statuses=statuses)
    return render(request, "alerts.html", me, alerts=alerts, closed=closed,
                  outcomes=[o.value for o in AlertOutcome])


@router.post("/web/alerts/{alert_id}/{action}", openapi_extra=acts(Action.HANDLE_FENCE_ALERT))
def alert_action(request: Request, me: WebMe, form: SignedForm, alert_id: str,
                 action: str) -> Response:
    fence = platform_of(request).fence
    note = text(form, "note", max_len=200) or None
    if action == "acknowledge":
        fence.acknowledge(me, alert_id, note)
    elif action == "close":
        try:
            outcome = AlertOutcome(text(form, "outcome", max_len=20))
        except ValueError:
            raise InvalidInput("outcome: choose one", code="bad_reason",
                               field="outcome") from None
        fence.close(me, alert_id, outcome, note)
    else:
        raise NotFound("no such action", code="not_found")
    return redirect(f"/web/alerts#a-{alert_id}")


# -- zones ---------------------------------------------------------------------------------


def _zones_page(request: Request, me: Principal, **extra: Any) -> Response:
    platform = platform_of(request)
    zones = [zone_view(z) for z in platform.zones.list_zones(me)]
    officer = me.role in (Role.HEALTH_OFFICER, Role.ADMIN)
    hierarchy = None
    if officer:
        cov = snapshots(request).get(
            me, "hierarchy",
            lambda: platform.analytics.coverage(me, level=Level.STREET))
        hierarchy = [{"code": d["code"], "name": d["name"],
                      "streets": [s for s in cov["streets"] if s["parent_code"] == d["code"]]}
                     for d in cov["districts"]]
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
