"""People-facing pages: the resident's own page, the venue check, the grid worker's and health
officer's area, and an officer's view of one person.

- Resident (``/web/me``): the sampling code as a big QR (kept by the service worker, so it opens
  without network once loaded), the status with its reasons in plain words and what to do next
  (``services.explain``), results history and recalls, the nearest open sites; the signed pass
  as a QR on its own page (``/web/me/pass``: each view issues a fresh, short-lived pass).
- Venue (``/web/venue``): paste or scan a pass (a hand scanner types it), see valid/invalid,
  colour, masked name, why (a checkpoint's device is sent to ``/web/checkpoint``).
- Area (``/web/area``): people by status in my area, open and overdue recalls, exemptions, late
  alerts and the two-officer override requests (health officers decide them here).
- Person (``/web/people/{id}``): status, reasons, history; an officer sets an exemption or asks
  for an override (a second, different officer approves it on the area page).

Imports: FastAPI/Starlette, ``hesuan.domain``, ``hesuan.services``, the web package.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.errors import InvalidInput, NotFound
from hesuan.domain.fence import PlaceKind
from hesuan.domain.local_time import as_local, local
from hesuan.domain.people import IdKind, mask_name
from hesuan.domain.regions import LEVEL_CODE_LENGTH, Level
from hesuan.domain.status import Colour
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.web.fence_routes import own_checkpoint
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, redirect, render
from hesuan.entrypoints.web.session import platform_of
from hesuan.entrypoints.web.snapshots import snapshots
from hesuan.services.explain import explain
from hesuan.services.fence import ScanInput

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)



def _lang(request: Request) -> str:
    return "en" if request.cookies.get("hs_lang") == "en" else "zh"


def _svg(data: bytes) -> Markup:
    """A QR code rendered by the platform (segno) as inline SVG markup."""
    body = data.decode()
    start = body.find("<svg")
    return Markup(body[start:] if start >= 0 else body)


def _resident_id(me: Principal) -> str:
    if me.role is not Role.RESIDENT or not me.scope:
        raise NotFound("only a resident account has its own page", code="wrong_role")
    return me.scope


def _status_view(request: Request, me: Principal, person_id: str) -> dict[str, Any]:
    platform = platform_of(request)
    read = platform.status.status_of(me, person_id)
    return {"explained": explain(read, _lang(request)), "info": read}


# -- resident ------------------------------------------------------------------------------


@router.get("/web/me", openapi_extra=acts(Action.READ_PERSON))
def my_page(request: Request, me: WebMe) -> Response:
    platform = platform_of(request)
    pid = _resident_id(me)
    person = platform.people.get(me, pid)
    view = _status_view(request, me, pid)
    history = platform.people.history(me, pid)
    code = _svg(platform.people.sampling_code_image(me, pid, "svg"))
    sites = platform.places.nearby_open(me, pid)
    waits = {x.site_id: x for x in platform.lanes.load(me, [x.site.id for x in sites])}
    return render(request, "me.html", me, person=person, masked=mask_name(person.name), code=code,
                  history=history, sites=sites, waits=waits, **view)


@router.get("/web/me/pass", openapi_extra=acts(Action.ISSUE_PASS))
def my_pass(request: Request, me: WebMe) -> Response:
    platform = platform_of(request)
    pid = _resident_id(me)
    issued = platform.passes.issue_details(me, pid)
    qr = _svg(platform.deps.qr.render(issued.text, "svg", 4))
    return render(request, "pass.html", me, issued=issued, qr=qr)


# -- venue ---------------------------------------------------------------------------------


def _venue_page(request: Request, me: Principal, **extra: Any) -> Response:
    """A venue account records the four checks at its door; other roles may check a pass."""
    platform = platform_of(request)
    venue, checks = None, []
    if me.role is Role.VENUE and me.scope:
        venue = next(iter(platform.venues.venues(me)), None)
        if venue is not None:
            checks = platform.venues.recent_checks(me, me.scope, 20)
    return render(request, "venue.html", me, venue=venue, checks=checks,
                  retention_days=platform.settings.venue_retention.days,
                  text=extra.pop("text", ""), **extra)


@router.get("/web/venue", openapi_extra=acts(Action.CHECK_PASS))
def venue_page(request: Request, me: WebMe) -> Response:
    if own_checkpoint(request, me) is not None:  # a checkpoint's device has its own page
        return redirect("/web/checkpoint")
    return _venue_page(request, me)


@router.post("/web/venue", openapi_extra=acts(Action.CHECK_PASS))
def venue_verify(request: Request, me: WebMe, form: SignedForm) -> Response:
    if own_checkpoint(request, me) is not None:
        return redirect("/web/checkpoint")
    platform = platform_of(request)
    value = text(form, "pass", max_len=4096)
    try:
        if not value:
            raise InvalidInput("paste or scan a pass", code="missing_field", field="pass")
        if me.role is Role.VENUE and me.scope:
            temperature = text(form, "temperature", max_len=6) or "36.5"
            try:
                temp = float(temperature)
            except ValueError:
                raise InvalidInput("temperature must be a number (°C)",
                                   code="bad_temperature", field="temperature") from None
            check = platform.venues.check(me, me.scope, value, temp,
                                          mask_ok=form.get("mask") == "1",
                                          certificate_ok=form.get("certificate") == "1")
            verdict = platform.passes.verify(me, value)
            # the same scan feeds the fence rules (a red person out and about, someone who
            # must stay in a zone, an arrival who missed the follow-up): the grid is alerted
            scan = platform.fence.scan(me, [ScanInput(
                str(uuid.uuid4()), PlaceKind.VENUE, me.scope, platform.deps.clock.now(),
                pass_text=value)])[0]
            return _venue_page(request, me, verdict=verdict, check=check,
                               alerted=len(scan.alerts))
        verdict = platform.passes.verify(me, value)
    except FORM_ERRORS as exc:
        return _venue_page(request, me, text=value, error=error_text(request, exc))
    return _venue_page(request, me, verdict=verdict)


# -- area (grid worker, health officer) ----------------------------------------------------


@router.get("/web/area", openapi_extra=acts(Action.READ_STATUS_COUNTS))
def area_page(request: Request, me: WebMe, msg: str | None = None,
              fresh: bool = False) -> Response:
    platform = platform_of(request)
    w = platform.worklists
    counts = snapshots(request).get(me, "counts",
                                    lambda: w.status_counts(me), fresh=fresh)
    recalls = w.recalls(me)
    exemptions = w.exemptions(me)
    level = _level_below(me.scope)
    coverage = snapshots(request).get(
        me, "coverage",
        lambda: platform.analytics.coverage(me, level=level), fresh=fresh)
    parts = [r for r in coverage.rows(level) if r.code != me.scope]
    officer = me.role in (Role.HEALTH_OFFICER, Role.ADMIN)
    overrides = platform.status.pending_overrides(me) if officer else []
    alerts = platform.alerts.list(me) if officer else []
    return render(request, "area.html", me, counts=counts, coverage=coverage, parts=parts,
                  recalls=recalls,
                  exemptions=exemptions, overrides=overrides, alerts=alerts, officer=officer,
                  msg=msg)


def _level_below(scope: str | None) -> Level:
    """The level an area is broken down by on its page: a city by district, a district by
    street, a street by community, a community (or a grid) by grid."""
    n = len(scope or "")
    for level in (Level.DISTRICT, Level.STREET, Level.COMMUNITY):
        if n < LEVEL_CODE_LENGTH[level]:
            return level
    return Level.GRID


@router.post("/web/area/find", openapi_extra=acts(Action.FIND_PERSON))
def area_find(request: Request, me: WebMe, form: SignedForm) -> Response:
    platform = platform_of(request)
    try:
        kind = IdKind(text(form, "id_kind") or "resident")
    except ValueError:
        kind = IdKind.RESIDENT
    try:
        pid = platform.people.find_by_id_number(me, kind, text(form, "id_number", max_len=40))
    except FORM_ERRORS as exc:
        return redirect(f"/web/area?msg={exc.code}")
    return redirect(f"/web/people/{pid}")


@router.post("/web/overrides/{override_id}/{decision}", openapi_extra=acts(Action.DECIDE_OVERRIDE))
def decide_override(request: Request, me: WebMe, form: SignedForm, override_id: str,
                    decision: str) -> Response:
    if decision not in ("approve", "reject"):
        raise NotFound("no such decision", code="not_found")
    try:
        platform_of(request).status.decide_override(me, override_id, decision == "approve")
    except FORM_ERRORS as exc:
        return redirect(f"/web/area?msg={exc.code}")
    return redirect(f"/web/area?msg=override_{decision}d")


# -- one person (officer, grid worker) -----------------------------------------------------


def _person_page(request: Request, me: Principal, person_id: str, **extra: Any) -> Response:
    platform = platform_of(request)
    if me.role is Role.RESIDENT and me.scope == person_id:
        return redirect("/web/me")
    person = platform.people.get(me, person_id)
    view = _status_view(request, me, person_id)
    history = platform.people.history(me, person_id)
    now = local(platform.deps.clock.now())
    return render(request, "person.html", me, person=person, history=history,
                  officer=me.role in (Role.HEALTH_OFFICER, Role.ADMIN),
                  default_until=(now + timedelta(days=7)).strftime("%Y-%m-%d"),
                  colours=[c.value for c in Colour], **view, **extra)


@router.get("/web/people/{person_id}", openapi_extra=acts(Action.READ_PERSON))
def person_page(request: Request, me: WebMe, person_id: str) -> Response:
    return _person_page(request, me, person_id)


def _local_date(value: str, field: str) -> datetime:
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise InvalidInput(f"{field} must be a date (YYYY-MM-DD)", code="bad_until",
                           field=field) from None
    return as_local(day.replace(hour=23, minute=59))


def _local_datetime(value: str, field: str) -> datetime:
    try:
        t = datetime.strptime(value, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise InvalidInput(f"{field} must be a date and time", code="bad_expiry",
                           field=field) from None
    return as_local(t)


@router.post("/web/people/{person_id}/exemption", openapi_extra=acts(Action.SET_EXEMPTION))
def add_exemption(request: Request, me: WebMe, form: SignedForm, person_id: str) -> Response:
    try:
        platform_of(request).status.exempt(
            me, person_id, text(form, "reason", max_len=20),
            _local_date(text(form, "until", max_len=10), "until"),
            text(form, "note", max_len=200) or None)
    except FORM_ERRORS as exc:
        return _person_page(request, me, person_id, error=error_text(request, exc))
    return _person_page(request, me, person_id, done="exemption")


@router.post("/web/exemptions/{exemption_id}/revoke", openapi_extra=acts(Action.REVOKE_EXEMPTION))
def revoke_exemption(request: Request, me: WebMe, form: SignedForm,
                     exemption_id: str) -> Response:
    person_id = text(form, "person_id", max_len=32)
    try:
        platform_of(request).status.revoke_exemption(me, exemption_id)
    except FORM_ERRORS as exc:
        return _person_page(request, me, person_id, error=error_text(request, exc))
    return _person_page(request, me, person_id, done="exemption_revoked")


@router.post("/web/people/{person_id}/override", openapi_extra=acts(Action.REQUEST_OVERRIDE))
def request_override(request: Request, me: WebMe, form: SignedForm, person_id: str) -> Response:
    try:
        colour = Colour(text(form, "colour", max_len=10))
    except ValueError:
        colour = Colour.YELLOW
    try:
        platform_of(request).status.request_override(
            me, person_id, colour, text(form, "reason", max_len=200),
            text(form, "legal_basis", max_len=200),
            _local_datetime(text(form, "expires_at", max_len=16), "expires_at"))
    except FORM_ERRORS as exc:
        kept = {k: text(form, k, max_len=200) for k in ("colour", "reason", "legal_basis",
                                                          "expires_at")}
        return _person_page(request, me, person_id, error=error_text(request, exc),
                            override_form=kept)
    return _person_page(request, me, person_id, done="override_requested")
