"""The sampling station (采样): open a tube, scan people into it, seal it, pack tubes into a box
and seal the box — from the keyboard or a hand scanner, with instant feedback.

In the browser, ``station.js`` turns each scan into a station event with a UUID and the
station's time, keeps it in IndexedDB, and syncs the queue to ``POST /web/station/events.json``
(the same service call as ``POST /scans/batch``): offline, scans queue and sync when the network
returns; a double sync is harmless because the service answers a replayed event as a duplicate.
Without JavaScript the same page works as a plain form, one scan per request.

Imports: FastAPI, ``hesuan.domain``, ``hesuan.services``, ``hesuan.entrypoints``.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, replace
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from hesuan.domain.access import Action, Principal, Role
from hesuan.domain.errors import HesuanError, NotFound
from hesuan.domain.sampling import SiteKind
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.station_path import read_batch
from hesuan.entrypoints.errors import status_for
from hesuan.entrypoints.web.forms import SignedForm, WebMe, text, whole_number
from hesuan.entrypoints.web.render import FORM_ERRORS, WebRoute, error_text, render
from hesuan.entrypoints.web.session import check_csrf, platform_of
from hesuan.entrypoints.web.station import StationState, interpret
from hesuan.services.sampling import EventKind, StationEvent, TubeView

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _site_id(me: Principal) -> str:
    if me.role not in (Role.SAMPLER, Role.SITE_LEAD) or not me.scope:
        raise NotFound("the sampling station is for samplers and site leads of a site",
                       code="wrong_role")
    return me.scope


def _page(request: Request, me: Principal, state: StationState | None = None,
          feedback: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    overview = platform_of(request).worklists.site_overview(me, _site_id(me))
    site = overview.site
    if state is None:
        single = SiteKind(site.kind).single_tubes_only
        state = StationState(mode=1 if single else 10)
    return render(request, "station.html", me, status_code=status_code, site=site,
                  overview=overview.day, state=state, feedback=feedback,
                  event_id=str(uuid.uuid4()), reopen_id=str(uuid.uuid4()),
                  modes=(1, 5, 10, 20))


@router.get("/web/station", openapi_extra=acts(Action.READ_SITE_QUEUE))
def station_page(request: Request, me: WebMe) -> Response:
    return _page(request, me)


def _int(value: str, default: int | None) -> int | None:
    n = whole_number(value)
    return default if n is None else n


@router.post("/web/station", openapi_extra=acts(Action.RECORD_STATION_EVENTS))
def station_form(request: Request, me: WebMe, form: SignedForm) -> Response:
    """One scan or one button, without JavaScript."""
    site_id = _site_id(me)
    platform = platform_of(request)
    state = StationState(tube=text(form, "tube", max_len=13), box=text(form, "box", max_len=12),
                         mode=_int(text(form, "mode"), 10) or 10,
                         window=_int(text(form, "window"), None))
    action = text(form, "action") or "scan"
    now = platform.deps.clock.now()
    eid = text(form, "event_id", max_len=36) or str(uuid.uuid4())
    feedback: dict[str, Any]
    try:
        if action == "seal_tube" and state.tube:
            event: StationEvent | None = StationEvent(eid, EventKind.SEAL_TUBE, site_id, now,
                                                      barcode=state.tube, window=state.window)
            after = replace(state, tube="")
        elif action == "seal_box" and state.box:
            event = StationEvent(eid, EventKind.SEAL_BOX, site_id, now, box_code=state.box)
            after = replace(state, box="")
        elif action == "leave_box":
            event, after = None, replace(state, box="")
        else:
            event, after = interpret(text(form, "scan", max_len=200), state, site_id, now, eid)
        if event is None and after.box:
            platform.sampling.box_to_pack(me, site_id, after.box)
            feedback = {"ok": True, "kind": "box_started"}
        elif event is None:
            feedback = {"ok": True, "kind": "box_left"}
        else:
            out = platform.sampling.submit(me, [event])[0]
            if out.status == "rejected":
                feedback = {"ok": False, "message": error_text(
                    request, HesuanError(out.message or "", code=out.reason, field=out.field))}
                after = state
            else:
                feedback = {"ok": True, "kind": event.kind.value, "outcome": asdict(out)}
                if event.kind is EventKind.SAMPLE and not (
                        isinstance(out.tube, TubeView) and out.tube.status == "open"):
                    after = replace(after, tube="")  # full: it sealed itself
        state = after
    except FORM_ERRORS as exc:
        feedback = {"ok": False, "message": error_text(request, exc)}
    return _page(request, me, state, feedback)


@router.post("/web/station/reopen", openapi_extra=acts(Action.RECORD_STATION_EVENTS))
def station_reopen(request: Request, me: WebMe, form: SignedForm) -> Response:
    """A sealed box of the site opened again to be put right (its count refused at the
    hand-over), with the tubes its record holds that are not in it taken out; the station
    then packs into it, and seals it again as any box."""
    _site_id(me)
    platform = platform_of(request)
    code = text(form, "box_code", max_len=40).strip().upper()
    take_out = text(form, "take_out", max_len=2000).replace(",", " ").split()
    try:
        done = platform.delivery.reopen(me, text(form, "event_id", max_len=36)
                                        or str(uuid.uuid4()), code, platform.deps.clock.now(),
                                        take_out=take_out)
    except FORM_ERRORS as exc:
        return _page(request, me, feedback={"ok": False, "message": error_text(request, exc)})
    return _page(request, me, StationState(box=done.box_code),
                 {"ok": True, "kind": "box_reopened", "reopened": asdict(done)})


# the body is read here, as a batch (``read_batch``); declared as JSON so that a body sent as
# anything else is refused first (``RequireJson``)
_JSON_BATCH = {"requestBody": {"required": True, "content": {"application/json": {}}}}


@router.post("/web/station/events.json",
             openapi_extra=_JSON_BATCH | acts(Action.RECORD_STATION_EVENTS))
async def station_sync(request: Request, me: WebMe,
                       x_csrf_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """The station's queue, in order: each event accepted, duplicate or rejected with a reason
    (and the reason in plain words in the page's language). Read as ``POST /scans/batch``
    reads a batch: a malformed item is rejected in its place, so one bad scan never blocks the
    queue behind it."""
    check_csrf(request, x_csrf_token)
    try:
        items = read_batch(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None
    done = iter(await run_in_threadpool(platform_of(request).sampling.submit, me,
                                        [e for e in items if isinstance(e, StationEvent)]))
    results = []
    for o in (next(done) if isinstance(e, StationEvent) else e for e in items):
        item = asdict(o)
        if o.status == "rejected":
            item["text"] = error_text(request, HesuanError(o.message or "", code=o.reason,
                                                           field=o.field))
        results.append(item)
    return {"results": results}


@router.get("/web/station/boxes/{box_code}.json",
            openapi_extra=acts(Action.RECORD_STATION_EVENTS))
def station_box(request: Request, me: WebMe, box_code: str) -> Response:
    """Asked by the station when a box is scanned, before packing starts: the box and its
    tubes, or why this station may not pack it (another site's box, a sealed box) with the
    reason in the page's words."""
    try:
        box = platform_of(request).sampling.box_to_pack(me, _site_id(me), box_code)
    except FORM_ERRORS as exc:
        return JSONResponse({"error": exc.as_dict(), "text": error_text(request, exc)},
                            status_code=status_for(exc), headers={"Cache-Control": "no-store"})
    return JSONResponse(asdict(box), headers={"Cache-Control": "no-store"})
