"""HTTP routes of the lanes: a station's ordered batch in two-lane mode, and the load of every
site (queue, swabs per minute, the wait). Thin: parse → service → render.

Imports: FastAPI, pydantic, ``hesuan.entrypoints.api``, ``hesuan.services``, ``hesuan.domain``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from hesuan.domain.access import Action
from hesuan.domain.errors import NotFound
from hesuan.entrypoints.actions import acts
from hesuan.entrypoints.api.batch_body import json_body, read_items, validated
from hesuan.entrypoints.api.deps import Me, PlatformDep, current_principal, platform_of
from hesuan.entrypoints.api.schemas import Id, Instant, Strict
from hesuan.services.lanes import LaneEvent, SiteLoadNow
from hesuan.services.sampling import EventOutcome

__all__ = ["router"]

router = APIRouter(tags=["sampling"])

class LaneEventIn(Strict):
    event_id: str = Field(min_length=1, max_length=45,
                          description="client-made UUID, any spelling (canonical: lower-case "
                                      "8-4-4-4-12)")
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


def _event(e: LaneEventIn) -> LaneEvent:
    return LaneEvent(e.event_id, e.kind, e.site_id, e.at, e.barcode, e.code, e.window, e.mode,
                     e.box_code)


def _read(raw: bytes) -> list[LaneEvent | EventOutcome]:
    return read_items(raw, LaneBatchIn, LaneEventIn, _event)


@router.post("/lanes/batch", openapi_extra=json_body(LaneBatchIn)
             | acts(Action.RECORD_STATION_EVENTS))
async def lanes_batch(request: Request) -> dict[str, Any]:
    """A station's ordered batch in two-lane mode: ``register`` (bind a person to the next
    tube), ``swab`` (a person, by code, or a whole tube, by barcode), and the spine's events;
    a malformed item is rejected alone, in its place."""
    me = await current_principal(request)
    items = validated(_read, await request.body())
    done = iter(await run_in_threadpool(platform_of(request).lanes.submit, me,
                                        [e for e in items if isinstance(e, LaneEvent)]))
    out = [next(done) if isinstance(e, LaneEvent) else e for e in items]
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for o in out:
        counts[o.status] += 1
    return counts | {"results": [asdict(o) for o in out]}


@router.get("/sites/load", openapi_extra=acts(Action.READ_SITES))
def sites_load(me: Me, platform: PlatformDep) -> list[SiteLoadNow]:
    """Every site: queue, swabs/min (per open and per staffed window), time per sample
    p50/p90, and the wait for someone arriving now."""
    return platform.lanes.load(me)


@router.get("/sites/{site_id}/load", openapi_extra=acts(Action.READ_SITES))
def site_load(me: Me, platform: PlatformDep, site_id: str) -> SiteLoadNow:
    got = platform.lanes.load(me, [site_id])
    if not got:
        raise NotFound("no such site", code="unknown_site", field="site_id")
    return got[0]
